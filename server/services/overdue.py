"""After the storage period: flag overdue parcels; the station operator retrieves them to the counter
or returns them to the carrier (staff actions, audited)."""
from sqlalchemy import select

from server import clock
from server.models import AccessCode, Parcel
from server.services import audit, codes, doors, lifecycle, notify, sends
from server.services.pickups import operator_parcel
from server.services.serialize import parcel_json


def flag_overdue(db, now=None):
    """Parcels whose pickup code has expired become overdue; their codes are cleared from the boards.
    Sends whose drop-off code has expired before the drop-off are cancelled."""
    def fn(s):
        at = now or clock.utcnow()
        rows = s.execute(select(Parcel, AccessCode).join(AccessCode, AccessCode.parcel_id == Parcel.id)
                         .where(Parcel.state == "in_locker", AccessCode.state == "live",
                                AccessCode.purpose == "pickup", AccessCode.expires_at <= at)
                         .with_for_update(of=Parcel, key_share=True)).all()
        for parcel, code_row in rows:
            codes.end(s, code_row, "expired", "system", now=at)
            audit.transition(s, parcel, "overdue", "storage_period_ended", "system", at=at)
            notify.plain_message(s, parcel, "overdue", "sms.overdue")
        # Sends never dropped off: the drop-off code expires (cleared from the board) and the
        # compartment reserved for the send is free again.
        expired = s.execute(select(Parcel, AccessCode).join(AccessCode, AccessCode.parcel_id == Parcel.id)
                            .where(AccessCode.state == "live", AccessCode.purpose == "dropoff",
                                   AccessCode.expires_at <= at)
                            .with_for_update(of=Parcel, key_share=True)).all()
        for parcel, code_row in expired:
            if parcel.state == "booked":
                sends.end_booking(s, parcel, "dropoff_expired", "system", at, "expired")
                notify.plain_message(s, parcel, "send_expired", "sms.send_expired")
            else:
                codes.end(s, code_row, "expired", "system", now=at)
        return len(rows)
    return db.run(fn)


def retrieve(db, principal, parcel_id, now=None):
    """Staff action: open an overdue parcel's door to take it to the counter (done when the door
    closes empty)."""
    def fn(s):
        at = now or clock.utcnow()
        parcel = operator_parcel(s, principal, parcel_id, ("overdue",))
        audit.record(s, principal.actor, "staff_retrieve", station_id=parcel.station_id, parcel_id=parcel.id,
                     compartment_id=parcel.active_compartment_id, at=at)
        comp, cmd = lifecycle.begin_open(s, parcel, "retrieve", principal.actor, at)
        return {"parcel": parcel_json(parcel), "command": doors.command_json(cmd)}
    return db.run(fn)


def return_to_carrier(db, principal, parcel_id, now=None):
    """Staff action: return to the carrier, from the locker (door opens) or from the counter."""
    def fn(s):
        at = now or clock.utcnow()
        parcel = operator_parcel(s, principal, parcel_id, ("overdue", "at_counter"))
        audit.record(s, principal.actor, "staff_return", station_id=parcel.station_id, parcel_id=parcel.id,
                     compartment_id=parcel.active_compartment_id, at=at)
        if parcel.state == "at_counter":
            audit.transition(s, parcel, "returned", "returned_from_counter", principal.actor, at=at)
            return {"parcel": parcel_json(parcel), "command": None}
        comp, cmd = lifecycle.begin_open(s, parcel, "return", principal.actor, at)
        return {"parcel": parcel_json(parcel), "command": doors.command_json(cmd)}
    return db.run(fn)


def hand_over_at_counter(db, principal, parcel_id, now=None):
    """The recipient collected the retrieved parcel at the counter."""
    def fn(s):
        at = now or clock.utcnow()
        parcel = operator_parcel(s, principal, parcel_id, ("at_counter",))
        audit.transition(s, parcel, "collected_at_counter", "handed_over", principal.actor, at=at)
        audit.record(s, principal.actor, "staff_hand_over", station_id=parcel.station_id, parcel_id=parcel.id, at=at)
        return {"parcel": parcel_json(parcel)}
    return db.run(fn)
