"""Events read from boards: stored exactly once, then applied to the parcel state machine exactly once.

store() inserts what is new (UNIQUE board+seq makes a re-read harmless) and commits before the link
acknowledges anything to the board. apply_pending() then feeds each stored event, oldest first, to
the backend's services (door_reports.door_event, pickups.board_pickup, sends.board_dropoff, coldchain,
alarms), and marks it processed *inside the same transaction* as the change it caused, so a crash
between the two can neither lose the change nor apply it twice.
"""
import datetime

from sqlalchemy import select

from protocol import messages as m
from server import clock
from server.errors import ApiError
from server.models import AccessCode, Board, Compartment, Locker, LockerCommand, Parcel
from server.models.link import LinkBoard, LinkEvent
from server.services import alarms, audit, coldchain, door_reports, pickups, sends

RESULT_NAMES = {m.OPEN_OPENED: "opened", m.OPEN_ALREADY_OPEN: "already_open", m.OPEN_JAMMED: "jammed",
                m.OPEN_SENSOR_FAULT: "sensor_fault", m.OPEN_REFUSED: "refused"}
REFUSAL_NAMES = {1: "no_such_compartment", 2: "out_of_service", 3: "throttled", 4: "lock_fault", 5: "busy", 6: "late"}
ALARM_KINDS = {m.EV_FORCED_DOOR: "forced_door", m.EV_DOOR_LEFT_OPEN: "door_left_open",
               m.EV_SENSOR_FAULT: "door_sensor_fault", m.EV_LOCK_FAULT: "lock_fault",
               m.EV_THROTTLED: "keypad_throttled", m.EV_EVENTS_LOST: "events_lost"}


def result_name(result, detail=0):
    name = RESULT_NAMES.get(result, "result_%d" % result)
    if result == m.OPEN_REFUSED:
        name += ":" + REFUSAL_NAMES.get(detail, str(detail))
    return name


def store(db, board_id, events, occupancy=None):
    """Insert the events not stored yet; returns the highest seq now stored (what may be ACKed).

    occupancy: {compartment number: bool} seen right after these events (STATUS), kept with each
    DOOR_CLOSED so the state machine knows whether the door closed on a parcel."""
    occupancy = occupancy or {}

    def fn(s):
        lb = s.get(LinkBoard, board_id)
        off = lb.seq_offset if lb is not None else 0
        seqs = [e["seq"] + off for e in events]
        have = set(s.scalars(select(LinkEvent.seq).where(LinkEvent.board_id == board_id,
                                                         LinkEvent.seq.in_(seqs))).all()) if seqs else set()
        top = lb.event_cursor if lb is not None else 0
        for e in events:
            top = max(top, e["seq"])
            if e["seq"] + off in have:
                continue
            have.add(e["seq"] + off)
            row = LinkEvent(board_id=board_id, seq=e["seq"] + off, kind=e["kind"], compartment=e["compartment"],
                            board_time=e["time"], data=bytes(e["data"]), received_at=clock.utcnow())
            if e["kind"] == m.EV_OPEN_RESULT:
                row.reference = _decoded(e).get("reference")
            elif e["kind"] == m.EV_DOOR_CLOSED:
                row.occupied = occupancy.get(e["compartment"])
            s.add(row)
        if lb is not None and top > lb.event_cursor:
            lb.event_cursor = top
        return top
    return db.run(fn)


def is_stored(db, board_id, e):
    """Whether this board event (as read by EVENTS) is the one stored under its seq: same kind,
    compartment, board time and data (a restarted journal reuses seqs for other events)."""
    with db.reading() as s:
        lb = s.get(LinkBoard, board_id)
        off = lb.seq_offset if lb is not None else 0
        row = s.scalar(select(LinkEvent).where(LinkEvent.board_id == board_id, LinkEvent.seq == e["seq"] + off))
        return row is not None and (row.kind, row.compartment, row.board_time, bytes(row.data)) == (
            e["kind"], e["compartment"], e["time"], bytes(e["data"]))


