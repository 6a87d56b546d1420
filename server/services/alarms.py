"""Alarms for the station operator: temperature excursion, unexpected item, parcel missing, ..."""
from sqlalchemy import select

from server import clock
from server.errors import NotFound
from server.models import Alarm, Locker
from server.services import audit
from server.services.principals import check_station


def raise_alarm(session, kind, compartment, parcel=None, detail=None, at=None):
    """Open an alarm unless the same kind is already open on this compartment."""
    open_row = session.scalar(select(Alarm).where(Alarm.kind == kind, Alarm.compartment_id == compartment.id,
                                                  Alarm.cleared_at.is_(None), Alarm.acknowledged_at.is_(None)))
    if open_row is not None:
        return open_row
    station_id = session.get(Locker, compartment.locker_id).station_id
    row = Alarm(kind=kind, station_id=station_id, locker_id=compartment.locker_id, compartment_id=compartment.id,
                parcel_id=parcel.id if parcel else None, raised_at=at or clock.utcnow(), detail=detail)
    session.add(row)
    session.flush()
    return row


def clear(session, kind, compartment, at=None):
    """The condition went away (the alarm stays listed until acknowledged)."""
    for row in session.scalars(select(Alarm).where(Alarm.kind == kind, Alarm.compartment_id == compartment.id,
                                                   Alarm.cleared_at.is_(None))):
        row.cleared_at = at or clock.utcnow()


def list_alarms(db, principal, station_id, include_acknowledged=False):
    check_station(principal, station_id)
    with db.reading() as s:
        q = select(Alarm).where(Alarm.station_id == station_id)
        if not include_acknowledged:
            q = q.where(Alarm.acknowledged_at.is_(None))
        return [alarm_json(a) for a in s.scalars(q.order_by(Alarm.id))]


def acknowledge(db, principal, alarm_id):
    def fn(s):
        row = s.get(Alarm, alarm_id)
        if row is None:
            raise NotFound("no alarm %s" % alarm_id)
        check_station(principal, row.station_id)
        if row.acknowledged_at is None:
            row.acknowledged_at = clock.utcnow()
            row.acknowledged_by = principal.actor
            audit.record(s, principal.actor, "alarm_acknowledged", station_id=row.station_id,
                         compartment_id=row.compartment_id, detail={"alarm_id": row.id, "kind": row.kind})
        return alarm_json(row)
    return db.run(fn)


def alarm_json(a):
    return {"id": a.id, "kind": a.kind, "station_id": a.station_id, "locker_id": a.locker_id,
            "compartment_id": a.compartment_id, "parcel_id": a.parcel_id, "raised_at": clock.iso(a.raised_at),
            "cleared_at": clock.iso(a.cleared_at), "acknowledged_at": clock.iso(a.acknowledged_at),
            "acknowledged_by": a.acknowledged_by, "detail": a.detail}
