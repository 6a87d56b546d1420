"""What the web views need from the application: the database and the signed-in principal."""
from flask import current_app, g

from server.services.principals import Principal


def db():
    return current_app.extensions["cunbox_db"]


def principal():
    """The services' Principal for the signed-in user of this request."""
    u = g.user
    return Principal(u["role"], user_id=u["uid"], carrier_id=u["carrier_id"], station_id=u["station_id"])
