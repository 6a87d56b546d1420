"""The in-server schedule: a background thread that syncs every configured station periodically.

Started by the app factory when an interval is configured (``STATION_SYNC_INTERVAL`` in the app
config, else the ``CUNBOX_STATION_SYNC_INTERVAL`` environment variable, in seconds); off when
neither is set, so tests never get a stray thread unless they ask for one. Several server
processes may each run a schedule: the per-station lease lets only one of them sync a station.
"""
import logging
import threading

log = logging.getLogger("cunbox.station_sync")


class SyncScheduler:
    def __init__(self, db, interval, sync_all=None):
        if interval <= 0:
            raise ValueError("the sync interval must be positive")
        self.db = db
        self.interval = float(interval)
        self._sync_all = sync_all
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="station-sync", daemon=True)
        self.runs = 0             # completed rounds, for health pages and tests

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=30):
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self):
        return self._thread.is_alive()

    def run_once(self):
        from server.station_sync import runner
        sync_all = self._sync_all or runner.sync_all
        results = sync_all(self.db)
        for r in results:
            level = logging.INFO if r.ok else logging.WARNING
            log.log(level, "station %s sync %s: %s%s", r.station_id, r.status,
                    ", ".join("%s %d" % kv for kv in r.counts.items() if kv[1]), " (%s)" % r.error if r.error else "")
        self.runs += 1
        return results

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # one bad round must not end the schedule
                log.exception("station sync round failed")
            self._stop.wait(self.interval)


def interval_from(config):
    value = config.get("STATION_SYNC_INTERVAL")
    if value in (None, ""):
        from server import config as settings
        value = settings.get("STATION_SYNC_INTERVAL")
    if value in (None, ""):
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError("CUNBOX_STATION_SYNC_INTERVAL must be a number of seconds, not %r" % value) from None
    return seconds if seconds > 0 else None


def init_app(app, db):
    """Called by create_app: start the schedule when configured; app.extensions keeps it."""
    import server.models.station_sync  # noqa: F401  (maps the sync tables before the first round)
    interval = interval_from(app.config)
    if interval is None:
        return None
    scheduler = SyncScheduler(db, interval).start()
    app.extensions["cunbox_station_sync"] = scheduler
    log.info("station sync every %s s", interval)
    return scheduler
