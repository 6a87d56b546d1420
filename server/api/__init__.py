"""The JSON API, version 1, under /api/v1. One blueprint per audience; errors from one place
(server/api/errors.py, installed for every /api/ path by the app factory)."""


def register(app):
    from werkzeug.routing import IntegerConverter

    from server.api import auth, couriers, firmware, lockers, meta, parcels, pickup, station_sync, stations
    from server.api.common import ID_MAX

    class BoundedInt(IntegerConverter):
        """<int:...> ids beyond the database's INTEGER are no match (404), never a 500."""

        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", ID_MAX)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = BoundedInt
    # firmware: releases and rollouts (firmware delivery); station_sync: the station systems' feed
    for module in (meta, auth, couriers, parcels, stations, lockers, pickup, firmware, station_sync):
        app.register_blueprint(module.bp, url_prefix="/api/v1")