def _decoded(e):
    """The spec's fields of an event's data. Boards may append extras after the spec's prefix
    (firmware adds e.g. the source of an opening), so the longest prefix that decodes wins."""
    data = bytes(e["data"])
    for n in range(len(data), -1, -1):
        try:
            return m.decode_event_data(e["kind"], data[:n])
        except Exception:  # noqa: BLE001 - RemoteProtocolError, or odd data: try a shorter prefix
            continue
    return {}


class _Once:
    """Looks like a Database to a service, but runs its transaction together with marking the event
    processed; an event already processed is not applied again."""

    def __init__(self, db, event_id):
        self.db = db
        self.event_id = event_id

    def run(self, fn, retries=4):
        def wrapped(s):
            ev = s.scalar(select(LinkEvent).where(LinkEvent.id == self.event_id).with_for_update())
            if ev.processed_at is not None:
                return ev.outcome
            out = fn(s)
            ev.processed_at = clock.utcnow()
            ev.outcome = _jsonable(out)
            return out
        return self.db.run(wrapped, retries)

    def transaction(self):
        return self.db.transaction()

    def reading(self):
        return self.db.reading()

    @property
    def settings(self):
        return self.db.settings


def _jsonable(out):
    if isinstance(out, dict):
        return {k: v for k, v in out.items() if isinstance(v, (str, int, float, bool, type(None)))}
    return {"result": str(out)}


def apply_pending(db, locker_id=None, limit=500):
    """Apply every stored, unprocessed event (of one locker, or all), oldest first per board.
    Returns the number applied."""
    with db.reading() as s:
        q = select(LinkEvent.id).where(LinkEvent.processed_at.is_(None))
        if locker_id is not None:
            q = q.join(Board, Board.id == LinkEvent.board_id).where(Board.locker_id == locker_id)
        ids = s.scalars(q.order_by(LinkEvent.board_id, LinkEvent.seq).limit(limit)).all()
    for event_id in ids:
        apply_one(db, event_id)
    return len(ids)


def apply_one(db, event_id):
    once = _Once(db, event_id)
    with db.reading() as s:
        ev = s.get(LinkEvent, event_id)
        if ev is None or ev.processed_at is not None:
            return None
        board = s.get(Board, ev.board_id)
        comp = None
        if ev.compartment:
            comp = s.scalar(select(Compartment).where(Compartment.board_id == board.id,
                                                      Compartment.index == ev.compartment))
        info = {"kind": ev.kind, "compartment_id": comp.id if comp else None,
                "chilled": bool(comp and comp.chilled), "board_id": board.id, "locker_id": board.locker_id,
                "data": _decoded({"kind": ev.kind, "data": ev.data}),
                "occupied": ev.occupied, "at": _event_time(ev), "reference": ev.reference, "address": board.address,
                "board_time": ev.board_time}
    try:
        return _apply(once, info)
    except ApiError as exc:
        # The business layer refused it (e.g. a compartment no longer exists): keep the event, mark
        # it applied with the refusal, and go on; retrying would refuse it forever.
        refusal = {"outcome": "refused", "error": exc.code, "message": exc.message}
        return once.run(lambda s: refusal)


def _event_time(ev):
    if ev.board_time and ev.board_time > 1500000000:
        at = datetime.datetime.fromtimestamp(ev.board_time, datetime.timezone.utc).replace(tzinfo=None)
        # a board clock far from ours (not yet set after a power cut) is not trusted
        if abs((at - ev.received_at).total_seconds()) < 7 * 86400:
            return at
    return ev.received_at


