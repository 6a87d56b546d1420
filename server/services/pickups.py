"""Pickup by code (typed at the locker and checked by the server, or from the villager's phone page),
the offline pickup a board reports afterwards, and the operator's re-send / extend / revoke."""
import datetime
import hashlib
import secrets

from sqlalchemy import select

from server import clock
from server.errors import Conflict, Forbidden, Gone, NotFound, Refused
from server.models import AccessCode, Account, Carrier, Compartment, Locker, Parcel, Station
from server.services import audit, codes, doors, idempotency, lifecycle, notify, parcels, throttle
from server.services.principals import require_role
from server.services.serialize import compartment_json, parcel_json


class _WrongCode(Exception):
    pass


def _checked_code(db, locker_id, code, source, body, now, only_parcel=None, idem=None):
    """Run body(s, code_row, at) for a matching live code; a wrong code is counted (committed) and
    refused; throttled sources and lockers are refused before any comparison. With only_parcel (a
    pickup link), another parcel's code is a wrong code like any other: same answer, and counted, so
    a link cannot be used to find the codes of the other parcels in its locker.

    idem (an idempotency.Request): a resend of an attempt already answered gets the stored answer,
    before throttling and without counting anything; the first copy stores its answer (pickup,
    drop-off or wrong code) in the same transaction as what it changed."""
    wrong = Forbidden("wrong code for locker %s" % locker_id, code="wrong_code")

    def fn(s):
        at = now or clock.utcnow()
        stored, claim = idempotency.claim(s, idem, at)
        if claim is None and idem is not None:
            return stored
        throttle.check(s, locker_id, source, at)
        row = codes.find(s, locker_id, code, now=at) if _well_formed(code) else None
        if row is not None and only_parcel is not None and row.parcel_id != only_parcel:
            row = None
        if row is None:
            throttle.record_failure(s, locker_id, source, at)
            if claim is not None:
                claim.answer(wrong.to_json(), wrong.status)
            return _WrongCode()
        if row.state == "expired" or row.expires_at <= at:
            raise Gone("this code expired at %s; the parcel is kept at the station counter, ask the station"
                       % clock.iso(row.expires_at), code="code_expired", alternative="station_counter")
        out = body(s, row, at)
        return claim.answer(out) if claim is not None else out

    out = db.run(fn)
    if isinstance(out, _WrongCode):
        raise wrong
    return out


def _well_formed(code):
    return isinstance(code, str) and len(code) == codes.CODE_DIGITS and code.isdigit()


def verify_at_locker(db, principal, locker_id, code, source=None, now=None, idempotency_key=None):
    """A code typed or scanned at the locker, which the board asks the server about.

    A pickup code opens the parcel's door; a drop-off code reserves a compartment for the send and
    opens it. Returns {"action": "pickup"|"dropoff", "parcel", "compartment", "command"}.

    idempotency_key: chosen by the locker per attempt and sent again with every resend of it; a
    resend gets the first copy's answer (also "wrong code") and changes nothing. Without a key a
    resend is a new attempt, and a code its first copy used is a wrong code.
    """
    require_role(principal, "locker", "system")
    if principal.role == "locker" and principal.locker_id != locker_id:
        raise NotFound("no locker %s" % locker_id)
    source = source or "locker:%s:keypad" % locker_id
    idem = idempotency.from_header(idempotency_key, locker_id, "codes/verify", {"code": code, "source": source})
    return _checked_code(db, locker_id, code, source, lambda s, row, at: _use(s, row, principal.actor, at), now,
                         idem=idem)


def _use(s, row, actor, at):
    parcel = s.scalar(select(Parcel).where(Parcel.id == row.parcel_id).with_for_update(key_share=True))
    if row.purpose == "dropoff":
        return _dropoff(s, parcel, row, actor, at)
    if parcel.state != "in_locker":
        raise Conflict("parcel %s is %s" % (parcel.id, parcel.state), code="wrong_state", state=parcel.state)
    codes.end(s, row, "used", actor, now=at)
    comp, cmd = lifecycle.begin_open(s, parcel, "pickup", actor, at)
    return {"action": "pickup", "parcel": parcel_json(parcel), "compartment": compartment_json(comp),
            "command": doors.command_json(cmd)}


