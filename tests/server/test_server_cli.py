"""`cunbox db upgrade`, `cunbox seed-demo` and `cunbox serve` as a person would run them."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

from support.server_world import bearer

from server.app import create_app

CLI = [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())"]


def _run(args, env):
    """The `cunbox` command in process (click's runner), with its own environment."""
    from click.testing import CliRunner

    from server.cli import main
    r = CliRunner().invoke(main, args, env=env)
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def test_seed_demo_and_use_what_it_prints(tmp_path):
    env = {"CUNBOX_DATABASE_URL": "sqlite:///%s" % (tmp_path / "demo.sqlite3")}
    r = _run(["seed-demo"], env)
    assert r.returncode != 0 and "cunbox db upgrade" in r.stderr  # no schema yet: says what to do
    assert _run(["db", "upgrade"], env).returncode == 0
    r = _run(["seed-demo", "--json"], env)
    assert r.returncode == 0, r.stderr
    demo = json.loads(r.stdout)
    assert len(demo["stations"]) == 3 and len(demo["carriers"]) == 4 and len(demo["couriers"]) >= 4
    assert {c["carrier"] for c in demo["couriers"]} == {"post", "sf", "zto", "coop"}
    assert len(demo["lockers"]) == 4 and len(demo["accounts"]) == 24
    # What a villager or keeper reads of the demo is Chinese only: no Latin letters in any name.
    names = [x["name"] for part in ("stations", "carriers", "lockers", "accounts") for x in demo[part]]
    assert [n for n in names if re.search("[A-Za-z]", n)] == []
    assert _run(["seed-demo"], env).returncode != 0  # never seeds twice

    app = create_app({"DATABASE_URL": env["CUNBOX_DATABASE_URL"]})
    client = app.test_client()
    courier = demo["couriers"][0]
    login = client.post("/api/v1/auth/login", json={"login": courier["login"], "password": courier["password"]})
    assert login.status_code == 200 and login.get_json()["role"] == "courier"
    assert client.post("/api/v1/auth/login", json={"login": courier["login"], "password": "x"}).status_code == 401
    villager = next(a for a in demo["accounts"] if a["consent"])
    locker = next(lk for lk in demo["lockers"] if lk["station_id"] == villager["station_id"])
    for i, token in enumerate((courier["token"], login.get_json()["token"])):
        r = client.post("/api/v1/deposits", headers=bearer(token),
                        json={"locker_id": locker["id"], "tracking_number": "DEMO%06d" % i,
                              "recipient_phone": villager["phone"], "size": "M"})
        assert r.status_code == 201, r.get_json()
    app.extensions["cunbox_db"].dispose()

    r = _run(["seed-demo"], {"CUNBOX_DATABASE_URL": "sqlite:///%s" % (tmp_path / "other.sqlite3")})
    assert r.returncode != 0


def test_serve_runs_waitress_and_answers(tmp_path):
    env = dict(os.environ, CUNBOX_DATABASE_URL="sqlite:///%s" % (tmp_path / "serve.sqlite3"))
    assert _run(["db", "upgrade"], env).returncode == 0
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd()] + sys.path)
    port = _free_port()
    proc = subprocess.Popen(CLI + ["serve", "--port", str(port), "--housekeeping-period", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % port, timeout=2) as resp:
                    assert json.loads(resp.read()) == {"status": "ok"}
                    assert resp.headers["Server"] == "cunbox"  # waitress, not the Flask debug server
                    break
            except OSError:
                assert proc.poll() is None and time.time() < deadline
                time.sleep(0.2)
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/openapi.json" % port, timeout=5) as resp:
            assert json.loads(resp.read())["openapi"].startswith("3.")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _free_port():
    """A port the OS picks, as tests/link/test_link_run_demo.py does. server.serve.free_port() scans from 42000 and
    the server binds only a second later, in its own process: two suites started at once on a shared machine
    would both be given 42000, and the later `cunbox serve` fail to bind."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
