"""What create_app calls: the station sync API blueprint, and the schedule when configured."""


def init_app(app, db):
    import server.models.station_sync  # noqa: F401  (maps the sync tables)
    from server.stations import api, schedule
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    return schedule.init_app(app, db)
