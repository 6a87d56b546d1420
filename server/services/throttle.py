"""Throttling of guesses, counted in the database so every server process sees the same counts.

Two kinds of guess share the counting here:
- pickup / drop-off codes, per locker and per source (IP address, pickup link, keypad): a fixed
  window (`check` / `record_failure`, rows in code_attempts);
- password sign-ins (API and web pages), per login name and per source: a growing lock-out
  (`check_sign_in` / `record_sign_in_failure` / `forget_sign_in_failures`, rows in sign_in_attempts).
  After SIGN_IN_FREE_* failures the next attempt waits SIGN_IN_LOCKOUT_SECONDS after the last one,
  and every further failure doubles the wait, up to SIGN_IN_MAX_LOCKOUT_SECONDS. Failures older than
  SIGN_IN_MEMORY_SECONDS are forgotten, and a successful sign-in forgets its login's failures.
"""
import datetime

from sqlalchemy import delete, func, select

from server.db import settings_of
from server.errors import Throttled
from server.models import CodeAttempt, SignInAttempt

# defaults and meanings in server/config.py (the one table of settings)
SETTINGS = ("THROTTLE_WINDOW_SECONDS", "THROTTLE_PER_SOURCE", "THROTTLE_PER_LOCKER", "SIGN_IN_FREE_PER_ACCOUNT",
            "SIGN_IN_FREE_PER_SOURCE", "SIGN_IN_LOCKOUT_SECONDS", "SIGN_IN_MAX_LOCKOUT_SECONDS",
            "SIGN_IN_MEMORY_SECONDS")


def _limits(session):
    return settings_of(session, *SETTINGS)


def _failures(session, column, key, since):
    """(how many, latest time) of the failures recorded with column == key after `since`."""
    model = column.class_
    count, latest = session.execute(select(func.count(), func.max(model.at))
                                    .where(column == key, model.at > since)).one()
    return count, latest


# ---- codes -------------------------------------------------------------------------------------------

def check(session, locker_id, source, at):
    cfg = _limits(session)
    since = at - datetime.timedelta(seconds=cfg["THROTTLE_WINDOW_SECONDS"])
    by_source, _ = _failures(session, CodeAttempt.source, source, since)
    if by_source >= cfg["THROTTLE_PER_SOURCE"]:
        raise Throttled("too many wrong codes from %s; try again in %d minutes"
                        % (source, cfg["THROTTLE_WINDOW_SECONDS"] // 60), code="throttled_source",
                        retry_after=cfg["THROTTLE_WINDOW_SECONDS"])
    by_locker, _ = _failures(session, CodeAttempt.locker_id, locker_id, since)
    if by_locker >= cfg["THROTTLE_PER_LOCKER"]:
        raise Throttled("too many wrong codes at locker %s; try again in %d minutes"
                        % (locker_id, cfg["THROTTLE_WINDOW_SECONDS"] // 60), code="throttled_locker",
                        retry_after=cfg["THROTTLE_WINDOW_SECONDS"])


def record_failure(session, locker_id, source, at):
    session.add(CodeAttempt(locker_id=locker_id, source=source, at=at))


# ---- password sign-ins -------------------------------------------------------------------------------

def sign_in_lockout(cfg, failures, free):
    """Seconds locked out after the latest of `failures` failed sign-ins when `free` cost nothing."""
    over = failures - free
    if over < 0:
        return 0
    return min(cfg["SIGN_IN_LOCKOUT_SECONDS"] * 2 ** min(over, 30), cfg["SIGN_IN_MAX_LOCKOUT_SECONDS"])


def check_sign_in(session, login, source, at):
    """Refuse (Throttled, with retry_after in seconds) while the login or the source is locked out."""
    cfg = _limits(session)
    since = at - datetime.timedelta(seconds=cfg["SIGN_IN_MEMORY_SECONDS"])
    for column, key, free, what, code in (
            (SignInAttempt.login, login, cfg["SIGN_IN_FREE_PER_ACCOUNT"], "for this account",
             "sign_in_locked_account"),
            (SignInAttempt.source, source, cfg["SIGN_IN_FREE_PER_SOURCE"], "from %s" % source,
             "sign_in_locked_source")):
        count, latest = _failures(session, column, key, since)
        wait = sign_in_lockout(cfg, count, free)
        if wait:
            left = int((latest + datetime.timedelta(seconds=wait) - at).total_seconds())
            if left > 0:
                raise Throttled("too many failed sign-ins %s; try again in %d seconds" % (what, left),
                                code=code, retry_after=left)


def record_sign_in_failure(session, login, source, at):
    session.add(SignInAttempt(login=login, source=source[:80], at=at))


def forget_sign_in_failures(session, login):
    session.execute(delete(SignInAttempt).where(SignInAttempt.login == login))
