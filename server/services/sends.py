"""Sends of farm produce out of the village: booking with a drop-off code (by the station for a villager,
or by the villager on the public page), drop-off at the locker, collection by the chosen carrier's courier.

The compartment is reserved at booking, and the drop-off code is bound to it, so the code can be installed
on the board (kind CODE_DROPOFF) like a pickup code: the villager who walked to the locker with produce can
drop it off while the locker's link is down. The board opens the door on its own and journals
DROPOFF_OFFLINE, which board_dropoff() reconciles when the link is back; with the link up, a kiosk may ask
the server instead (pickups.verify_at_locker with the drop-off code). The reservation ends at drop-off,
when the code expires (overdue.flag_overdue) or when the station cancels the booking (cancel())."""
import datetime

from sqlalchemy import select

from server import clock
from server.errors import Conflict, NotFound, Refused
from server.models import SIZES, Account, Carrier, Compartment, Locker, LockerCommand, Parcel, Station
from server.services import accounts, assignment, audit, codes, doors, lifecycle, notify, phone_checks
from server.services.principals import check_parcel, check_station, require_role
from server.services.serialize import parcel_json


def book_send(db, principal, account_id, locker_id, carrier_id, size, perishable=False, chilled_agreed=False,
              now=None):
    """The station books a send of produce on a villager's behalf (`account_id`); the drop-off code is
    returned once and sent by SMS. Fresh produce goes only to a chilled compartment, and only with the
    sender's declared agreement. (A villager books for themself with request_send / confirm_send.)"""
    require_role(principal, "operator")
    _check_request(size, perishable, chilled_agreed)

    def fn(s):
        at = now or clock.utcnow()
        account = s.get(Account, account_id)
        if account is None or account.deleted_at is not None:
            raise NotFound("no account %s" % account_id)
        check_station(principal, account.station_id)
        locker = s.get(Locker, locker_id)
        if locker is None or locker.station_id != account.station_id:
            raise NotFound("no locker %s at this station" % locker_id)
        parcel, code, expires = _book(s, account, locker, carrier_id, size, perishable, chilled_agreed,
                                      principal.actor, at)
        return {"parcel": parcel_json(parcel), "dropoff_code": code, "expires_at": clock.iso(expires)}

    return db.run(fn)


def request_send(db, locker_id, carrier_id, size, perishable=False, chilled_agreed=False, phone=None,
                 source="web", now=None):
    """A villager asks, on the public page, to book a send from their phone: everything a booking needs
    is checked now (resident of the locker's station, carrier, a free compartment), then a one-time
    number goes to the phone (services/phone_checks). Nothing is booked until confirm_send; returns
    {"check": token, "phone": ..., "expires_at": ...}."""
    phone = accounts.normalise_phone(phone)
    _check_request(size, perishable, chilled_agreed)

    def fn(s):
        at = now or clock.utcnow()
        account, locker = _villager_account(s, phone, locker_id)
        if s.get(Carrier, carrier_id) is None:
            raise NotFound("no carrier %s" % carrier_id, field="carrier_id")
        lifecycle.expire_reservations_in(s, locker.id, at)
        if not assignment.any_free(s, locker.id, assignment.sizes_from(size), perishable):
            raise _no_compartment(perishable, size)
        payload = {"locker_id": locker.id, "carrier_id": carrier_id, "size": size,
                   "perishable": bool(perishable), "chilled_agreed": bool(chilled_agreed)}
        token, expires = phone_checks.start(
            s, "send", account.phone, payload,
            lambda number, minutes: notify.phone_check_message(number, minutes, locker), source, at)
        return {"check": token, "phone": account.phone, "expires_at": clock.iso(expires)}

    return db.run(fn)