def _dropoff(s, parcel, row, actor, at):
    if parcel.state != "booked":
        raise Conflict("send %s is %s" % (parcel.id, parcel.state), code="wrong_state", state=parcel.state)
    # The compartment was reserved at booking (and the code installed there); a send booked before
    # that, or whose door failed with no other compartment free, is given one now.
    comp = s.get(Compartment, parcel.active_compartment_id) if parcel.active_compartment_id else None
    if comp is None:
        account = s.get(Account, parcel.account_id) if parcel.account_id else None
        comp = lifecycle.reserve_compartment(s, parcel.locker_id, parcel.size, parcel.perishable, account)
    if comp is None:
        raise Refused("no free %scompartment of size %s or larger now; hand the produce in at the station "
                      "counter" % ("chilled " if parcel.perishable else "", parcel.size),
                      code="no_free_compartment", alternative="station_counter")
    station = s.get(Station, parcel.station_id)
    codes.end(s, row, "used", actor, now=at)
    parcel.active_compartment_id = comp.id
    parcel.compartment_id = comp.id
    parcel.reserved_until = at + datetime.timedelta(minutes=station.reservation_minutes)
    audit.transition(s, parcel, "reserved", "dropoff_started", actor, {"compartment_id": comp.id}, at=at)
    cmd = doors.open_door(s, comp, "dropoff", actor, parcel)
    return {"action": "dropoff", "parcel": parcel_json(parcel), "compartment": compartment_json(comp),
            "command": doors.command_json(cmd)}


# ---- the villager's phone page (the link in the notification carries a token and the code) ---------

def link_token_hash(token):
    return hashlib.sha256((token or "").encode()).hexdigest()


def _parcel_by_link(s, token):
    parcel = s.scalar(select(Parcel).where(Parcel.link_token_hash == link_token_hash(token)))
    if parcel is None:
        raise NotFound("no parcel for this pickup link", code="unknown_link")
    return parcel


def link_view(db, token, code, source, now=None):
    """What the pickup page shows (parcel, locker, address, deadline), once the code in the link checks."""
    with db.reading() as s:
        parcel = _parcel_by_link(s, token)
        locker_id = parcel.locker_id

    def body(s, row, at):
        if row.parcel_id != parcel.id:
            raise Forbidden("wrong code for this pickup link", code="wrong_code")
        p = s.get(Parcel, parcel.id)
        locker = s.get(Locker, p.locker_id)
        station = s.get(Station, p.station_id)
        comp = s.get(Compartment, p.active_compartment_id) if p.active_compartment_id else None
        return {"parcel": parcel_json(p), "carrier": s.get(Carrier, p.carrier_id).name,
                "locker": {"id": locker.id, "name": locker.name}, "station": station.name,
                "address": station.address, "expires_at": clock.iso(row.expires_at),
                "storage_hours": station.storage_hours, "fee_policy": p.fee_policy,
                "compartment": compartment_json(comp) if comp else None, "locker_id": locker.id}

    return _checked_code(db, locker_id, code, source, body, now, only_parcel=parcel.id)


def open_from_link(db, token, code, source, now=None):
    with db.reading() as s:
        parcel = _parcel_by_link(s, token)
        locker_id, parcel_id = parcel.locker_id, parcel.id

    def body(s, row, at):
        if row.parcel_id != parcel_id:
            raise Forbidden("wrong code for this pickup link", code="wrong_code")
        return _use(s, row, "villager:parcel:%d" % parcel_id, at)

    return _checked_code(db, locker_id, code, source, body, now, only_parcel=parcel_id)


# ---- a board verified a code offline and opened the door --------------------------------------------

def code_at_another_keypad(db, compartment_id, code_id, at=None, actor="link"):
    """A right code typed or scanned at the keypad of another board of the same locker: that board
    checked it against the copy the link gave it (SET_PEER_CODE) and journaled PEER_CODE, since it
    cannot pulse this door's lock. Open the door here as the online code check would (an open with
    its deadline, which the link sends to this door's board); a code no longer live opens nothing."""
    def fn(s):
        when = at or clock.utcnow()
        row = s.get(AccessCode, code_id)
        if row is None or row.compartment_id != compartment_id or row.state != "live":
            return {"outcome": "code_not_live", "code_id": code_id}
        if row.expires_at <= when:
            return {"outcome": "code_expired", "code_id": code_id}
        return dict(_use(s, row, actor, when), outcome="peer_opened")
    return db.run(fn)


