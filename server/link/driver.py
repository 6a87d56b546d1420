"""The door seam (server.services.doors.DoorDriver) with the link behind it.

Commands are still rows in locker_commands written in the caller's transaction (the backend's
QueueDoorDriver); this driver also wakes the locker's bus master once that transaction commits, so
an in-process link starts on a command within milliseconds. Commands written without this driver's
wake (another process, or a path that writes the row itself) are found by the worker's queue
watcher (server/link/worker.py), one query per worker every 0.2 s; a master never reads the queue
unless one of the two woke it.
"""
import threading

from sqlalchemy import event

from server.services import doors

# (Database, locker id) -> threading.Event of the bus master driving it in this process. Locker ids
# are unique only within one database, and a process may hold several (tests, benchmarks).
_wakers = {}
_lock = threading.Lock()


def register(db, locker_id, wake):
    with _lock:
        _wakers[(db, locker_id)] = wake


def unregister(db, locker_id, wake):
    with _lock:
        if _wakers.get((db, locker_id)) is wake:
            del _wakers[(db, locker_id)]


def wake(db, locker_id):
    with _lock:
        w = _wakers.get((db, locker_id))
    if w is not None:
        w.set()


class LinkDoorDriver(doors.QueueDoorDriver):
    def locker_has_work(self, db, locker_id):
        wake(db, locker_id)

    def request_open(self, session, compartment, purpose, actor, parcel=None):
        cmd = super().request_open(session, compartment, purpose, actor, parcel)
        _wake_after_commit(session, compartment.locker_id)
        return cmd

    def code_changed(self, session, code_row, install, actor):
        super().code_changed(session, code_row, install, actor)
        _wake_after_commit(session, code_row.locker_id)


def _wake_after_commit(session, locker_id):
    db = session.info.get("cunbox_db")  # set by Database.transaction()
    if db is None:
        return  # a session of no Database: the worker's queue watcher finds the command
    pending = session.info.setdefault("cunbox_link_wake", set())
    if not pending:
        @event.listens_for(session, "after_commit", once=True)
        def _after_commit(sess):
            for lid in sess.info.pop("cunbox_link_wake", ()):
                wake(db, lid)

        @event.listens_for(session, "after_rollback", once=True)
        def _after_rollback(sess):
            sess.info.pop("cunbox_link_wake", None)
    pending.add(locker_id)


def install():
    """Put the link's driver behind doors.open_door / codes (idempotent)."""
    if not isinstance(doors.driver(), LinkDoorDriver):
        doors.set_driver(LinkDoorDriver())