def confirm_send(db, token, number, now=None):
    """The villager typed back the one-time number of request_send's check: the send is booked, and the
    drop-off code is returned (the phone is proven theirs) as well as sent by SMS. A wrong number is
    counted and refused (code check_wrong, `left` tries left)."""
    def fn(s):
        at = now or clock.utcnow()
        check, left = phone_checks.confirm(s, token, number, at)
        if check is None:
            return {"wrong": left}
        p = check.payload
        account, locker = _villager_account(s, check.phone, p["locker_id"])
        parcel, code, expires = _book(s, account, locker, p["carrier_id"], p["size"], p["perishable"],
                                      p["chilled_agreed"], "villager:account:%d" % account.id, at)
        check.parcel_id = parcel.id
        return {"parcel_id": parcel.id, "phone": account.phone, "locker_id": locker.id,
                "dropoff_code": code, "expires_at": clock.iso(expires)}

    out = db.run(fn)
    if "wrong" in out:
        raise Refused("that is not the one-time number sent to the phone", code="check_wrong",
                      field="number", left=out["wrong"])
    return out


def _check_request(size, perishable, chilled_agreed):
    if size not in SIZES:
        raise Refused("size must be one of %s" % ", ".join(SIZES), code="bad_size")
    if perishable and not chilled_agreed:
        raise Refused("fresh produce is kept only in a chilled compartment and only with the sender's "
                      "agreement; record the agreement or hand the produce to the carrier at the counter",
                      code="chilled_agreement_required", alternative="station_counter")


def _no_compartment(perishable, size):
    return Refused("no free %scompartment of size %s or larger in this locker now; hand the produce in "
                   "at the station counter" % ("chilled " if perishable else "", size),
                   code="no_free_compartment", alternative="station_counter", field="size")


def _book(s, account, locker, carrier_id, size, perishable, chilled_agreed, actor, at):
    """Reserve the compartment, record the booked send and issue its drop-off code (SMS queued)."""
    if s.get(Carrier, carrier_id) is None:
        raise NotFound("no carrier %s" % carrier_id)
    station = s.get(Station, locker.station_id)
    comp = lifecycle.reserve_compartment(s, locker.id, size, perishable, account)
    if comp is None:
        raise _no_compartment(perishable, size)
    parcel = Parcel(direction="out", carrier_id=carrier_id, tracking_number=None, station_id=station.id,
                    locker_id=locker.id, size=size, perishable=bool(perishable),
                    chilled_agreed=bool(chilled_agreed), state="booked", account_id=account.id,
                    phone=account.phone, active_compartment_id=comp.id, compartment_id=comp.id,
                    created_at=at)
    s.add(parcel)
    s.flush()
    audit.created(s, parcel, "send_booked", actor, {"compartment_id": comp.id}, at=at)
    expires = at + datetime.timedelta(hours=station.storage_hours)
    # bound to the reserved compartment: the link installs it on the board (kind CODE_DROPOFF)
    code, _row = codes.issue(s, parcel, "dropoff", expires, comp, actor, now=at)
    notify.dropoff_message(s, parcel, code, expires, station, locker)
    return parcel, code, expires


def end_booking(s, parcel, action, actor, at, code_state):
    """A booked send that will not be dropped off (cancelled, or its drop-off code expired): its code ends
    (the board is told to clear it) and its reserved compartment is free again."""
    row = codes.live_code_of(s, parcel.id, "dropoff")
    if row is not None:
        codes.end(s, row, code_state, actor, now=at)
    comp = s.get(Compartment, parcel.active_compartment_id) if parcel.active_compartment_id else None
    if comp is not None and comp.state == "reserved":
        comp.state = "free"
    parcel.active_compartment_id = None
    parcel.reserved_until = None
    audit.transition(s, parcel, "cancelled", action, actor, at=at)


def cancel(db, principal, parcel_id, now=None):
    """The station cancels a send that was booked but not dropped off: its compartment is free again
    and its drop-off code is cleared from the board."""
    require_role(principal, "operator")

    def fn(s):
        at = now or clock.utcnow()
        parcel = s.scalar(select(Parcel).where(Parcel.id == parcel_id).with_for_update(key_share=True))
        if parcel is None or parcel.direction != "out":
            raise NotFound("no send %s" % parcel_id)
        check_station(principal, parcel.station_id)
        if parcel.state != "booked":
            raise Conflict("send %s is %s; only a booked send can be cancelled" % (parcel_id, parcel.state),
                           code="wrong_state", state=parcel.state)
        end_booking(s, parcel, "send_cancelled", principal.actor, at, "revoked")
        notify.plain_message(s, parcel, "send_cancelled", "sms.send_cancelled")
        return {"parcel": parcel_json(parcel)}

    return db.run(fn)


