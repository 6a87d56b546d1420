"""Sends of farm produce out of the village: booking with a drop-off code (by the station for a villager,
or by the villager on the public page), drop-off at the locker (pickups.verify_at_locker with the
drop-off code), collection by the chosen carrier's courier."""
import datetime

from sqlalchemy import select

from server import clock
from server.errors import BadRequest, Conflict, NotFound, Refused
from server.models import SIZES, Account, Carrier, Locker, Parcel, Station
from server.services import accounts, audit, codes, doors, lifecycle, notify
from server.services.principals import Principal, check_parcel, check_station, require_role
from server.services.serialize import parcel_json


VILLAGER = Principal("villager", label="villager")


def book_send(db, principal, account_id, locker_id, carrier_id, size, perishable=False, chilled_agreed=False,
              now=None, phone=None):
    """Book a send of produce. Fresh produce goes only to a chilled compartment, and only with the
    sender's declared agreement.

    - The station books on a villager's behalf: `principal` is the station's operator, `account_id`
      the villager's account; the drop-off code is returned once (and sent by SMS).
    - A villager books from the public page: `principal` is VILLAGER, `account_id` None, `phone` the
      sender's number, which must be in the resident book of the locker's station. Anyone can type any
      number, so the drop-off code is never returned: it goes only by SMS to that phone. The audit
      trail names the account ("villager:account:<id>").
    """
    require_role(principal, "operator", "villager")
    by_villager = principal.role == "villager"
    if by_villager:
        if account_id is not None:
            raise BadRequest("a villager's booking names the sender by phone, not by account",
                             code="bad_booking", field="account_id")
        phone = accounts.normalise_phone(phone)
    if size not in SIZES:
        raise Refused("size must be one of %s" % ", ".join(SIZES), code="bad_size")
    if perishable and not chilled_agreed:
        raise Refused("fresh produce is kept only in a chilled compartment and only with the sender's "
                      "agreement; record the agreement or hand the produce to the carrier at the counter",
                      code="chilled_agreement_required", alternative="station_counter")

    def fn(s):
        at = now or clock.utcnow()
        if by_villager:
            account, locker = _villager_account(s, phone, locker_id)
            actor = "villager:account:%d" % account.id
        else:
            account = s.get(Account, account_id)
            if account is None or account.deleted_at is not None:
                raise NotFound("no account %s" % account_id)
            check_station(principal, account.station_id)
            locker = s.get(Locker, locker_id)
            if locker is None or locker.station_id != account.station_id:
                raise NotFound("no locker %s at this station" % locker_id)
            actor = principal.actor
        if s.get(Carrier, carrier_id) is None:
            raise NotFound("no carrier %s" % carrier_id)
        station = s.get(Station, locker.station_id)
        parcel = Parcel(direction="out", carrier_id=carrier_id, tracking_number=None, station_id=station.id,
                        locker_id=locker.id, size=size, perishable=bool(perishable),
                        chilled_agreed=bool(chilled_agreed), state="booked", account_id=account.id,
                        phone=account.phone, created_at=at)
        s.add(parcel)
        s.flush()
        audit.created(s, parcel, "send_booked", actor, at=at)
        expires = at + datetime.timedelta(hours=station.storage_hours)
        code, _row = codes.issue(s, parcel, "dropoff", expires, None, actor, now=at)
        notify.dropoff_message(s, parcel, code, expires, station, locker)
        if by_villager:
            return {"parcel_id": parcel.id, "phone": account.phone, "expires_at": clock.iso(expires)}
        return {"parcel": parcel_json(parcel), "dropoff_code": code, "expires_at": clock.iso(expires)}

    return db.run(fn)


def _villager_account(s, phone, locker_id):
    """(account, locker) for a villager's own booking: the phone's account at the locker's station."""
    locker = s.get(Locker, locker_id)
    if locker is None:
        raise NotFound("no locker %s" % locker_id, field="locker_id")
    account = s.scalar(select(Account).where(Account.station_id == locker.station_id, Account.phone == phone,
                                             Account.deleted_at.is_(None)).order_by(Account.id))
    if account is None:
        raise NotFound("no resident with phone %s at this locker's station; ask the station keeper to add "
                       "you to the resident book" % phone, code="no_account", field="phone")
    return account, locker


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
