"""The suite's own clock (tests/conftest.py): a test and the Python processes it starts agree on "now",
the pinned instant, serially and in a pytest-xdist worker (`make test` runs the suite with -n auto).
A subprocess at today's date beside a test at the pinned instant makes a link worker find every
command the in-process API queued long expired."""
import datetime
import subprocess
import sys
import time

from support.instants import pinned_instant


def test_a_subprocess_runs_at_the_same_instant_as_the_test():
    before = time.time()
    out = subprocess.run([sys.executable, "-c", "import time; print(repr(time.time()))"], capture_output=True,
                         text=True, check=True, timeout=60)
    after = time.time()
    child = float(out.stdout)
    assert before - 1 <= child <= after + 1, (before, child, after)


def test_the_test_runs_at_the_pinned_instant():
    now = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(0) <= now - pinned_instant() < datetime.timedelta(hours=2), now