def board_dropoff(db, compartment_id, code_id=None, at=None, actor="link"):
    """Reconcile a drop-off the board did on its own (a kind-2 code checked against its installed hash):
    the send is reserved for the door closing on the produce, exactly as after an online drop-off; the
    door-closed event that follows confirms it through door_reports.door_event().

    Idempotent: a send already past 'booked' (a replayed event, or the code was used online first and
    the board had not heard of it) changes nothing."""
    def fn(s):
        when = at or clock.utcnow()
        parcel = s.scalar(select(Parcel).where(Parcel.active_compartment_id == compartment_id)
                          .with_for_update(key_share=True))
        if parcel is not None and parcel.direction == "out" and parcel.state == "reserved":
            # The code was used online first (a kiosk asked the server, which reserved the send and
            # queued the door) while the board, not told yet, opened the door on its own: that door is
            # open already, so the queued one must not open it a second time on the produce.
            superseded = _supersede_dropoff_open(s, parcel, compartment_id)
            return {"outcome": "already_reconciled", "parcel_id": parcel.id, "superseded_opens": superseded}
        if parcel is None or parcel.direction != "out" or parcel.state != "booked":
            return {"outcome": "already_reconciled", "parcel_id": parcel.id if parcel else None}
        row = codes.live_code_of(s, parcel.id, "dropoff")
        if code_id is not None and row is not None and row.id != code_id:
            return {"outcome": "stale_code", "parcel_id": parcel.id}
        if row is not None:
            codes.end(s, row, "used", actor, now=when)
        station = s.get(Station, parcel.station_id)
        parcel.reserved_until = max(when, clock.utcnow()) + datetime.timedelta(minutes=station.reservation_minutes)
        audit.transition(s, parcel, "reserved", "offline_dropoff", actor,
                         {"code_id": code_id, "compartment_id": compartment_id}, at=when)
        audit.record(s, actor, "door_opened_by_board_code", station_id=parcel.station_id,
                     locker_id=parcel.locker_id, compartment_id=compartment_id, parcel_id=parcel.id, at=when)
        return {"outcome": "dropoff_opened", "parcel_id": parcel.id}
    return db.run(fn)


def _supersede_dropoff_open(s, parcel, compartment_id):
    """Fail the online drop-off's door opening still waiting for the link (not through
    door_reports.mark_command: the reservation it made stays, the door is open already)."""
    cmds = s.scalars(select(LockerCommand).where(LockerCommand.parcel_id == parcel.id, LockerCommand.kind == "open",
                                                 LockerCommand.purpose == "dropoff",
                                                 LockerCommand.compartment_id == compartment_id,
                                                 LockerCommand.state.in_(("queued", "sent")))
                     .with_for_update()).all()
    for cmd in cmds:
        cmd.state = "failed"
        cmd.result = "superseded:offline_dropoff"
    return len(cmds)


def _villager_account(s, phone, locker_id):
    """(account, locker) for a villager's own booking: the phone's account at the locker's station."""
    locker = s.get(Locker, locker_id)
    if locker is None:
        raise NotFound("no locker %s" % locker_id, field="locker_id")
    rows = s.scalars(select(Account).where(Account.station_id == locker.station_id, Account.phone == phone,
                                           Account.deleted_at.is_(None)).order_by(Account.id)).all()
    if not rows:
        raise NotFound("no resident with phone %s at this locker's station; ask the station keeper to add "
                       "you to the resident book" % phone, code="no_account", field="phone")
    if len(rows) > 1:  # whose send it is, and whose notices, is for the keeper to settle (accounts.consenting_account)
        raise Refused("phone %s belongs to more than one villager account at this station; ask the station keeper "
                      "to settle whose it is in the resident book" % phone, code="shared_phone", field="phone")
    return rows[0], locker


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