def board_pickup(db, compartment_id, code_id=None, at=None, actor="link"):
    """Reconcile a pickup the board did on its own (code checked against its installed hash).

    Idempotent: a replayed event for a parcel already opening or released changes nothing.
    The door-closed event that follows goes through door_reports.door_event() as usual.
    """
    def fn(s):
        when = at or clock.utcnow()
        parcel = s.scalar(select(Parcel).where(Parcel.active_compartment_id == compartment_id)
                          .with_for_update(key_share=True))
        if parcel is None or parcel.state not in ("in_locker", "overdue"):
            return {"outcome": "already_reconciled", "parcel_id": parcel.id if parcel else None}
        row = codes.live_code_of(s, parcel.id)
        if code_id is not None and row is not None and row.id != code_id:
            return {"outcome": "stale_code", "parcel_id": parcel.id}
        if row is not None:
            codes.end(s, row, "used", actor, now=when)
        parcel.state_before_open = parcel.state
        parcel.open_purpose = "pickup"
        audit.transition(s, parcel, "opening", "offline_pickup", actor, {"code_id": code_id}, at=when)
        audit.record(s, actor, "door_opened_by_board_code", station_id=parcel.station_id,
                     locker_id=parcel.locker_id, compartment_id=compartment_id, parcel_id=parcel.id, at=when)
        return {"outcome": "pickup_opened", "parcel_id": parcel.id}
    return db.run(fn)


# ---- operator: re-send, extend, revoke ---------------------------------------------------------------

def operator_parcel(s, principal, parcel_id, states):
    """The parcel, locked, if the caller is its station's operator and it is in one of `states`."""
    require_role(principal, "operator")
    return parcels.locked_parcel(s, principal, parcel_id, states)


def resend(db, principal, parcel_id, now=None):
    """Send the notification again. Only hashes are kept, so this issues a fresh code (the old one is
    replaced, on the board too) with the same expiry."""
    def fn(s):
        at = now or clock.utcnow()
        parcel = operator_parcel(s, principal, parcel_id, ("in_locker",))
        old = codes.live_code_of(s, parcel.id)
        expires = old.expires_at if old else at + datetime.timedelta(hours=parcel.station.storage_hours)
        if old is not None:
            codes.end(s, old, "replaced", principal.actor, now=at)
        comp = s.get(Compartment, parcel.active_compartment_id)
        code, _row = codes.issue(s, parcel, "pickup", expires, comp, principal.actor, now=at)
        token = secrets.token_urlsafe(16)
        parcel.link_token_hash = link_token_hash(token)
        link = notify.pickup_link(s.info["settings"]["PUBLIC_URL"], token, code)
        notify.pickup_message(s, parcel, code, link, expires, parcel.station, s.get(Locker, parcel.locker_id),
                              s.get(Carrier, parcel.carrier_id))
        audit.record(s, principal.actor, "code_resent", station_id=parcel.station_id, parcel_id=parcel.id, at=at)
        return {"parcel": parcel_json(parcel), "expires_at": clock.iso(expires)}
    return db.run(fn)


def extend(db, principal, parcel_id, hours, now=None):
    """Push the code's expiry (and so the storage period) back by `hours`; boards get the new expiry."""
    def fn(s):
        at = now or clock.utcnow()
        parcel = operator_parcel(s, principal, parcel_id, ("in_locker", "overdue"))
        row = codes.live_code_of(s, parcel.id)
        if row is None:
            row = s.scalar(select(AccessCode).where(AccessCode.parcel_id == parcel.id,
                                                    AccessCode.state == "expired")
                           .order_by(AccessCode.id.desc()))
        if row is None:
            raise Conflict("parcel %s has no code to extend" % parcel_id, code="no_code")
        row.expires_at = max(row.expires_at, at) + datetime.timedelta(hours=hours)
        row.state = "live"
        row.ended_at = None
        doors.driver().code_changed(s, row, True, principal.actor)
        if parcel.state == "overdue":
            audit.transition(s, parcel, "in_locker", "storage_extended", principal.actor, {"hours": hours}, at=at)
        notify.plain_message(s, parcel, "extended", "sms.extended", deadline=clock.beijing_text(row.expires_at))
        audit.record(s, principal.actor, "code_extended", station_id=parcel.station_id, parcel_id=parcel.id,
                     detail={"hours": hours, "expires_at": clock.iso(row.expires_at)}, at=at)
        return {"parcel": parcel_json(parcel), "expires_at": clock.iso(row.expires_at)}
    return db.run(fn)


def revoke(db, principal, parcel_id, now=None):
    """Cancel the pickup code (e.g. reported stolen phone); the parcel stays until re-send or retrieval."""
    def fn(s):
        at = now or clock.utcnow()
        parcel = operator_parcel(s, principal, parcel_id, ("in_locker", "overdue"))
        row = codes.live_code_of(s, parcel.id)
        if row is None:
            raise Conflict("parcel %s has no live code" % parcel_id, code="no_code")
        codes.end(s, row, "revoked", principal.actor, now=at)
        audit.record(s, principal.actor, "code_revoked", station_id=parcel.station_id, parcel_id=parcel.id, at=at)
        return {"parcel": parcel_json(parcel)}
    return db.run(fn)