def _apply(once, e):
    kind, comp_id, at = e["kind"], e["compartment_id"], e["at"]
    if kind in (m.EV_DOOR_OPENED, m.EV_DOOR_CLOSED) and comp_id is not None:
        return door_reports.door_event(once, comp_id, "opened" if kind == m.EV_DOOR_OPENED else "closed",
                                occupied=e["occupied"] if kind == m.EV_DOOR_CLOSED else None, at=at, actor="link")
    if kind == m.EV_OPEN_RESULT:
        return once.run(lambda s: _open_result(s, e))
    if kind == m.EV_PICKUP_OFFLINE and comp_id is not None:
        code_id = _code_by_prefix(once.db, comp_id, e["data"].get("code_id"), "pickup")
        return pickups.board_pickup(once, comp_id, code_id, at=at, actor="link")
    if kind == m.EV_DROPOFF_OFFLINE and comp_id is not None:
        code_id = _code_by_prefix(once.db, comp_id, e["data"].get("code_id"), "dropoff")
        return sends.board_dropoff(once, comp_id, code_id, at=at, actor="link")
    if kind == m.EV_PEER_CODE:
        return _peer_code(once, e)
    if kind in (m.EV_TEMPERATURE, m.EV_TEMP_EXCURSION) and "temp_c10" in e["data"]:
        return once.run(lambda s: _temperature(s, once.db, e))
    if kind in ALARM_KINDS and comp_id is not None:
        return once.run(lambda s: _alarm(s, e))
    return once.run(lambda s: _audit_only(s, e))


def _open_result(s, e):
    ref = e["data"].get("reference")
    cmd = s.scalar(select(LockerCommand).where(LockerCommand.id == ref).with_for_update()) if ref else None
    if cmd is None or cmd.locker_id != e["locker_id"]:
        return {"outcome": "no_command", "reference": ref}
    name = result_name(e["data"].get("result", -1), 0)
    if e["data"].get("result") == m.OPEN_REFUSED:
        # Nothing was pulsed. The link decides from the reply (a busy board is asked again); an
        # open left unresolved goes out again as a new request while it is still wanted.
        return {"outcome": "refusal_noted", "command_id": cmd.id}
    if cmd.state in ("queued", "sent"):
        from server.services import link_commands
        s.info.setdefault("cunbox_finished", []).append(cmd.id)
        _notify_after_commit(s, link_commands)
        cmd.state = "done" if e["data"].get("result") in (m.OPEN_OPENED, m.OPEN_ALREADY_OPEN,
                                                          m.OPEN_SENSOR_FAULT) else "failed"
        cmd.result = name
        if cmd.state == "failed":
            from server.services import lifecycle
            lifecycle.on_open_failed(s, cmd, name)  # as door_reports.mark_command does
        return {"outcome": "command_resolved", "command_id": cmd.id, "result": name}
    return {"outcome": "command_already_final", "command_id": cmd.id}


def _notify_after_commit(s, link_commands):
    from sqlalchemy import event

    @event.listens_for(s, "after_commit", once=True)
    def _after(sess):
        db = sess.info["cunbox_db"]  # set by Database.transaction(): finished ids are kept per Database
        for cid in sess.info.pop("cunbox_finished", ()):
            link_commands._finished(db, cid)


def _code_by_prefix(db, comp_id, prefix, purpose):
    """The access code (of this purpose) whose hash starts with the 4 bytes the board reported."""
    if not prefix:
        return None
    with db.reading() as s:
        q = select(AccessCode).where(AccessCode.compartment_id == comp_id)
        if purpose is not None:
            q = q.where(AccessCode.purpose == purpose)
        rows = s.scalars(q.order_by(AccessCode.id.desc()).limit(20)).all()
        for r in rows:
            if bytes(r.code_hash[:4]) == bytes(prefix):
                return r.id
    return None


def _temperature(s, db, e):
    celsius = e["data"]["temp_c10"] / 10.0
    if e["data"]["temp_c10"] == m.TEMP_INVALID:
        return {"outcome": "probe_unavailable"}
    comps = s.scalars(select(Compartment.id).where(Compartment.board_id == e["board_id"],
                                                   Compartment.chilled.is_(True))).all()
    out = {"outcome": "temperature", "celsius": celsius, "compartments": len(comps)}
    for cid in comps:
        coldchain_reading(s, cid, celsius, e["at"])
    return out


