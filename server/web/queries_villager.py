"""Read-only queries for the villager's pickup page: the link token (and the code it carries) are the key."""
import hashlib

from sqlalchemy import select

from server.models import Carrier, Locker, Parcel, Station
from server.services import codes


def parcel_by_link(session, token):
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    return session.scalar(select(Parcel).where(Parcel.link_token_hash == digest))


def pickup_view(session, token, code):
    """What the pickup page shows, or None when the link is unknown.

    The clear code is never stored: it travels only in the notification and its link. The page shows
    it (and its QR code) only when it matches the parcel's live pickup code."""
    p = parcel_by_link(session, token)
    if p is None:
        return None
    locker = session.get(Locker, p.locker_id)
    station = session.get(Station, p.station_id)
    carrier = session.get(Carrier, p.carrier_id)
    live = codes.live_code_of(session, p.id)
    code_ok = bool(live is not None and code and len(code) == codes.CODE_DIGITS and code.isdigit()
                   and codes.matches(live, code))
    return {"id": p.id, "tracking_number": p.tracking_number, "carrier": carrier.name, "state": p.state,
            "size": p.size, "perishable": p.perishable, "deposited_at": p.deposited_at,
            "released_at": p.released_at, "locker_id": locker.id, "locker": locker.name, "station": station.name,
            "address": station.address, "deadline": live.expires_at if live is not None else None,
            "code": code if code_ok else None, "code_given": bool(code), "fee_policy": p.fee_policy or {},
            "storage_hours": station.storage_hours}
