"""Proof that a phone is the villager's own: a one-time number goes to the phone by SMS, and a request
made on a public page (a send booking) is carried out only when that number is typed back.

Anyone can type any phone number into a public page; without this step a stranger could book in a
villager's name and see the drop-off code. The number is 6 random digits kept only as a salted hash;
a check lives CHECK_MINUTES, allows CHECK_TRIES wrong numbers, and one phone gets at most
CHECKS_PER_PHONE checks per CHECKS_WINDOW_MINUTES (an SMS costs money and bothers the phone's owner).
"""
import datetime
import hashlib
import hmac
import secrets

from sqlalchemy import func, select

from server import config
from server.errors import Conflict, Gone, NotFound, Refused, Throttled
from server.models import Notification, PhoneCheck

# defaults and meanings in server/config.py (the one table of settings)
DEFAULTS = config.defaults("CHECK_MINUTES", "CHECK_TRIES", "CHECKS_PER_PHONE", "CHECKS_WINDOW_MINUTES")
DIGITS = 6


def limits(session):
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in session.info.get("settings", {}).items() if k in DEFAULTS})
    return cfg


def _hash(salt, number):
    return hashlib.sha256(salt + number.encode("ascii")).digest()[:16]


def start(session, purpose, phone, payload, sms_text, source, at):
    """Record a check for `phone` carrying `payload` and queue the SMS; returns (token, expires_at).
    `sms_text(number, minutes)` words the message."""
    cfg = limits(session)
    since = at - datetime.timedelta(minutes=cfg["CHECKS_WINDOW_MINUTES"])
    recent = session.scalar(select(func.count()).select_from(PhoneCheck)
                            .where(PhoneCheck.phone == phone, PhoneCheck.created_at > since))
    if recent >= cfg["CHECKS_PER_PHONE"]:
        raise Throttled("%d one-time numbers went to this phone in the last %d minutes; wait before asking "
                        "again" % (recent, cfg["CHECKS_WINDOW_MINUTES"]), code="checks_throttled",
                        field="phone", retry_after=cfg["CHECKS_WINDOW_MINUTES"] * 60)
    number = "%0*d" % (DIGITS, secrets.randbelow(10 ** DIGITS))
    salt = secrets.token_bytes(8)
    expires = at + datetime.timedelta(minutes=cfg["CHECK_MINUTES"])
    token = secrets.token_urlsafe(16)
    session.add(PhoneCheck(token=token, purpose=purpose, phone=phone, payload=payload, salt=salt,
                           code_hash=_hash(salt, number), attempts=0, source=source[:80], created_at=at,
                           expires_at=expires))
    session.add(Notification(parcel_id=None, phone=phone, kind="phone_check",
                             body=sms_text(number, cfg["CHECK_MINUTES"])))
    return token, expires


def find(session, token, lock=False):
    query = select(PhoneCheck).where(PhoneCheck.token == token)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise NotFound("no such phone check", code="no_check")
    return row


def confirm(session, token, number, at):
    """The check named `token` when `number` is its one-time number; refuses a wrong, expired, used-up
    or already used check. A wrong number is counted (committed even though the request fails: the
    caller's transaction must commit on WrongNumber)."""
    cfg = limits(session)
    row = find(session, token, lock=True)
    if row.done_at is not None:
        raise Conflict("this request was already confirmed", code="check_done", parcel_id=row.parcel_id)
    if at >= row.expires_at:
        raise Gone("the one-time number has expired; fill in the form again", code="check_expired")
    if row.attempts >= cfg["CHECK_TRIES"]:
        raise Refused("too many wrong numbers; fill in the form again", code="check_used_up")
    number = (number or "").strip()
    if not (len(number) == DIGITS and number.isdigit()
            and hmac.compare_digest(_hash(row.salt, number), row.code_hash)):
        row.attempts += 1
        left = cfg["CHECK_TRIES"] - row.attempts
        return None, left
    row.done_at = at
    return row, None
