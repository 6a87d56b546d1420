"""`make run` (python -m server.demo.run) starts the whole product within a bounded time, serves
HTTP, and stops cleanly on SIGINT and on SIGTERM; `cunbox demo --parcels 200 --json` runs a whole day
end to end with zero errors, zero lost events and zero double opens."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner
from support import ROOT
from support.demo_console import console as _console
from support.demo_console import free_tcp_port as _free_port

from server.cli import main


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_make_run_starts_serves_and_stops(tmp_path, sig):
    port = _free_port()  # the OS picks it: a fixed port may be another run's server on a shared machine
    env = dict(os.environ, CUNBOX_INSTANCE_DIR=str(tmp_path / "instance"), CUNBOX_PORT=str(port),
               PYTHONUNBUFFERED="1")
    env.pop("CUNBOX_DATABASE_URL", None)
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
            if line.startswith("Try:"):  # the last line of the walkthrough
                break
        out = "".join(lines)
        assert "cunbox is up: web pages http://127.0.0.1:%d/" % port in out, out
        assert "/dev/pts/" in out  # simulated lockers on real pseudo-terminals
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % port, timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen("http://127.0.0.1:%d/courier/login" % port, timeout=10) as r:
            assert r.status == 200  # the page the walkthrough sends the courier to
        # the walkthrough's deposit works as printed: the request returns once a simulated door opened
        token = re.search(r"Bearer ([^']+)'", out).group(1)
        body = json.loads(re.search(r"-d '(\{.*?\})'", out).group(1))
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/deposits" % port, data=json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            dep = json.loads(r.read())
        assert r.status == 201 and dep["command"]["state"] == "done" and dep["command"]["result"] == "opened", dep
        # ... then the person at the locker: parcel in, door shut, via the console the walkthrough names
        console_port = int(re.search(r"locker %d: nc 127\.0\.0\.1 (\d+)" % body["locker_id"], out).group(1))
        board, door = dep["command"]["payload"]["board"], dep["command"]["payload"]["index"]
        assert _console(console_port, "put %d %d" % (board, door)) == "ok"
        assert _console(console_port, "close %d %d" % (board, door)) == "ok"
        # the pickup SMS lands in the file the walkthrough names, with the code in it
        sms_log = re.search(r"lands in (\S+);", out).group(1)
        code = _wait(lambda: _code_in(sms_log, body["recipient_phone"]), "pickup SMS with a code")
        # the villager types the code at the locker: the same door opens, with no server round trip
        assert _console(console_port, "type %d %s#" % (board, code)) == "ok"
        _wait(lambda: _door_open(json.loads(_console(console_port, "state %d" % board)), door), "door opened by code")
        # the maintainer line: a release signed with the demo's key is accepted by this server
        _upload_signed_release(port, out)
        proc.send_signal(sig)
        rc = proc.wait(30)
        rest = proc.stdout.read()
        assert rc == 0, out + rest
        assert "cunbox: stopping" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.timeout(280)
def test_demo_day_80_parcels():
    # 80 parcels exercise every path of the day (offline pickups and drop-off, an overdue, sends) in a
    # third of the 200-parcel day's time; longer days belong in `cunbox demo` runs, not the suite.
    result = CliRunner().invoke(main, ["demo", "--parcels", "80", "--lockers", "4", "--threads", "12", "--json"])
    out = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == 0, (out, out.get("error_messages"))
    assert out["parcels"] == 80 and out["errors"] == 0 and out["lost_events"] == 0 and out["double_opens"] == 0
    assert out["deposited"] == 80 and out["picked_up"] == 79 and out["overdue"] == 1 and out["sent"] >= 1
    assert out["offline_pickups"] >= 2 and out["offline_dropoffs"] == 1
    for k in ("deposit_p50_ms", "deposit_p95_ms", "pickup_p50_ms", "pickup_p95_ms"):
        assert out[k] > 0


def _upload_signed_release(port, out):
    import base64
    import hashlib

    from firmware import update_image
    from server.firmware_delivery import keys
    m = re.search(r"--key (\S+)` signs a release; upload it at \S+ as (\S+) / (\S+)\.", out)
    key_path, login, password = m.groups()
    assert os.stat(key_path).st_mode & 0o077 == 0  # the private half is the owner's alone
    body = b"firmware 1.0.1" * 10
    manifest = {"format": update_image.FORMAT, "version": "1.0.1", "family": "cunbox-locker-v1", "min_protocol": 1,
                "files": [{"path": "firmware/x.mpy", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}]}
    image = update_image.pack_image(json.dumps(manifest).encode(), body, keys.read_private_key(key_path))
    token = _post(port, "/api/v1/auth/login", {"login": login, "password": password})["token"]
    rel = _post(port, "/api/v1/firmware/releases", {"image_base64": base64.b64encode(image).decode()}, token)
    assert rel["version"] == "1.0.1"


def _post(port, path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=json.dumps(body).encode(),
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _wait(fn, what, timeout=40):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def _code_in(path, phone):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if phone in line:
            m = re.search(r"取件码(\d{8})", line)
            if m:
                return m.group(1)
    return None


def _door_open(board_state, door):
    return board_state["compartments"][door - 1]["door_open"]


