"""Idempotency keys for requests a locker may send again after losing the answer (a timeout, a
server restart): the code check and the door event over HTTP.

The locker picks a fresh key per attempt and sends the same key with every copy of that attempt.
The first copy claims the key (a row in idempotency_keys, unique per locker, endpoint and key) and
stores its answer in the same transaction as the business change, so the key and the change are
committed together or not at all. A copy that finds the key answers what was stored and changes
nothing. The same key with a different request is refused (422) and changes nothing. Answers whose
transaction rolled back (conflict, expired code, throttled) store nothing: nothing changed, so a
resend is simply checked again. Keys are forgotten after KEEP_HOURS (housekeeping).

Only codes that were used or wrong end up hashed in request_hash: a live code is never stored.
"""
import datetime
import hashlib
import json
import re

from sqlalchemy import delete, select

from server import clock
from server.errors import ApiError, BadRequest, Refused
from server.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEY_RE = re.compile(r"[A-Za-z0-9_\-]{8,64}")
KEY_FORMAT = "8 to 64 characters A-Z a-z 0-9 _ -"
KEEP_HOURS = 24


class Request:
    """One keyed request: who sends it (locker), to which endpoint, with which key and payload."""

    def __init__(self, locker_id, endpoint, key, payload):
        if not isinstance(key, str) or not KEY_RE.fullmatch(key):
            raise BadRequest("header %s must be %s" % (HEADER, KEY_FORMAT), code="bad_idempotency_key",
                             field=HEADER)
        self.locker_id = locker_id
        self.endpoint = endpoint
        self.key = key
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        self.request_hash = hashlib.sha256(("%s\n%s" % (key, text)).encode()).hexdigest()


def from_header(value, locker_id, endpoint, payload):
    """None when the request carries no key (then it is not protected against resends)."""
    if value is None:
        return None
    return Request(locker_id, endpoint, value, payload)


class Claim:
    """A key this transaction holds; answer() stores what the request answered."""

    def __init__(self, row):
        self.row = row

    def answer(self, body, status=200):
        self.row.response_json = {"status": status, "body": body}
        return body


def claim(session, req, at):
    """(stored answer, None) for a resend, or (None, Claim) for the first copy.

    The stored answer is returned as the body, or raised again when it was an error. The key row is
    inserted and flushed at once: a concurrent copy on PostgreSQL waits on the unique index and then
    fails with an IntegrityError, which Database.run() retries; the retry finds the stored answer.
    """
    if req is None:
        return None, None
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.locker_id == req.locker_id,
                                                      IdempotencyKey.endpoint == req.endpoint,
                                                      IdempotencyKey.key == req.key))
    if row is not None:
        if row.request_hash != req.request_hash:
            raise Refused("%s %s was already used for a different request; use a fresh key for a new attempt"
                          % (HEADER, req.key), code="idempotency_key_reused", field=HEADER)
        return _replay(row.response_json), None
    row = IdempotencyKey(locker_id=req.locker_id, endpoint=req.endpoint, key=req.key,
                         request_hash=req.request_hash, created_at=at)
    session.add(row)
    session.flush()
    return None, Claim(row)


def _replay(stored):
    status, body = stored["status"], stored["body"]
    if status >= 400:
        err = dict(body["error"])
        code, message = err.pop("code"), err.pop("message")
        raise ApiError(message, code=code, status=status, **err)
    return body


def expire(db, now=None, keep_hours=KEEP_HOURS):
    """Forget keys older than keep_hours; returns how many. A locker resends within seconds or
    minutes, so a day is far longer than any resend needs."""
    def fn(s):
        cutoff = (now or clock.utcnow()) - datetime.timedelta(hours=keep_hours)
        return s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount
    return db.run(fn)
