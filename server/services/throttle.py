"""Code-entry throttling per locker and per source (IP address, pickup link, keypad), counted in the
database so every server process sees the same counts."""
import datetime

from sqlalchemy import func, select

from server.errors import Throttled
from server.models import CodeAttempt

DEFAULTS = {"THROTTLE_WINDOW_SECONDS": 600, "THROTTLE_PER_SOURCE": 5, "THROTTLE_PER_LOCKER": 30}


def _limits(session):
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in session.info.get("settings", {}).items() if k in DEFAULTS})
    return cfg


def check(session, locker_id, source, at):
    cfg = _limits(session)
    since = at - datetime.timedelta(seconds=cfg["THROTTLE_WINDOW_SECONDS"])
    by_source = session.scalar(select(func.count()).select_from(CodeAttempt)
                               .where(CodeAttempt.source == source, CodeAttempt.at > since))
    if by_source >= cfg["THROTTLE_PER_SOURCE"]:
        raise Throttled("too many wrong codes from %s; try again in %d minutes"
                        % (source, cfg["THROTTLE_WINDOW_SECONDS"] // 60), code="throttled_source",
                        retry_after=cfg["THROTTLE_WINDOW_SECONDS"])
    by_locker = session.scalar(select(func.count()).select_from(CodeAttempt)
                               .where(CodeAttempt.locker_id == locker_id, CodeAttempt.at > since))
    if by_locker >= cfg["THROTTLE_PER_LOCKER"]:
        raise Throttled("too many wrong codes at locker %s; try again in %d minutes"
                        % (locker_id, cfg["THROTTLE_WINDOW_SECONDS"] // 60), code="throttled_locker",
                        retry_after=cfg["THROTTLE_WINDOW_SECONDS"])


def record_failure(session, locker_id, source, at):
    session.add(CodeAttempt(locker_id=locker_id, source=source, at=at))
