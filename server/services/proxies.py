"""Who may collect for an account: the proxies of the station's book, as last synced or imported.

The backend asks this when it notifies a pickup, so that a neighbour who collects for an elderly
villager also gets the code. An account the station deleted has no proxies any more.
"""
from sqlalchemy import select

from server.models.station_sync import StationAccountState


def proxies_of(session, account_id):
    """[{"name", "phone"}] for the account (normalised 11-digit phones, each once), [] when none."""
    if account_id is None:
        return []
    row = session.scalar(select(StationAccountState).where(StationAccountState.account_id == account_id))
    if row is None or row.deleted:
        return []
    out, seen = [], set()
    for p in (row.values or {}).get("proxies") or []:
        phone = (p or {}).get("phone")
        if phone and phone not in seen:
            seen.add(phone)
            out.append({"name": p.get("name") or "", "phone": phone})
    return out
