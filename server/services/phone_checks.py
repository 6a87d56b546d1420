"""Proof that a phone is the villager's own: a one-time number goes to the phone by SMS, and a request
made on a public page (a send booking) is carried out only when that number is typed back.

Anyone can type any phone number into a public page; without this step a stranger could book in a
villager's name and see the drop-off code. The number is 6 random digits kept only as a salted hash;
a check lives CHECK_MINUTES, allows CHECK_TRIES wrong numbers, and one phone gets at most
CHECKS_PER_PHONE checks per CHECKS_WINDOW_MINUTES (an SMS costs money and bothers the phone's owner).
"""
import datetime
import secrets

from sqlalchemy import func, select

from server.db import settings_of
from server.errors import Conflict, Gone, NotFound, Refused, Throttled
from server.models import Notification, PhoneCheck
from server.services.codes import code_hash, matches

# defaults and meanings in server/config.py (the one table of settings)
SETTINGS = ("CHECK_MINUTES", "CHECK_TRIES", "CHECKS_PER_PHONE", "CHECKS_WINDOW_MINUTES")
DIGITS = 6


def limits(session):
    return settings_of(session, *SETTINGS)


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
                           code_hash=code_hash(salt, number), attempts=0, source=source[:80], created_at=at,
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


def ended(session, row, at):
    """Why the check can no longer be confirmed (check_done, check_expired, check_used_up), or None."""
    if row.done_at is not None:
        return "check_done"
    if at >= row.expires_at:
        return "check_expired"
    if row.attempts >= limits(session)["CHECK_TRIES"]:
        return "check_used_up"
    return None


_ENDED = {"check_done": (Conflict, "this request was already confirmed"),
          "check_expired": (Gone, "the one-time number has expired; fill in the form again"),
          "check_used_up": (Refused, "too many wrong numbers; fill in the form again")}


def confirm(session, token, number, at):
    """(the check, None) when `number` is the one-time number of the check named `token`, else (None,
    tries left) with the wrong number counted (the caller commits, then refuses); an ended check
    raises."""
    row = find(session, token, lock=True)
    why = ended(session, row, at)
    if why is not None:
        error, message = _ENDED[why]
        raise error(message, code=why, **({"parcel_id": row.parcel_id} if why == "check_done" else {}))
    number = (number or "").strip()
    if not (len(number) == DIGITS and number.isdigit() and matches(row, number)):
        row.attempts += 1
        return None, limits(session)["CHECK_TRIES"] - row.attempts
    row.done_at = at
    return row, None
