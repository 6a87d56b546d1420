"""Cold chain: temperature readings per compartment, a parcel's temperature history, excursion alarms."""
from sqlalchemy import select

from server import clock
from server.errors import NotFound
from server.models import Compartment, Locker, Parcel, Station, TemperatureReading
from server.services import alarms
from server.services.principals import check_parcel


def record_reading(db, compartment_id, celsius, at=None):
    """Store a reading a board reported; out of the station's chilled range raises an alarm, back in
    range clears it. Returns {"excursion": bool, "alarm_id": int|None}."""
    def fn(s):
        when = at or clock.utcnow()
        comp = s.get(Compartment, compartment_id)
        if comp is None:
            raise NotFound("no compartment %s" % compartment_id)
        s.add(TemperatureReading(compartment_id=comp.id, at=when, celsius=float(celsius)))
        if not comp.chilled:
            return {"excursion": False, "alarm_id": None}
        station = s.get(Station, s.get(Locker, comp.locker_id).station_id)
        if station.chilled_min_c <= celsius <= station.chilled_max_c:
            alarms.clear(s, "temperature_excursion", comp, at=when)
            return {"excursion": False, "alarm_id": None}
        parcel = s.scalar(select(Parcel).where(Parcel.active_compartment_id == comp.id))
        alarm = alarms.raise_alarm(s, "temperature_excursion", comp, parcel,
                                   {"celsius": celsius, "min": station.chilled_min_c, "max": station.chilled_max_c},
                                   at=when)
        return {"excursion": True, "alarm_id": alarm.id}
    return db.run(fn)


def parcel_history(db, principal, parcel_id):
    """Readings of the parcel's compartment while the parcel was in it."""
    with db.reading() as s:
        parcel = s.get(Parcel, parcel_id)
        if parcel is None:
            raise NotFound("no parcel %s" % parcel_id)
        check_parcel(principal, parcel)
        if parcel.deposited_at is None or parcel.compartment_id is None:
            return {"parcel_id": parcel.id, "compartment_id": None, "readings": []}
        q = select(TemperatureReading).where(TemperatureReading.compartment_id == parcel.compartment_id,
                                             TemperatureReading.at >= parcel.deposited_at)
        if parcel.released_at is not None:
            q = q.where(TemperatureReading.at <= parcel.released_at)
        rows = s.scalars(q.order_by(TemperatureReading.at, TemperatureReading.id)).all()
        return {"parcel_id": parcel.id, "compartment_id": parcel.compartment_id,
                "readings": [{"at": clock.iso(r.at), "celsius": r.celsius} for r in rows]}
