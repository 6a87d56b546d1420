"""What the lockers report back: door events and the outcome of queued commands.

Above the parcel state machine (services/lifecycle.py), which these reports drive; below the flows
that open doors (deposits, pickups, sends), which only queue commands through services/doors.py.
"""
from sqlalchemy import select

from server import clock
from server.errors import BadRequest, NotFound
from server.models import Compartment, LockerCommand, Parcel
from server.services import audit, idempotency, lifecycle
from server.services.doors import command_json, locker_station


def door_event(db, compartment_id, event, occupied=None, at=None, actor="link", idempotency_key=None,
               locker_id=None):
    """A board reported a door opened or closed. Called by the locker link (and tests).

    occupied: what the compartment's presence sensor says after closing; None when it has none (then
    the close is taken as doing what was asked). Returns what the event did, for the link's logs.
    idempotency_key (with the reporting locker_id): a resend of the same report gets the first copy's
    answer and writes nothing (the link has its own exactly-once store and sends no key).
    """
    if event not in ("opened", "closed"):
        raise BadRequest("door event must be 'opened' or 'closed', not %r" % (event,), code="bad_event")
    at = at or clock.utcnow()
    idem = None
    if idempotency_key is not None:
        idem = idempotency.from_header(idempotency_key, locker_id, "door-events",
                                       {"compartment_id": compartment_id, "event": event, "occupied": occupied})

    def fn(s):
        stored, claim = idempotency.claim(s, idem, clock.utcnow())
        if claim is None and idem is not None:
            return stored
        out = _door_event(s, compartment_id, event, occupied, at, actor)
        return claim.answer(out) if claim is not None else out

    return db.run(fn)


def _door_event(s, compartment_id, event, occupied, at, actor):
    comp = s.scalar(select(Compartment).where(Compartment.id == compartment_id).with_for_update(key_share=True))
    if comp is None:
        raise NotFound("no compartment %s" % compartment_id)
    comp.door = "open" if event == "opened" else "closed"
    parcel = s.scalar(select(Parcel).where(Parcel.active_compartment_id == comp.id).with_for_update(key_share=True))
    station_id = parcel.station_id if parcel else locker_station(s, comp.locker_id)
    audit.record(s, actor, "door_" + event, station_id=station_id, locker_id=comp.locker_id,
                 compartment_id=comp.id, parcel_id=parcel.id if parcel else None,
                 detail={"occupied": occupied}, at=at)
    if event == "opened":
        return {"outcome": "recorded"}
    return lifecycle.on_door_closed(s, comp, parcel, occupied, at, actor)


_NEXT = {"queued": ("sent", "done", "failed"), "sent": ("done", "failed"), "done": (), "failed": ()}


def mark_command(db, command_id, state, result=None):
    """Move a command along queued -> sent -> done | failed (never backwards: at most once).

    A failed open (result e.g. "jammed", "sensor_fault", "timeout") undoes what waited for it: a
    pickup's code is live again, a deposit's reservation is given up (the courier's retry reserves
    another door), a jammed empty compartment is marked faulty; an alarm tells the station.
    """
    def fn(s):
        cmd = s.scalar(select(LockerCommand).where(LockerCommand.id == command_id).with_for_update(key_share=True))
        if cmd is None:
            raise NotFound("no command %s" % command_id)
        if state not in _NEXT[cmd.state]:
            raise BadRequest("command %s is %s; cannot become %s" % (command_id, cmd.state, state),
                             code="bad_transition")
        cmd.state = state
        if result is not None:
            cmd.result = result
        if state == "failed" and cmd.kind == "open":
            lifecycle.on_open_failed(s, cmd, result)
        if cmd.kind == "config" and state in ("done", "failed"):
            audit.record(s, "link", "config_" + state, station_id=locker_station(s, cmd.locker_id),
                         locker_id=cmd.locker_id, detail={"board_id": cmd.board_id, "command_id": cmd.id,
                                                          "result": cmd.result})
        return command_json(cmd)
    return db.run(fn)


def occupancy_seen(db, board_id, occupied, at=None):
    """What a board's occupancy sensors read now, between doors ({compartment index: bool}; compartments
    without a working sensor are absent). A free compartment with its door shut that reads occupied has
    something left inside: the station gets an alarm; it clears when the reading goes empty. The link
    calls this only when a board's readings change, and it writes only when an alarm is to be raised or
    cleared: a poll that changes nothing takes no write lock."""
    from server.models import Alarm
    at = at or clock.utcnow()
    with db.reading() as s:
        comps = s.execute(select(Compartment.id, Compartment.index, Compartment.state, Compartment.door).where(
            Compartment.board_id == board_id, Compartment.index.in_(list(occupied)))).all()
        open_ids = set(s.scalars(select(Alarm.compartment_id).where(
            Alarm.kind == "unexpected_item", Alarm.cleared_at.is_(None),
            Alarm.compartment_id.in_([c.id for c in comps]))).all()) if comps else set()
    raise_ids = [c.id for c in comps if occupied[c.index] and c.state == "free" and c.door == "closed"
                 and c.id not in open_ids]
    clear_ids = [c.id for c in comps if not occupied[c.index] and c.id in open_ids]
    still_open = [c.id for c in comps if occupied[c.index] and c.id in open_ids]
    if not raise_ids and not clear_ids:
        return still_open

    def fn(s):
        from server.services import alarms
        for comp_id in raise_ids:
            comp = s.get(Compartment, comp_id)
            if comp.state == "free" and comp.door == "closed":   # still so, inside the write
                alarms.raise_alarm(s, "unexpected_item", comp, detail={"note": "reads occupied while free"}, at=at)
        for comp_id in clear_ids:
            alarms.clear(s, "unexpected_item", s.get(Compartment, comp_id), at=at)
    db.run(fn)
    return sorted(raise_ids + still_open)
