"""LinkWorker: holds leases on lockers and runs one BusMaster thread per locker it holds.

On PostgreSQL several `cunbox link` processes share the lockers: each renews its leases every
ttl/3 and takes lockers whose lease ran out, so a worker that dies loses its lockers to the others
within ttl + ttl/3 seconds. A bus master checks its lease before it claims any command (in the same
transaction) and every few seconds, and stops once the lease is gone. On SQLite the server runs one
worker in-process (start_in_process), which simply holds every lease.

Commands reach a master two ways: the in-process door driver wakes it after the enqueueing commit,
and the worker's queue watcher reads, every `watch_s` (0.2 s), which of the worker's lockers have a
queued command (one query for all of them) and wakes those masters; that is how commands written by
other processes (the web server in front of separate `cunbox link` workers) are picked up. An idle
master itself never reads the queue.
"""
import logging
import os
import socket
import sys
import threading
import time

from server import config
from server.link import driver
from server.link.bus import BusMaster, Options
from server.link.keys import Sealer, load_secret
from server.services import link_commands, link_events, link_state

log = logging.getLogger("cunbox.link")


# Bus masters are I/O threads: each serial read, select() and SQL statement gives up the interpreter
# lock, and taking it back from a thread that is computing (a page being rendered, a QR code drawn)
# waits out the switch interval. Beside one thread drawing QR codes, a deposit took 4.2 times as long
# at CPython's 5 ms, and 1.4 times at 1 ms (bench/results.md, bench_link.beside_a_busy_thread).
SWITCH_INTERVAL_S = 0.001


def responsive_interpreter(interval_s=SWITCH_INTERVAL_S):
    """Lower this process's thread switch interval to interval_s (never raise it)."""
    if sys.getswitchinterval() > interval_s:
        sys.setswitchinterval(interval_s)


def default_owner():
    return "%s:%d:%s" % (socket.gethostname(), os.getpid(), os.urandom(3).hex())


class LinkWorker:
    def __init__(self, db, owner=None, sealer=None, options=None, lease_ttl_s=10.0, max_lockers=None):
        self.db = db
        self.owner = owner or default_owner()
        self.sealer = sealer or Sealer(load_secret())
        self.options = options or Options()
        self.lease_ttl_s = lease_ttl_s
        self.max_lockers = max_lockers
        self.masters = {}
        self._stop = threading.Event()
        self._thread = None
        self._watcher = None
        self.watch_rounds = 0

    def start(self):
        responsive_interpreter()
        driver.install()
        link_events.apply_pending(self.db)  # events a previous life stored but did not get to apply
        self._thread = threading.Thread(target=self._loop, name="link-worker", daemon=True)
        self._thread.start()
        self._watcher = threading.Thread(target=self._watch, name="link-queue-watch", daemon=True)
        self._watcher.start()
        return self

    def _watch(self):
        withdraw_at = 0.0
        while not self._stop.wait(self.options.watch_s):
            masters = dict(self.masters)
            try:
                if time.monotonic() >= withdraw_at:
                    # Late opens fail at their deadline also on a locker whose master cannot reach its
                    # port (it never claims): the person's page says so within a second.
                    withdraw_at = time.monotonic() + 1.0
                    link_commands.withdraw_late_opens(self.db)
                due = link_commands.lockers_with_queued(self.db, masters)
            except Exception:  # noqa: BLE001 - database away for a moment: the next round tries again
                log.exception("link worker: queue watch failed")
                continue
            self.watch_rounds += 1
            for lid in due:
                if lid in masters:
                    masters[lid].wake.set()

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.rebalance()
            except Exception:  # noqa: BLE001 - database away for a moment: keep the masters, try again
                log.exception("link worker: lease round failed")
            self._stop.wait(self.lease_ttl_s / 3.0)

    def rebalance(self):
        held = link_state.acquire_leases(self.db, self.owner, self.lease_ttl_s, self.max_lockers)
        for lid, master in list(self.masters.items()):
            if lid not in held or not master.is_alive():
                master.stop(wait=False)
                driver.unregister(self.db, lid, master.wake)
                del self.masters[lid]
        for lid in held:
            if lid not in self.masters and not self._stop.is_set():
                m = BusMaster(self.db, lid, self.owner, self.sealer, self.options)
                driver.register(self.db, lid, m.wake)
                self.masters[lid] = m
                m.start()
        return held

    def stop(self, release=True):
        self._stop.set()
        for m in list(self.masters.values()):
            m.stop(wait=False)
        for lid, m in list(self.masters.items()):
            m.join(10)
            driver.unregister(self.db, lid, m.wake)
        self.masters.clear()
        for t in (self._thread, self._watcher):
            if t is not None:
                t.join(10)
        if release:
            try:
                link_state.release_leases(self.db, self.owner)
            except Exception:  # noqa: BLE001 - shutting down; the leases expire anyway
                log.exception("link worker: could not release leases")

    def stats(self):
        return {lid: dict(m.stats) for lid, m in self.masters.items()}


def start_in_process(app, options=None, wait_s=None):
    """The single-process setup (SQLite): a LinkWorker inside the server, plus the HTTP wait hook.
    create_app() calls this when LINK_IN_PROCESS is set (or CUNBOX_LINK=in-process)."""
    from server.link import http
    db = app.extensions["cunbox_db"]
    if options is None:
        options = Options(baud=int(app.config.get("LINK_BAUD") or config.default("LINK_BAUD")),
                          status_period_s=float(app.config.get("LINK_STATUS_PERIOD")
                                                or config.default("LINK_STATUS_PERIOD")))
    worker = LinkWorker(db, options=options, sealer=app.extensions.get("cunbox_link_sealer"))
    http.attach(app, wait_s if wait_s is not None else app.config.get("LINK_WAIT_SECONDS",
                                                                       config.default("LINK_WAIT_SECONDS")))
    app.extensions["cunbox_link"] = worker
    return worker.start()


def configure(app):
    """What create_app() sets up for the link, from LINK_MODE or CUNBOX_LINK:
    "in-process" (SQLite: the worker runs as threads of the server, and requests wait for doors),
    "workers" (separate `cunbox link` processes: requests wait for doors by reading the queue),
    anything else: nothing (the queue is served by whoever runs the link)."""
    mode = app.config.get("LINK_MODE") or ""
    if app.config.get("LINK_IN_PROCESS") is False:
        return None
    if mode == "in-process" or app.config.get("LINK_IN_PROCESS"):
        return start_in_process(app)
    if mode == "workers":
        from server.link import http
        http.attach(app, app.config.get("LINK_WAIT_SECONDS", config.default("LINK_WAIT_SECONDS")))
    return None
