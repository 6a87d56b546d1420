"""Courier deposits: consent check, assignment, reservation with a time limit, door request;
'did not fit' moves to the next size up; a retried request never reserves a second compartment."""
import datetime

from sqlalchemy import select

from server import clock
from server.errors import Conflict, NotFound, Refused
from server.models import Account, Compartment, Locker, LockerCommand, Parcel, Station
from server.services import accounts, assignment, audit, doors, lifecycle, parcels
from server.services.principals import require_role
from server.services.serialize import compartment_json, parcel_json

COUNTER_ALTERNATIVE = "station_counter"


def start_deposit(db, principal, locker_id, tracking_number, phone, size, perishable=False, now=None):
    """Reserve a compartment for an inbound parcel and ask its door to open.

    Returns {"parcel", "compartment", "command", "replayed"}; replayed is True when this tracking number
    was already deposited or reserved by this carrier (nothing new is reserved then).
    """
    require_role(principal, "courier")
    phone = accounts.normalise_phone(phone)

    def fn(s):
        at = now or clock.utcnow()
        locker = s.get(Locker, locker_id)
        if locker is None:
            raise NotFound("no locker %s" % locker_id)
        existing = s.scalar(select(Parcel).where(Parcel.carrier_id == principal.carrier_id,
                                                 Parcel.tracking_number == tracking_number)
                            .with_for_update(key_share=True))
        if existing is not None and existing.state != "cancelled":
            return _replay(s, existing, locker_id, phone)
        if existing is not None:
            _same_parcel_or_conflict(existing, locker_id, phone)
        account, why = accounts.consenting_account(s, locker.station_id, phone)
        if account is None:
            raise Refused(_consent_message(why, phone), code=why, alternative=COUNTER_ALTERNATIVE)
        lifecycle.expire_reservations_in(s, locker_id, at)
        comp = assignment.choose(s, locker_id, assignment.sizes_from(size), perishable, account.height_preference)
        if comp is None:
            raise Refused("no free %scompartment of size %s or larger in locker %s" % (
                "chilled " if perishable else "", size, locker_id), code="no_free_compartment",
                alternative=COUNTER_ALTERNATIVE)
        station = s.get(Station, locker.station_id)
        until = at + datetime.timedelta(minutes=station.reservation_minutes)
        if existing is None:
            parcel = Parcel(direction="in", carrier_id=principal.carrier_id, tracking_number=tracking_number,
                            station_id=locker.station_id, locker_id=locker_id, size=size,
                            perishable=bool(perishable), state="reserved", account_id=account.id, phone=phone,
                            courier_id=principal.user_id, active_compartment_id=comp.id, compartment_id=comp.id,
                            reserved_until=until, created_at=at)
            s.add(parcel)
            s.flush()
            audit.created(s, parcel, "deposit_started", principal.actor, {"compartment_id": comp.id}, at=at)
        else:
            # A reservation that expired or whose door failed: the retried request reserves afresh.
            parcel = existing
            parcel.size, parcel.perishable, parcel.account_id = size, bool(perishable), account.id
            parcel.courier_id = principal.user_id
            parcel.active_compartment_id = comp.id
            parcel.compartment_id = comp.id
            parcel.reserved_until = until
            audit.transition(s, parcel, "reserved", "deposit_restarted", principal.actor,
                             {"compartment_id": comp.id}, at=at)
        cmd = doors.open_door(s, comp, "deposit", principal.actor, parcel)
        return _result(parcel, comp, cmd, replayed=False)

    return db.run(fn)


def _consent_message(why, phone):
    if why == "no_account":
        return ("no villager account with phone %s at this station; locker delivery needs the recipient's "
                "recorded consent: hand the parcel in at the station counter" % phone)
    if why == "shared_phone":
        return ("phone %s belongs to more than one villager account at this station; until the station keeper "
                "settles whose it is in the resident book, hand the parcel in at the station counter" % phone)
    return ("the recipient %s has not agreed to locker delivery; hand the parcel in at the station counter"
            % phone)


