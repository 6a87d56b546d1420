"""Pickup and drop-off codes: 8 uniformly random digits (secrets), unique among a locker's live
codes, stored only as salted hashes: hash = sha256(salt || code_ascii)[:16], salt 8 random bytes.
The same (salt, hash, expiry as u32 unix time) goes to the board, so pickup works offline; so does a
drop-off code, bound to the compartment reserved for its send at booking, so drop-off works offline too.
"""
import datetime
import hashlib
import hmac
import secrets

from sqlalchemy import select

from server import clock
from server.models import AccessCode, Compartment, Locker
from server.services import doors

CODE_DIGITS = 8


def new_code():
    return "%08d" % secrets.randbelow(10 ** CODE_DIGITS)


def code_hash(salt, code):
    return hashlib.sha256(salt + code.encode("ascii")).digest()[:16]


def matches(row, code):
    return hmac.compare_digest(code_hash(row.salt, code), row.code_hash)


def issue(session, parcel, purpose, expires_at, compartment=None, actor="system", now=None):
    """Create a live code for parcel; returns (clear_code, row). The clear code is never stored."""
    now = now or clock.utcnow()
    # Lock the locker row so two transactions cannot pick the same code for one locker (PostgreSQL;
    # SQLite write transactions are serialised already).
    session.scalar(select(Locker.id).where(Locker.id == parcel.locker_id).with_for_update(key_share=True))
    live = session.scalars(select(AccessCode).where(AccessCode.locker_id == parcel.locker_id,
                                                    AccessCode.state == "live")).all()
    while True:
        code = new_code()
        if not any(matches(r, code) for r in live):
            break
    salt = secrets.token_bytes(8)
    row = AccessCode(parcel_id=parcel.id, locker_id=parcel.locker_id,
                     compartment_id=compartment.id if compartment else None, purpose=purpose, salt=salt,
                     code_hash=code_hash(salt, code), expires_at=expires_at, state="live", created_at=now)
    session.add(row)
    session.flush()
    if compartment is not None:
        doors.driver().code_changed(session, row, True, actor)
    return code, row


def end(session, row, state, actor="system", now=None):
    """A live code stops being live (used / revoked / expired / replaced); boards are told to clear it."""
    was_live = row.state == "live"
    row.state = state
    row.ended_at = now or clock.utcnow()
    if was_live and row.compartment_id is not None:
        doors.driver().code_changed(session, row, False, actor)


def reactivate(session, row, actor="system"):
    row.state = "live"
    row.ended_at = None
    if row.compartment_id is not None:
        doors.driver().code_changed(session, row, True, actor)


def live_code_of(session, parcel_id, purpose="pickup"):
    return session.scalar(select(AccessCode).where(AccessCode.parcel_id == parcel_id,
                                                   AccessCode.purpose == purpose, AccessCode.state == "live")
                          .order_by(AccessCode.id.desc()))


def find(session, locker_id, code, recent_days=30, now=None):
    """The code row at this locker that the typed code matches (live, or expired recently), or None."""
    now = now or clock.utcnow()
    since = now - datetime.timedelta(days=recent_days)
    rows = session.scalars(select(AccessCode).where(AccessCode.locker_id == locker_id,
                                                    AccessCode.state.in_(("live", "expired")),
                                                    AccessCode.created_at >= since)).all()
    for row in rows:
        if matches(row, code):
            return row
    return None


def live_codes(db, locker_id, now=None):
    """What every board of a locker should hold: one record per live code bound to a compartment (the
    pickup codes of parcels inside, the drop-off codes of sends the compartments are reserved for).

    [{"compartment_id", "board_id", "board", "index", "code_id", "purpose": "pickup"|"dropoff",
      "salt": bytes(8), "hash": bytes(16), "expires": unix u32}], sorted by board address and index.
    The link installs exactly these (a drop-off code with SET_CODE kind CODE_DROPOFF).
    """
    now = now or clock.utcnow()
    with db.reading() as s:
        rows = s.execute(select(AccessCode, Compartment).join(Compartment,
                                                              Compartment.id == AccessCode.compartment_id)
                         .where(AccessCode.locker_id == locker_id, AccessCode.state == "live",
                                AccessCode.expires_at > now)).all()
        out = []
        for code_row, comp in rows:
            board = comp.board
            out.append({"compartment_id": comp.id, "board_id": board.id, "board": board.address,
                        "index": comp.index, "code_id": code_row.id, "purpose": code_row.purpose,
                        "salt": code_row.salt,
                        "hash": code_row.code_hash, "expires": clock.unix(code_row.expires_at)})
        out.sort(key=lambda r: (r["board"], r["index"]))
        return out
