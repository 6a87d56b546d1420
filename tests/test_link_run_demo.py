"""`make run` (python -m server.run_demo) starts the whole product within a bounded time, serves
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

from server.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig,port", [(signal.SIGINT, 47401), (signal.SIGTERM, 47402)])
def test_make_run_starts_serves_and_stops(tmp_path, sig, port):
    env = dict(os.environ, CUNBOX_INSTANCE_DIR=str(tmp_path / "instance"), CUNBOX_PORT=str(port),
               PYTHONUNBUFFERED="1")
    env.pop("CUNBOX_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "server.run_demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
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
        assert "cunbox is up: API http://127.0.0.1:%d/api/v1" % port in out, out
        assert "/dev/pts/" in out  # simulated lockers on real pseudo-terminals
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % port, timeout=10) as r:
            assert r.status == 200
        # the walkthrough's deposit works as printed: the request returns once a simulated door opened
        token = re.search(r"Bearer ([^']+)'", out).group(1)
        body = json.loads(re.search(r"-d '(\{.*?\})'", out).group(1))
        req = urllib.request.Request("http://127.0.0.1:%d/api/v1/deposits" % port, data=json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            dep = json.loads(r.read())
        assert r.status == 201 and dep["command"]["state"] == "done" and dep["command"]["result"] == "opened", dep
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
def test_demo_day_200_parcels():
    result = CliRunner().invoke(main, ["demo", "--parcels", "200", "--lockers", "4", "--threads", "12", "--json"])
    out = json.loads(result.output.strip().splitlines()[-1])
    assert result.exit_code == 0, out
    assert out["parcels"] == 200 and out["errors"] == 0 and out["lost_events"] == 0 and out["double_opens"] == 0
    assert out["deposited"] == 200 and out["picked_up"] == 199 and out["overdue"] == 1 and out["sent"] >= 1
    assert out["offline_pickups"] >= 2
    for k in ("deposit_p50_ms", "deposit_p95_ms", "pickup_p50_ms", "pickup_p95_ms"):
        assert out[k] > 0