def _same_parcel_or_conflict(parcel, locker_id, phone):
    if parcel.direction != "in" or parcel.phone != phone or parcel.locker_id != locker_id:
        raise Conflict("tracking number %s is already used by this carrier for another parcel"
                       % parcel.tracking_number, code="tracking_number_in_use", parcel_id=parcel.id)


def _replay(s, parcel, locker_id, phone):
    _same_parcel_or_conflict(parcel, locker_id, phone)
    comp = s.get(Compartment, parcel.active_compartment_id) if parcel.active_compartment_id else None
    cmd = None
    if comp is not None:
        cmd = s.scalar(select(LockerCommand).where(LockerCommand.parcel_id == parcel.id,
                                                   LockerCommand.kind == "open")
                       .order_by(LockerCommand.id.desc()))
    return _result(parcel, comp, cmd, replayed=True)


def _result(parcel, comp, cmd, replayed):
    return {"parcel": parcel_json(parcel), "compartment": compartment_json(comp) if comp else None,
            "command": doors.command_json(cmd) if cmd else None, "replayed": replayed}


def did_not_fit(db, principal, parcel_id, now=None):
    """The parcel did not fit: reserve the best compartment of the next size up and open it."""
    require_role(principal, "courier")

    def fn(s):
        at = now or clock.utcnow()
        parcel = parcels.locked_parcel(s, principal, parcel_id, ("reserved",))
        old = s.get(Compartment, parcel.active_compartment_id)
        bigger = assignment.sizes_from(old.size, strictly_larger=True)
        account = s.get(Account, parcel.account_id) if parcel.account_id else None
        comp = assignment.choose(s, parcel.locker_id, bigger, parcel.perishable,
                                 account.height_preference if account else None)
        if comp is None:
            raise Refused("no free compartment larger than %s in locker %s" % (old.size, parcel.locker_id),
                          code="no_larger_compartment", alternative=COUNTER_ALTERNATIVE)
        old.state = "free"
        parcel.active_compartment_id = None
        s.flush()
        parcel.active_compartment_id = comp.id
        parcel.compartment_id = comp.id
        parcel.size = comp.size
        station = s.get(Station, parcel.station_id)
        parcel.reserved_until = at + datetime.timedelta(minutes=station.reservation_minutes)
        audit.transition(s, parcel, "reserved", "did_not_fit", principal.actor,
                         {"from_compartment_id": old.id, "to_compartment_id": comp.id}, at=at)
        cmd = doors.open_door(s, comp, "deposit", principal.actor, parcel)
        return _result(parcel, comp, cmd, replayed=False)

    return db.run(fn)


def reopen(db, principal, parcel_id):
    """Open the reserved door again (it was closed before the parcel went in)."""
    require_role(principal, "courier")

    def fn(s):
        parcel = parcels.locked_parcel(s, principal, parcel_id, ("reserved",))
        comp = s.get(Compartment, parcel.active_compartment_id)
        cmd = doors.open_door(s, comp, "deposit", principal.actor, parcel)
        return _result(parcel, comp, cmd, replayed=False)

    return db.run(fn)


def cancel(db, principal, parcel_id, now=None):
    """The courier gives up a reservation (e.g. takes the parcel to the counter instead)."""
    require_role(principal, "courier")

    def fn(s):
        at = now or clock.utcnow()
        parcel = parcels.locked_parcel(s, principal, parcel_id, ("reserved",))
        _free_reservation(s, parcel, "deposit_cancelled", principal.actor, at)
        return {"parcel": parcel_json(parcel)}

    return db.run(fn)


def _free_reservation(s, parcel, action, actor, at):
    lifecycle.give_up_reservation(s, parcel, s.get(Compartment, parcel.active_compartment_id), action, actor, at)


def expire_reservations(db, now=None):
    return db.run(lambda s: lifecycle.expire_reservations_in(s, None, now or clock.utcnow()))
