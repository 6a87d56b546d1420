"""Read-only queries for the courier handheld, scoped to the courier's carrier."""
from sqlalchemy import select

from server import clock
from server.models import Board, Compartment, Locker, LockerCommand, Parcel, Station
from server.models.link import LinkLease
from server.services import link_commands


def lockers(session):
    """Every locker a courier may deposit into (any carrier serves every locker), labelled with its station,
    and whether the link knows it to be offline (then a deposit there would only fail: say so first)."""
    rows = session.execute(select(Locker.id, Locker.name, Station.name, LinkLease.online, LinkLease.expires_at)
                           .join(Station, Station.id == Locker.station_id)
                           .outerjoin(LinkLease, LinkLease.locker_id == Locker.id)
                           .order_by(Station.name, Locker.name)).all()
    now = clock.utcnow()
    out = []
    for lid, name, station, online, lease_until in rows:
        # no lease row: no link has driven it yet (nothing known); a lapsed lease: no link drives it now
        offline = online is not None and (not online or lease_until is None or lease_until <= now)
        out.append({"id": lid, "label": "%s · %s" % (station, name), "offline": offline})
    return out


def _door(session, compartment_id):
    if compartment_id is None:
        return None
    row = session.execute(select(Compartment, Board.address, Locker.name, Station.name, Station.address)
                          .join(Board, Board.id == Compartment.board_id)
                          .join(Locker, Locker.id == Compartment.locker_id)
                          .join(Station, Station.id == Locker.station_id)
                          .where(Compartment.id == compartment_id)).first()
    if row is None:
        return None
    c, board_address, locker_name, station_name, station_address = row
    return {"id": c.id, "label": "%d-%d" % (board_address, c.index), "size": c.size, "chilled": c.chilled,
            "height_band": c.height_band, "door": c.door, "locker": locker_name, "station": station_name,
            "address": station_address}


def parcel(session, carrier_id, parcel_id):
    """One of the carrier's parcels with the door it holds, or None (also for other carriers' parcels)."""
    p = session.scalar(select(Parcel).where(Parcel.id == parcel_id, Parcel.carrier_id == carrier_id))
    if p is None:
        return None
    door = _door(session, p.active_compartment_id or p.compartment_id)
    cmd = None
    if door is not None:
        cmd = session.scalar(select(LockerCommand).where(LockerCommand.parcel_id == p.id, LockerCommand.kind == "open",
                                                         LockerCommand.compartment_id == door["id"])
                             .order_by(LockerCommand.id.desc()))
    return {"id": p.id, "tracking_number": p.tracking_number, "state": p.state, "size": p.size,
            "phone": p.phone, "perishable": p.perishable, "reserved_until": p.reserved_until, "door": door,
            # What the locker did with the open command: queued / sent / done (+ result) / failed, and
            # what the courier is to be told (waiting / opened / failed / unknown, by its deadline).
            "command": {"state": cmd.state, "result": cmd.result, "outcome": link_commands.outcome(cmd),
                        "why": failure_key(cmd.result)} if cmd is not None else None}


def failure_key(result):
    """The catalogue key that says in words why an open failed (result as the link wrote it)."""
    if not result:
        return "door.why.unknown"
    head = result.split(":")[0]
    if result.startswith("expired") or result in ("busy_until_expired", "not_executed:board_unreachable"):
        return "door.why.no_answer"
    if result == "refused:late":
        return "door.why.no_answer"
    if head in ("jammed", "refused", "nak", "no_such_board", "board_not_keyed", "link_error"):
        return "door.why." + head
    return "door.why.unknown"


def outbound(session, carrier_id):
    """The carrier's outbound parcels waiting in lockers for collection."""
    rows = session.scalars(select(Parcel).where(Parcel.carrier_id == carrier_id, Parcel.direction == "out",
                                                Parcel.state == "awaiting_collection").order_by(Parcel.id)).all()
    return [{"id": p.id, "tracking_number": p.tracking_number, "size": p.size, "perishable": p.perishable,
             "deposited_at": p.deposited_at, "door": _door(session, p.active_compartment_id)} for p in rows]
