"""A second `make run` keeps the demo's data, and the demo clock's lead with it; `make run FRESH=1`
starts afresh. The banner says which it did."""
import contextlib
import os
import re
import subprocess
import sys
import time

import pytest
from support import ROOT
from support.demo_console import console as _console
from support.demo_console import free_tcp_port as _free_port

from server.demo.day import call

pytestmark = pytest.mark.timeout(150)


def test_make_run_keeps_the_demo_data_and_clock_unless_asked_to_start_afresh(tmp_path):
    port = _free_port()
    demo = tmp_path / "instance" / "demo"
    env = dict(os.environ, CUNBOX_INSTANCE_DIR=str(tmp_path / "instance"), CUNBOX_PORT=str(port),
               PYTHONUNBUFFERED="1")
    env.pop("CUNBOX_DATABASE_URL", None)
    env.pop("CUNBOX_DEMO_FRESH", None)
    base = "http://127.0.0.1:%d" % port

    with _make_run(env) as out:
        assert "Demo data: started afresh in %s (nothing kept yet)" % demo in out, out
        assert "the real time." in _line(out, "Demo clock:")
        token, body = _deposit_of(out)
        status, dep = call("POST", base + "/api/v1/deposits", token, body)
        assert status == 201, dep
        assert _console(_console_port(out), "clock +72h").endswith("72 h ahead of the real time")

    with _make_run(env) as out:
        assert "Demo data: kept the demo data from %s, 1 parcel " % demo in out, out
        assert "72 h ahead of the real time." in _line(out, "Demo clock:")
        assert _deposit_of(out)[0] == token  # the same county: its logins and tokens still work
        status, got = call("GET", base + "/api/v1/parcels/%d" % dep["parcel"]["id"], token)
        assert status == 200 and got["tracking_number"] == body["tracking_number"], got

    with _make_run(dict(env, CUNBOX_DEMO_FRESH="1")) as out:
        assert "Demo data: started afresh in %s (as asked)" % demo in out, out
        assert "the real time." in _line(out, "Demo clock:")
        token = _deposit_of(out)[0]
        status, got = call("GET", base + "/api/v1/parcels/%d" % dep["parcel"]["id"], token)
        assert status == 404, got


@pytest.mark.parametrize("args,seen", [(["FRESH=1"], "fresh=1"), ([], "fresh=")])
def test_make_run_fresh_reaches_the_demo(args, seen):
    """`make run FRESH=1` hands CUNBOX_DEMO_FRESH=1 to the demo (a stand-in for it here; installs skipped)."""
    stand_in = "PY=sh -c 'echo fresh=$$CUNBOX_DEMO_FRESH' --"
    out = subprocess.run(["make", "-s", "-o", ".venv/.stamp-installed", "-o", "node_modules/.stamp-installed", "run",
                          stand_in, *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
                         env={k: v for k, v in os.environ.items() if k != "CUNBOX_DEMO_FRESH"})
    assert out.stdout.strip() == seen


@contextlib.contextmanager
def _make_run(env):
    """`make run` as the Makefile starts it; yields the banner, then stops it with Ctrl-C."""
    proc = subprocess.Popen([sys.executable, "-m", "server.demo.run"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        end = time.monotonic() + 60
        while time.monotonic() < end:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Try:"):
                break
        out = "".join(lines)
        assert "cunbox is up" in out, out
        yield out
        proc.send_signal(2)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _line(out, start):
    return next(ln for ln in out.splitlines() if ln.startswith(start))


def _deposit_of(out):
    import json
    token = re.search(r"Bearer ([^']+)'", out).group(1)
    return token, json.loads(re.search(r"-d '(\{.*?\})'", out).group(1))


def _console_port(out):
    return int(re.search(r"locker \d+: nc 127\.0\.0\.1 (\d+)", out).group(1))
