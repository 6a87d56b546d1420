"""Time in one place: naive UTC datetimes in the database, unix seconds on the wire to boards, and
Beijing time wherever a person or a station counts days and months.

China keeps one time zone, UTC+8, with no daylight saving since 1991: a fixed offset is exact and
needs no tz database on the machine (a Windows laptop has none).
"""
import datetime

UTC = datetime.timezone.utc
BEIJING = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")

# How far this process's "now" runs ahead of the wall clock. Zero in the product; `make run` moves it
# forward from the locker console (server/demo/clock.py) so a person can watch storage periods end.
# Everything that asks utcnow() follows: the server, its housekeeping and the link, which then sets
# the boards' clocks as it sets any board that is off (docs/adr/0004-demo-clock-runs-ahead.md).
_ahead = datetime.timedelta(0)


def utcnow():
    return (datetime.datetime.now(UTC) + _ahead).replace(tzinfo=None, microsecond=0)


def ahead():
    """How far utcnow() runs ahead of the wall clock (a timedelta, zero unless a demo moved it)."""
    return _ahead


def set_ahead(delta):
    """Run utcnow() `delta` ahead of the wall clock. Never behind: what was stored "now" would then
    lie in the future."""
    global _ahead
    if delta < datetime.timedelta(0):
        raise ValueError("the clock can only run ahead of the wall clock, not behind it")
    _ahead = delta


def unix(dt):
    return int(dt.replace(tzinfo=UTC).timestamp())


def iso(dt):
    return None if dt is None else dt.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def to_beijing(dt):
    """A stored (naive UTC) instant as an aware Beijing datetime."""
    return dt.replace(tzinfo=UTC).astimezone(BEIJING)


def beijing_text(dt, fmt="%Y-%m-%d %H:%M"):
    return to_beijing(dt).strftime(fmt)


def beijing_date(dt):
    """The station's calendar day of a stored instant."""
    return to_beijing(dt).date()


def beijing_today(now=None):
    return beijing_date(now or utcnow())


def beijing_midnight(day):
    """The first instant of a Beijing calendar day, as a stored (naive UTC) datetime."""
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start.astimezone(UTC).replace(tzinfo=None)


def beijing_month(dt=None):
    """'YYYY-MM' of the Beijing month an instant (default: now) falls in."""
    return to_beijing(dt or utcnow()).strftime("%Y-%m")


def month_bounds(month):
    """'2026-11' (a Beijing month) -> its first instant and the next month's, as stored datetimes.

    Raises ValueError for text that is not a year-month."""
    first = datetime.datetime.strptime(month, "%Y-%m").date()
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return beijing_midnight(first), beijing_midnight(following)
