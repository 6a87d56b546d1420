"""The demo's clock: `make run` can move the product's "now" (server/clock.py) forward from a locker
console, e.g. `clock +72h`, so overdue parcels, late fees and expired codes can be seen without
editing the database.

The lead is kept in the demo folder beside the data it shaped and read back on the next `make run`:
kept data was stored at the moved clock, and a clock that fell back would put it in the future.
Starting afresh (make run FRESH=1) drops both. Only forward: see server.clock.set_ahead.
"""
import datetime
import json
import re

from server import clock

FILE = "clock-ahead.json"
LIMIT = datetime.timedelta(days=366)  # a typo such as +7200h should not throw the demo years ahead
_SPAN = re.compile(r"^\+?(\d+(?:\.\d+)?)\s*([dhm]?)$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "": "hours"}


def parse_span(text):
    """'+72h', '72h', '72' (hours), '3d', '90m' -> a timedelta. Raises ValueError for anything else."""
    m = _SPAN.match(text.strip().lower())
    if not m:
        raise ValueError("say how far forward, e.g. +72h, +3d or +30m (got %r)" % text)
    span = datetime.timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    if span <= datetime.timedelta(0):
        raise ValueError("move the clock forward by more than nothing")
    return span


def load(root):
    """Set the clock's lead from the demo folder (none there: the wall clock). Returns the lead."""
    try:
        seconds = json.loads((root / FILE).read_text())["ahead_s"]
    except FileNotFoundError:
        seconds = 0
    clock.set_ahead(datetime.timedelta(seconds=seconds))
    return clock.ahead()


def check(span):
    """Raise ValueError unless the clock may move `span` further ahead."""
    if clock.ahead() + span > LIMIT:
        raise ValueError("the demo clock runs at most %d days ahead" % LIMIT.days)


def advance(root, span):
    """Move the clock `span` (a timedelta) further ahead and keep the new lead in the demo folder."""
    check(span)
    lead = clock.ahead() + span
    clock.set_ahead(lead)
    (root / FILE).write_text(json.dumps({"ahead_s": lead.total_seconds()}))
    return lead


def describe():
    """'demo time 2026-05-03 23:59 (Beijing), 72 h ahead of the real time' (or 'real time')."""
    now = clock.beijing_text(clock.utcnow())
    lead = clock.ahead()
    if not lead:
        return "demo time %s (Beijing), the real time" % now
    return "demo time %s (Beijing), %s ahead of the real time" % (now, hours_text(lead))


def hours_text(span):
    hours = span.total_seconds() / 3600
    return "%g h" % round(hours, 2)
