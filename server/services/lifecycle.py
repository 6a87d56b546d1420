"""The parcel state machine around a compartment: reserve -> door closed with parcel -> held;
open for release -> door closed empty -> released. Runs inside the caller's transaction."""
import datetime
import hashlib
import secrets

from sqlalchemy import select

from server import clock
from server.models import AccessCode, Account, Carrier, Compartment, Locker, Parcel, Station
from server.services import alarms, assignment, audit, codes, doors, fees, notify

CLOSED_EMPTY = "deposit_closed_empty"     # the parcel event of a deposit door shut on an empty compartment
RELEASED_STATE = {"pickup": "picked_up", "retrieve": "at_counter", "return": "returned", "collect": "collected"}


def reserve_compartment(s, locker_id, size, perishable, account):
    """Reserve the compartment a send's produce will go into (as a deposit would choose it), or None."""
    expire_reservations_in(s, locker_id, clock.utcnow())
    return assignment.choose(s, locker_id, assignment.sizes_from(size), perishable,
                             account.height_preference if account else None)


def expire_reservations_in(s, locker_id, at):
    """Reservations past their time limit, with the door closed, give their compartment back."""
    q = (select(Parcel).join(Compartment, Compartment.id == Parcel.active_compartment_id)
         .where(Parcel.state == "reserved", Parcel.reserved_until < at, Compartment.door == "closed"))
    if locker_id is not None:
        q = q.where(Parcel.locker_id == locker_id)
    expired = s.scalars(q.with_for_update(of=Parcel, key_share=True)).all()
    for parcel in expired:
        give_up_reservation(s, parcel, s.get(Compartment, parcel.active_compartment_id), "reservation_expired",
                            "system", at)
    return len(expired)

def begin_open(session, parcel, purpose, actor, at):
    """Open the parcel's compartment to take it out; the release happens when the door closes empty."""
    comp = session.get(Compartment, parcel.active_compartment_id)
    parcel.state_before_open = parcel.state
    parcel.open_purpose = purpose
    audit.transition(session, parcel, "opening", "open_for_" + purpose, actor, at=at)
    cmd = doors.open_door(session, comp, purpose, actor, parcel)
    return comp, cmd


def on_door_closed(session, comp, parcel, occupied, at, actor):
    if parcel is None:
        if occupied:
            alarms.raise_alarm(session, "unexpected_item", comp, detail={"note": "closed with an item, no parcel"},
                               at=at)
            return {"outcome": "unexpected_item"}
        return {"outcome": "recorded"}
    if parcel.state == "booked":
        # a compartment kept for a send not dropped off yet: nothing belongs inside
        if occupied:
            alarms.raise_alarm(session, "unexpected_item", comp, parcel,
                               {"note": "closed with an item before the send's drop-off"}, at=at)
            return {"outcome": "unexpected_item", "parcel_id": parcel.id}
        return {"outcome": "recorded", "parcel_id": parcel.id}
    if parcel.state == "reserved":
        if occupied is False:
            # The compartment's sensor saw nothing go in: the deposit waits for the courier, who puts the
            # parcel in (reopen), says the sensor is wrong (deposits.confirm_inside) or cancels.
            audit.transition(session, parcel, "reserved", CLOSED_EMPTY, actor, {"compartment_id": comp.id}, at=at)
            return {"outcome": "closed_empty", "parcel_id": parcel.id}
        confirm(session, parcel, comp, at, actor)
        return {"outcome": "deposit_confirmed" if parcel.direction == "in" else "dropoff_confirmed",
                "parcel_id": parcel.id}
    if parcel.state == "opening":
        if occupied:
            purpose = parcel.open_purpose
            revert_open(session, parcel, actor, at)
            alarms.raise_alarm(session, "parcel_still_inside", comp, parcel, {"purpose": purpose}, at=at)
            return {"outcome": "parcel_left_inside", "parcel_id": parcel.id}
        release(session, parcel, comp, at, actor)
        return {"outcome": parcel.state, "parcel_id": parcel.id}
    if occupied is False:
        alarms.raise_alarm(session, "parcel_missing", comp, parcel, {"state": parcel.state}, at=at)
        return {"outcome": "parcel_missing", "parcel_id": parcel.id}
    return {"outcome": "recorded", "parcel_id": parcel.id}


def confirm(session, parcel, comp, at, actor):
    """The door closed with the parcel inside: only now is a deposit real and a code issued."""
    station = session.get(Station, parcel.station_id)
    comp.state = "occupied"
    parcel.deposited_at = at
    parcel.reserved_until = None
    if parcel.direction == "out":
        audit.transition(session, parcel, "awaiting_collection", "dropoff_confirmed", actor, at=at)
        notify.plain_message(session, parcel, "dropoff_received", "sms.dropoff_received")
        return
    locker = session.get(Locker, parcel.locker_id)
    carrier = session.get(Carrier, parcel.carrier_id)
    expires = at + datetime.timedelta(hours=station.storage_hours)
    code, _row = codes.issue(session, parcel, "pickup", expires, comp, actor, now=at)
    token = secrets.token_urlsafe(16)
    parcel.link_token_hash = hashlib.sha256(token.encode()).hexdigest()
    parcel.fee_policy = notify.fee_policy(station)
    audit.transition(session, parcel, "in_locker", "deposit_confirmed", actor, at=at)
    link = notify.pickup_link(session.info["settings"]["PUBLIC_URL"], token, code)
    notify.pickup_message(session, parcel, code, link, expires, station, locker, carrier)
    fees.on_deposit(session, parcel, station, at)


