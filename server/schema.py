"""The one schema registry: every table of cunbox, whichever feature defines it.

All tables are in the domain package server/models/: the core in server/models/__init__.py, the
locker link's, firmware delivery's and station sync's in their own modules beside it, on the same
metadata. Importing this module maps them all: Alembic's env.py, create_app and the schema tests use
`metadata` from here, so autogenerate and the schema check see every table, not only those some
earlier import happened to load.
"""
from server.models import Base
from server.models import commissioning as _commissioning  # noqa: F401
from server.models import firmware_delivery as _firmware_delivery  # noqa: F401
from server.models import link as _link  # noqa: F401
from server.models import station_sync as _station_sync  # noqa: F401

metadata = Base.metadata
