"""The villager's pickup page: the link token finds the parcel; the code it carries is checked by the
pickups service (throttled like a code typed at the locker) before the page shows it."""
import hashlib

from sqlalchemy import select

from server.models import Carrier, Locker, Parcel, Station
from server.web import queries

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
                            if p.state == "opening" and p.active_compartment_id else None)}


def carriers(session):
    return [{"id": c.id, "name": c.name} for c in session.scalars(select(Carrier).order_by(Carrier.name))]