def coldchain_reading(s, compartment_id, celsius, at):
    """coldchain.record_reading's body, run in our transaction (it is written for a Database)."""
    class _Here:
        def run(self, fn, retries=0):
            return fn(s)
    return coldchain.record_reading(_Here(), compartment_id, celsius, at=at)


def _alarm(s, e):
    comp = s.get(Compartment, e["compartment_id"])
    parcel = s.scalar(select(Parcel).where(Parcel.active_compartment_id == comp.id))
    detail = dict(e["data"], board=e["address"])
    alarm = alarms.raise_alarm(s, ALARM_KINDS[e["kind"]], comp, parcel, detail, at=e["at"])
    return {"outcome": "alarm", "alarm_id": alarm.id}


# A code typed at one board's keypad for a door on another board of the locker (EV_PEER_CODE) opens
# that door only while the person can still be standing there: an event read later (the link was
# down, the board's clock not set) is recorded and opens nothing; the code stays live.
PEER_CODE_FRESH_S = 20


def _peer_code(once, e):
    d = e["data"]
    with once.db.reading() as s:
        comp = s.scalar(select(Compartment).join(Board, Board.id == Compartment.board_id)
                        .where(Board.locker_id == e["locker_id"], Board.address == d.get("board"),
                               Compartment.index == d.get("compartment")))
        comp_id = comp.id if comp is not None else None
    now = clock.utcnow()
    fresh = (e["board_time"] or 0) > 1500000000 and (now - e["at"]).total_seconds() <= PEER_CODE_FRESH_S
    code_id = _code_by_prefix(once.db, comp_id, d.get("code_id"), None) if comp_id else None
    if not fresh or code_id is None:
        def note(s):
            out = _audit_only(s, e)
            return dict(out, outcome="peer_code_stale" if not fresh else "peer_code_unknown")
        return once.run(note)
    return pickups.code_at_another_keypad(once, comp_id, code_id, at=now, actor="link")


def _audit_only(s, e):
    locker = s.get(Locker, e["locker_id"])
    audit.record(s, "board:%d" % e["address"], "board_" + m.EVENT_NAMES.get(e["kind"], str(e["kind"])).lower(),
                 station_id=locker.station_id, locker_id=locker.id, compartment_id=e["compartment_id"],
                 detail=_jsonable(e["data"]), at=e["at"])
    return {"outcome": "recorded"}


def lost_events(db):
    """Gaps in the stored seqs of each board (events the link never got); EVENTS_LOST reports count too."""
    return sum(gap[-1] for gap in event_gaps(db))


def event_gaps(db):
    """Where lost_events counts: [(board id, last stored seq before, stored seq, kind of that event,
    events lost there)] for every jump in a board's stored seqs and every EVENTS_LOST report."""
    with db.reading() as s:
        rows = s.execute(select(LinkEvent.board_id, LinkEvent.seq, LinkEvent.kind, LinkEvent.data)
                         .order_by(LinkEvent.board_id, LinkEvent.seq)).all()
    gaps = []
    last = {}
    for board_id, seq, kind, data in rows:
        prev = last.get(board_id)
        lost = seq - prev - 1 if prev is not None and seq > prev + 1 else 0
        if kind == m.EV_EVENTS_LOST:
            lost += _decoded({"kind": kind, "data": data}).get("count", 0)
        if lost or kind == m.EV_EVENTS_LOST:
            gaps.append((board_id, prev, seq, m.EVENT_NAMES.get(kind, kind), lost))
        last[board_id] = seq
    return gaps


def unprocessed(db):
    with db.reading() as s:
        return len(s.scalars(select(LinkEvent.id).where(LinkEvent.processed_at.is_(None))).all())
