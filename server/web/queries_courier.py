"""Read-only queries for the courier handheld, scoped to the courier's carrier."""
from sqlalchemy import select

from server.models import Board, Compartment, Locker, LockerCommand, Parcel, Station


def lockers(session):
    """Every locker a courier may deposit into (any carrier serves every locker), labelled with its station."""
    rows = session.execute(select(Locker.id, Locker.name, Station.name)
                           .join(Station, Station.id == Locker.station_id).order_by(Station.name, Locker.name)).all()
    return [{"id": r[0], "label": "%s · %s" % (r[2], r[1])} for r in rows]


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
            # What the locker did with the open command: queued / sent / done (+ result) / failed.
            "command": {"state": cmd.state, "result": cmd.result} if cmd is not None else None}


def outbound(session, carrier_id):
    """The carrier's outbound parcels waiting in lockers for collection."""
    rows = session.scalars(select(Parcel).where(Parcel.carrier_id == carrier_id, Parcel.direction == "out",
                                                Parcel.state == "awaiting_collection").order_by(Parcel.id)).all()
    return [{"id": p.id, "tracking_number": p.tracking_number, "size": p.size, "perishable": p.perishable,
             "deposited_at": p.deposited_at, "door": _door(session, p.active_compartment_id)} for p in rows]
