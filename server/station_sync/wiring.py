"""What create_app calls: the station sync schedule when configured (its API is server/api/station_sync.py)."""


def init_app(app, db):
    import server.models.station_sync  # noqa: F401  (maps the sync tables)
    from server.station_sync import schedule
    return schedule.init_app(app, db)
