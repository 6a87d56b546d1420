"""The one schema registry: every table of cunbox, whichever feature defines it.

Core tables live in server/models.py; the locker link, firmware delivery and station sync keep theirs
beside their code, on the same metadata. Importing this module maps them all: Alembic's env.py,
create_app and the schema tests use `metadata` from here, so autogenerate and the schema check see
every table, not only those some earlier import happened to load.
"""
from server.firmware import models as _firmware_models  # noqa: F401
from server.link import models as _link_models  # noqa: F401
from server.models import Base
from server.stations import models as _station_models  # noqa: F401

metadata = Base.metadata
