"""Loaded by every Python process the test suite starts (tests/conftest.py puts this folder on
PYTHONPATH): the process's wall clock runs at the suite's pinned instant too, so a `cunbox serve` or
`cunbox link` started by a test agrees with the test about what "now" is.

CUNBOX_TEST_CLOCK_OFFSET_S is the pinned instant minus the real time, in seconds, fixed once by the
suite; both clocks then tick in step from there.
"""
import os

_offset = os.environ.get("CUNBOX_TEST_CLOCK_OFFSET_S")
if _offset:
    import time

    import time_machine

    _travel = time_machine.travel(time.time() + float(_offset), tick=True)
    _travel.start()
