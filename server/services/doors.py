"""The seam between the business logic and the locker link.

Opening a door is a *request*: a DoorDriver turns it into work for the link. The default
QueueDoorDriver writes a row in `locker_commands` inside the caller's transaction, so the request is
durable exactly when the business change is; the link consumes the queue (queued -> sent -> done |
failed). What the hardware then reports comes back through services/door_reports.py: only a door
closed with the parcel inside confirms a deposit, only a door closed empty completes a pickup.
"""
import datetime

from sqlalchemy import select

from server import clock
from server.errors import BadRequest, NotFound
from server.models import Board, Compartment, LockerCommand
from server.services import audit

# How long a door open may wait for the locker, by purpose: a courier or villager standing at the door
# gives up within seconds, a keeper at the counter a little later. Past it the open is withdrawn and
# the person told it failed; the board refuses it too (OPEN_BY). Settings: OPEN_DEADLINE_SECONDS.
OPEN_DEADLINE_SECONDS = {"deposit": 30, "pickup": 30, "dropoff": 30, "collect": 30, "retrieve": 60, "return": 60,
                         "staff": 60}
DEFAULT_OPEN_DEADLINE_S = 60


def open_deadline_s(session, purpose):
    table = dict(OPEN_DEADLINE_SECONDS)
    table.update(session.info.get("settings", {}).get("OPEN_DEADLINE_SECONDS") or {})
    return table.get(purpose, DEFAULT_OPEN_DEADLINE_S)


class DoorDriver:
    """Interface. Methods run inside the caller's transaction and must not commit."""

    def request_open(self, session, compartment, purpose, actor, parcel=None):
        raise NotImplementedError

    def code_changed(self, session, code_row, install, actor):
        """A code bound to a compartment (a parcel's pickup code, or the drop-off code of the send the
        compartment is reserved for) became live (install=True) or stopped being live (install=False)."""
        raise NotImplementedError

    def locker_has_work(self, db, locker_id):
        """Commands for the locker were committed outside request_open/code_changed (e.g. firmware
        delivery's): a link in this process may start on them now. Others find them by polling."""


class QueueDoorDriver(DoorDriver):
    def request_open(self, session, compartment, purpose, actor, parcel=None):
        now = clock.utcnow()
        cmd = LockerCommand(locker_id=compartment.locker_id, board_id=compartment.board_id,
                            compartment_id=compartment.id, kind="open", purpose=purpose,
                            parcel_id=parcel.id if parcel else None, requested_by=actor, created_at=now,
                            deadline_at=now + datetime.timedelta(seconds=open_deadline_s(session, purpose)),
                            payload={"board": _board_address(session, compartment), "index": compartment.index})
        session.add(cmd)
        session.flush()
        return cmd

    def code_changed(self, session, code_row, install, actor):
        comp = session.get(Compartment, code_row.compartment_id)
        payload = {"board": _board_address(session, comp), "index": comp.index, "code_id": code_row.id,
                   "purpose": code_row.purpose}
        if install:
            payload.update({"salt": code_row.salt.hex(), "hash": code_row.code_hash.hex(),
                            "expires": clock.unix(code_row.expires_at)})
        session.add(LockerCommand(locker_id=comp.locker_id, board_id=comp.board_id, compartment_id=comp.id,
                                  kind="install_code" if install else "clear_code", payload=payload,
                                  parcel_id=code_row.parcel_id, requested_by=actor))


def _board_address(session, compartment):
    return session.get(Board, compartment.board_id).address


_driver = QueueDoorDriver()


def driver():
    return _driver


def set_driver(new_driver):
    """The link layer may install its own driver (e.g. one that also wakes its worker)."""
    global _driver
    _driver = new_driver