def release(session, parcel, comp, at, actor):
    """The door closed empty after an opening for pickup / retrieve / return / collect."""
    purpose = parcel.open_purpose
    live = codes.live_code_of(session, parcel.id)
    if live is not None:
        codes.end(session, live, "used" if purpose == "pickup" else "revoked", actor, now=at)
    if comp.state in ("occupied", "reserved"):
        comp.state = "free"
    parcel.active_compartment_id = None
    parcel.released_at = at
    parcel.open_purpose = None
    parcel.state_before_open = None
    audit.transition(session, parcel, RELEASED_STATE[purpose], purpose + "_completed", actor, at=at)
    session.flush()
    fees.on_release(session, parcel, session.get(Station, parcel.station_id), purpose, at, comp.id)


def on_open_failed(session, cmd, result):
    from server import clock
    from server.models import Parcel
    at = clock.utcnow()
    comp = session.get(Compartment, cmd.compartment_id)
    parcel = session.get(Parcel, cmd.parcel_id) if cmd.parcel_id else None
    alarms.raise_alarm(session, "door_failed", comp, parcel, {"result": result, "command_id": cmd.id}, at=at)
    if parcel is not None and parcel.active_compartment_id == comp.id:
        if parcel.state == "opening":
            revert_open(session, parcel, "link", at)
        elif parcel.state == "reserved":
            give_up_reservation(session, parcel, comp, "door_failed", "link", at, {"result": result})
    if result == "jammed" and comp.state == "free":
        comp.state = "faulty"


def give_up_reservation(session, parcel, comp, action, actor, at, detail=None):
    """A reservation ends without a deposit. An inbound parcel is cancelled and its compartment is free
    again (a retried deposit reserves afresh). A send is booked again with its drop-off code live (and
    installed on the board again): in the same compartment, which stays reserved for it, unless its
    door failed (then in another free one, if there is one); a send whose drop-off code has expired
    meanwhile is cancelled."""
    if parcel.direction == "out":
        return _send_back_to_booked(session, parcel, comp, action, actor, at, detail)
    if comp.state == "reserved":
        comp.state = "free"
    parcel.active_compartment_id = None
    parcel.reserved_until = None
    audit.transition(session, parcel, "cancelled", action, actor, detail, at=at)


def _send_back_to_booked(session, parcel, comp, action, actor, at, detail):
    used = session.scalar(select(AccessCode).where(
        AccessCode.parcel_id == parcel.id, AccessCode.purpose == "dropoff",
        AccessCode.state == "used").order_by(AccessCode.id.desc()))
    parcel.reserved_until = None
    if used is None or used.expires_at <= at:
        if comp.state == "reserved":
            comp.state = "free"
        parcel.active_compartment_id = None
        audit.transition(session, parcel, "cancelled", action, actor, detail, at=at)
        return
    if action == "door_failed":
        # chosen while the failed door is still reserved, so never the failed door itself; with no
        # other free, the send keeps its compartment (the failure may have been the link's, not the door's)
        account = session.get(Account, parcel.account_id) if parcel.account_id else None
        other = reserve_compartment(session, parcel.locker_id, parcel.size, parcel.perishable, account)
        if other is not None:
            if comp.state == "reserved":
                comp.state = "free"
            parcel.active_compartment_id = parcel.compartment_id = used.compartment_id = other.id
            detail = dict(detail or {}, compartment_id=other.id)
    used.compartment_id = parcel.active_compartment_id  # the code goes where the produce will
    audit.transition(session, parcel, "booked", action, actor, detail, at=at)
    session.flush()  # the compartment moves before the code is installed in it
    codes.reactivate(session, used, actor)


def revert_open(session, parcel, actor, at):
    """The door closed with the parcel still inside: it stays, and a used pickup code is live again."""
    purpose = parcel.open_purpose
    if purpose == "pickup":
        used = session.scalar(
            select(AccessCode).where(AccessCode.parcel_id == parcel.id,
                                                 AccessCode.purpose == "pickup",
                                                 AccessCode.state == "used")
            .order_by(AccessCode.id.desc()))
        if used is not None and used.expires_at > at:
            codes.reactivate(session, used, actor)
    back = parcel.state_before_open
    parcel.open_purpose = None
    parcel.state_before_open = None
    audit.transition(session, parcel, back, "closed_with_parcel_inside", actor, at=at)
