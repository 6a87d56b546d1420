"""Server-rendered web pages: station operator, courier handheld, villager, maintainer.

One blueprint; views are thin and call server/services/ (and the page query helpers in
server/web/queries.py). Register with `app.register_blueprint(server.web.bp)` in the app factory; `bp` and what every
page shares live in server/web/blueprint.py, below the views, which this package imports to register them.
"""
from server.web import (views_auth, views_commission, views_courier, views_fleet, views_station,  # noqa: F401
                        views_villager)
from server.web.blueprint import bp

__all__ = ["bp"]