def open_door(session, compartment, purpose, actor, parcel=None, station_id=None):
    """Ask for a door to open, count the wear, and put it on the audit trail (who, why, when)."""
    compartment.open_count += 1
    cmd = _driver.request_open(session, compartment, purpose, actor, parcel)
    audit.record(session, actor, "door_open_requested", station_id=station_id or (parcel.station_id if parcel
                                                                                  else None),
                 locker_id=compartment.locker_id, compartment_id=compartment.id,
                 parcel_id=parcel.id if parcel else None, detail={"purpose": purpose, "command_id": cmd.id})
    return cmd


# ---- the queue, as seen by the link -------------------------------------------------------------

def pending_commands(db, locker_id, limit=100):
    """Queued commands for one locker, oldest first."""
    with db.reading() as s:
        rows = s.scalars(select(LockerCommand).where(LockerCommand.locker_id == locker_id,
                                                     LockerCommand.state == "queued")
                         .order_by(LockerCommand.id).limit(limit)).all()
        return [command_json(c) for c in rows]


def command_json(cmd):
    return {"id": cmd.id, "locker_id": cmd.locker_id, "compartment_id": cmd.compartment_id, "kind": cmd.kind,
            "state": cmd.state, "purpose": cmd.purpose, "parcel_id": cmd.parcel_id, "result": cmd.result,
            "payload": cmd.payload, "requested_by": cmd.requested_by, "created_at": clock.iso(cmd.created_at)}


# ---- board settings (CONFIG_SET) through the same queue ------------------------------------------

CONFIG_KEYS = ("left_open_s", "door_window_ms", "disabled")  # what a board accepts in CONFIG_SET
CONFIG_MAX_ITEMS = 8  # one CONFIG_SET frame


def _check_config(items, compartments):
    """items {key: value string} -> [{"key", "value"}] as the board takes them; bad input raises.

    Checked the way the board checks it, so a request the board would refuse is refused here and
    queues nothing."""
    if not isinstance(items, dict) or not items:
        raise BadRequest("items must be a non-empty object of setting -> value", code="bad_config", field="items")
    if len(items) > CONFIG_MAX_ITEMS:
        raise BadRequest("at most %d settings per request" % CONFIG_MAX_ITEMS, code="bad_config", field="items")
    out = []
    for key in sorted(items):
        value = items[key]
        if key not in CONFIG_KEYS:
            raise BadRequest("unknown or read-only setting %r (settable: %s)" % (key, ", ".join(CONFIG_KEYS)),
                             code="bad_config", field="items")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value) > 32:
            raise BadRequest("setting %s must be a string of at most 32 characters" % key, code="bad_config",
                             field="items")
        try:
            if key == "disabled":
                nums = [int(x) for x in value.split(",") if x.strip()]
                if any(not 1 <= c <= compartments for c in nums):
                    raise ValueError
            elif not 1 <= int(value) <= 86400000:
                raise ValueError
        except ValueError:
            raise BadRequest("bad value %r for %s" % (value, key), code="bad_config", field="items") from None
        out.append({"key": key, "value": value})
    return out


def queue_config(db, locker_id, board_id, items, actor):
    """Queue a CONFIG_SET for one board of a locker (durable, executed at most once by the link);
    audited. Returns the command."""
    def fn(s):
        board = s.get(Board, board_id)
        if board is None or board.locker_id != locker_id:
            raise NotFound("no board %s in locker %s" % (board_id, locker_id))
        count = len(s.scalars(select(Compartment.id).where(Compartment.board_id == board_id)).all())
        checked = _check_config(items, count)
        cmd = LockerCommand(locker_id=locker_id, board_id=board_id, kind="config", requested_by=actor,
                            payload={"board": board.address, "items": checked})
        s.add(cmd)
        s.flush()
        audit.record(s, actor, "config_requested", station_id=locker_station(s, locker_id), locker_id=locker_id,
                     detail={"board_id": board_id, "items": checked, "command_id": cmd.id})
        return command_json(cmd)
    return db.run(fn)


def locker_station(session, locker_id):
    """The station a locker belongs to (what the audit trail files a door's records under)."""
    from server.models import Locker
    return session.get(Locker, locker_id).station_id
