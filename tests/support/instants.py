"""The instants the suite runs at (tests/conftest.py pins the clock to one of them; CUNBOX_TEST_AT picks)."""
import datetime
import os

import pytest

# The instants where day and month arithmetic goes wrong, in Beijing time (UTC+8) unless said.
INSTANTS = {
    "ordinary": "2026-06-10T02:00:00Z",           # 10:00 on a Wednesday in June
    "month-end": "2026-04-30T15:59:00Z",          # 23:59 on 30 April in Beijing
    "utc-month-end": "2026-11-30T23:59:00Z",      # the last UTC minute of November: 1 Dec 07:59 in Beijing
    "year-end": "2026-12-31T15:59:00Z",           # 23:59 on New Year's Eve in Beijing
    "leap-day": "2028-02-29T15:59:00Z",           # 23:59 on 29 February 2028 in Beijing
    "beijing-midnight": "2027-03-31T16:00:00Z",   # 00:00 on 1 April in Beijing, UTC still 31 March
}
DEFAULT = "month-end"


def pinned_instant():
    name = os.environ.get("CUNBOX_TEST_AT") or DEFAULT
    text = INSTANTS.get(name, name)
    try:
        at = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise pytest.UsageError("CUNBOX_TEST_AT=%r: give one of %s or an ISO 8601 instant"
                                % (name, ", ".join(INSTANTS))) from None
    if at.tzinfo is None:
        raise pytest.UsageError("CUNBOX_TEST_AT=%r needs an offset (Z or +08:00)" % name)
    return at
