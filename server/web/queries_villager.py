"""The villager's pickup page: the link token finds the parcel; the code it carries is checked by the
pickups service (throttled like a code typed at the locker) before the page shows it."""
import hashlib

from sqlalchemy import select

from server import clock
from server.models import Carrier, Locker, LockerCommand, Parcel, PhoneCheck, Station
from server.services import link_commands, phone_checks
from server.services.notify import mask_phone
from server.web import queries
from server.web.queries_courier import failure_key

HOLDING = ("in_locker", "overdue")


def parcel_by_link(session, token):
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    return session.scalar(select(Parcel).where(Parcel.link_token_hash == digest))


def link_facts(session, token):
    """What the page may show with the link alone (no code): where and what, not how to open."""
    p = parcel_by_link(session, token)
    if p is None:
        return None
    locker = session.get(Locker, p.locker_id)
    station = session.get(Station, p.station_id)
    return {"id": p.id, "tracking_number": p.tracking_number, "carrier": session.get(Carrier, p.carrier_id).name,
            "state": p.state, "size": p.size, "perishable": p.perishable, "deposited_at": p.deposited_at,
            "released_at": p.released_at, "locker_id": locker.id, "locker": locker.name, "station": station.name,
            "address": station.address, "fee_policy": p.fee_policy or {}, "storage_hours": station.storage_hours,
            "deadline": None, "code": None,
            # which door is open, while it is: the villager at the cabinet must know which one to empty
            "compartment": (queries.compartment_label(session, p.active_compartment_id)
                            if p.state == "opening" and p.active_compartment_id else None),
            "command": last_open(session, p.id)}


def last_open(session, parcel_id):
    """The parcel's latest door open and what the villager is to be told about it (waiting / opened /
    failed / unknown, as on the courier's page): the page says a door is open only once the locker said so."""
    cmd = session.scalar(select(LockerCommand).where(LockerCommand.parcel_id == parcel_id, LockerCommand.kind == "open")
                         .order_by(LockerCommand.id.desc()))
    if cmd is None:
        return None
    return {"state": cmd.state, "outcome": link_commands.outcome(cmd), "why": failure_key(cmd.result)}


def carriers(session):
    return [{"id": c.id, "name": c.name} for c in session.scalars(select(Carrier).order_by(Carrier.name))]


def phone_check(session, token):
    """What the send's second step shows: the masked phone, the locker, and why the check cannot be
    confirmed any more (a message key), or None for an unknown token."""
    if not token or len(token) > 40:
        return None
    row = session.scalar(select(PhoneCheck).where(PhoneCheck.token == token))
    if row is None:
        return None
    locker = session.get(Locker, row.payload.get("locker_id"))
    station = session.get(Station, locker.station_id) if locker else None
    why = phone_checks.ended(session, row, clock.utcnow())
    return {"phone_masked": mask_phone(row.phone), "expires_at": row.expires_at,
            "ended": "svc." + why if why else None,
            "locker": "%s · %s" % (station.name, locker.name) if locker else ""}
