"""The JSON API, version 1, under /api/v1. One blueprint per audience; errors from one place."""


def register(app):
    from server.api import auth, couriers, errors, lockers, meta, parcels, pickup, stations
    errors.register(app)
    for module in (meta, auth, couriers, parcels, stations, lockers, pickup):
        app.register_blueprint(module.bp, url_prefix="/api/v1")
