"""Sends of farm produce out of the village: booking with a drop-off code, drop-off at the locker
(pickups.verify_at_locker with the drop-off code), collection by the chosen carrier's courier."""
import datetime

from sqlalchemy import select

from server import clock
from server.errors import Conflict, NotFound, Refused
from server.models import SIZES, Account, Carrier, Locker, Parcel, Station
from server.services import audit, codes, doors, lifecycle, notify
from server.services.principals import check_parcel, check_station, require_role
from server.services.serialize import parcel_json


def book_send(db, principal, account_id, locker_id, carrier_id, size, perishable=False, chilled_agreed=False,
              now=None):
    """Book a send for a villager (the station books on their behalf). Fresh produce goes only to a
    chilled compartment, and only with the sender's declared agreement. Returns the drop-off code once."""
    require_role(principal, "operator")
    if size not in SIZES:
        raise Refused("size must be one of %s" % ", ".join(SIZES), code="bad_size")
    if perishable and not chilled_agreed:
        raise Refused("fresh produce is kept only in a chilled compartment and only with the sender's "
                      "agreement; record the agreement or hand the produce to the carrier at the counter",
                      code="chilled_agreement_required", alternative="station_counter")

    def fn(s):
        at = now or clock.utcnow()
        account = s.get(Account, account_id)
        if account is None or account.deleted_at is not None:
            raise NotFound("no account %s" % account_id)
        check_station(principal, account.station_id)
        locker = s.get(Locker, locker_id)
        if locker is None or locker.station_id != account.station_id:
            raise NotFound("no locker %s at this station" % locker_id)
        if s.get(Carrier, carrier_id) is None:
            raise NotFound("no carrier %s" % carrier_id)
        station = s.get(Station, locker.station_id)
        parcel = Parcel(direction="out", carrier_id=carrier_id, tracking_number=None, station_id=station.id,
                        locker_id=locker.id, size=size, perishable=bool(perishable),
                        chilled_agreed=bool(chilled_agreed), state="booked", account_id=account.id,
                        phone=account.phone, created_at=at)
        s.add(parcel)
        s.flush()
        audit.created(s, parcel, "send_booked", principal.actor, at=at)
        expires = at + datetime.timedelta(hours=station.storage_hours)
        code, _row = codes.issue(s, parcel, "dropoff", expires, None, principal.actor, now=at)
        notify.dropoff_message(s, parcel, code, expires, station, locker)
        return {"parcel": parcel_json(parcel), "dropoff_code": code, "expires_at": clock.iso(expires)}

    return db.run(fn)


def collect(db, principal, parcel_id, now=None):
    """The chosen carrier's courier collects a dropped-off send: its door opens; collected when it
    closes empty."""
    require_role(principal, "courier")

    def fn(s):
        at = now or clock.utcnow()
        parcel = s.scalar(select(Parcel).where(Parcel.id == parcel_id).with_for_update(key_share=True))
        if parcel is None:
            raise NotFound("no parcel %s" % parcel_id)
        check_parcel(principal, parcel)
        if parcel.direction != "out" or parcel.state != "awaiting_collection":
            raise Conflict("parcel %s is not waiting for collection (it is %s)" % (parcel_id, parcel.state),
                           code="wrong_state", state=parcel.state)
        parcel.courier_id = principal.user_id
        comp, cmd = lifecycle.begin_open(s, parcel, "collect", principal.actor, at)
        return {"parcel": parcel_json(parcel), "command": doors.command_json(cmd)}

    return db.run(fn)


def attach_tracking(db, principal, parcel_id, tracking_number):
    require_role(principal, "courier")

    def fn(s):
        parcel = s.scalar(select(Parcel).where(Parcel.id == parcel_id).with_for_update(key_share=True))
        if parcel is None:
            raise NotFound("no parcel %s" % parcel_id)
        check_parcel(principal, parcel)
        if parcel.direction != "out":
            raise Conflict("only sends get their tracking number attached later", code="wrong_direction")
        if parcel.tracking_number not in (None, tracking_number):
            raise Conflict("parcel %s already has tracking number %s" % (parcel_id, parcel.tracking_number),
                           code="tracking_number_set")
        taken = s.scalar(select(Parcel.id).where(Parcel.carrier_id == parcel.carrier_id,
                                                 Parcel.tracking_number == tracking_number, Parcel.id != parcel.id))
        if taken:
            raise Conflict("tracking number %s is already used by this carrier" % tracking_number,
                           code="tracking_number_in_use")
        parcel.tracking_number = tracking_number
        audit.record(s, principal.actor, "tracking_attached", station_id=parcel.station_id, parcel_id=parcel.id,
                     detail={"tracking_number": tracking_number})
        return {"parcel": parcel_json(parcel)}

    return db.run(fn)
