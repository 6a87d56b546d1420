"""Server benchmarks (`make bench`, or `python -m bench server`).

1. Deposit+pickup cycles per second through the HTTP API, 16 concurrent clients, against a real
   waitress server in a separate process on loopback; SQLite file, and PostgreSQL when
   CUNBOX_TEST_POSTGRES_URL is set; the clients are spread over the 4 lockers of one station (codes
   are issued under a per-locker lock). One cycle = deposit, door closed with the parcel, code typed
   at the locker, door closed empty (4 HTTP requests; the client reads the code from the outbox as the
   villager would read the SMS). Reference: the same server's /api/v1/health throughput (the floor
   the framework and WSGI server allow on this machine).
2. Assignment latency (the whole deposit service call, in process) with 100 vs 10,000 lockers in the
   database.

Bounded: each throughput phase runs CUNBOX_BENCH_SECONDS (default 8) seconds.
"""
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from harness.county import PG_URL  # CUNBOX_TEST_POSTGRES_URL (make bench: the local server when it answers)

CLIENTS = 16
SECONDS = float(os.environ.get("CUNBOX_BENCH_SECONDS", "8"))
SECTION = "server"


# ---- fixtures -------------------------------------------------------------------------------------

def _prepare(url, lockers=4, compartments=24, phones=CLIENTS):
    """Migrate and fill a database: one station with `lockers` lockers, a courier, consenting villagers."""
    from server import migrate
    from server.db import Database
    from server.services import accounts, provisioning

    migrate.upgrade(url)
    db = Database(url)
    with db.transaction() as s:
        town = provisioning.township(s, "Bench township", "Bench county")
        st = provisioning.station(s, town, "Bench station", "Bench village")
        carrier = provisioning.carrier(s, "post", "China Post", "postal")
        courier = accounts.create_user(s, "courier", "bench-courier", "pw", "Bench", carrier_id=carrier.id)
        info = {"lockers": [], "courier_token": accounts.issue_token(s, user=courier),
                "phones": ["139%08d" % i for i in range(phones)]}
        for n in range(lockers):
            lk = provisioning.locker(s, st, "Bench locker %d" % n, "socket://127.0.0.1:1",
                                     [(1, [("S", False, "middle")] * (compartments // 2)),
                                      (2, [("M", False, "low")] * (compartments - compartments // 2))])
            info["lockers"].append((lk.id, accounts.issue_token(s, locker=lk)))
        for p in info["phones"]:
            provisioning.account(s, st, "villager", p, consent=True)
    db.dispose()
    return info


def _private_pg(server_url):
    import uuid

    from sqlalchemy import create_engine, text
    name = "cunbox_bench_%s" % uuid.uuid4().hex[:10]
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "%s"' % name))

    def drop():
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name, drop


# ---- the server, in its own process ---------------------------------------------------------------

def _serve(url, port):
    from server.app import create_app
    from server.serve import make_server
    make_server(create_app({"DATABASE_URL": url}), "127.0.0.1", port, threads=CLIENTS).run()


class ServerProcess:
    def __init__(self, url):
        from server.serve import free_port
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=os.getcwd())
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.bench_server", "serve", url, str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % self.port, timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("bench server did not start: %s" % self.stderr()) from None
                time.sleep(0.2)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, token=None, body=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, json.loads(data) if data else None


def _run_clients(work, seconds):
    """Run work(i, stop) in CLIENTS threads for `seconds`; each returns a count; -> total, elapsed."""
    stop = threading.Event()
    counts = [0] * CLIENTS
    errors = []

    def body(i):
        try:
            counts[i] = work(i, stop)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
            stop.set()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(CLIENTS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError("bench client failed: %s" % errors[0])
    return sum(counts), elapsed


def _floor(port, seconds):
    def work(i, stop):
        c, n = Client(port), 0
        while not stop.is_set():
            status, _ = c.call("GET", "/api/v1/health")
            assert status == 200
            n += 1
        return n
    return _run_clients(work, seconds)


def _cycles(url, port, info, seconds):
    from sqlalchemy import text

    from server.db import make_engine
    engine = make_engine(url)
    code_re = re.compile(r"取件码(\d{8})")
    latencies = []

    def work(i, stop):
        c, n = Client(port), 0
        lk, locker_token = info["lockers"][i % len(info["lockers"])]
        with engine.connect() as conn:
            while not stop.is_set():
                t0 = time.perf_counter()
                status, dep = c.call("POST", "/api/v1/deposits", info["courier_token"],
                                     {"locker_id": lk, "tracking_number": "BENCH%02d%07d" % (i, n),
                                      "recipient_phone": info["phones"][i], "size": "S"})
                assert status == 201, dep
                comp = dep["compartment"]["id"]
                status, out = c.call("POST", "/api/v1/lockers/%d/door-events" % lk, locker_token,
                                     {"compartment_id": comp, "event": "closed", "occupied": True})
                assert status == 200 and out["outcome"] == "deposit_confirmed", out
                body = conn.execute(text("SELECT body FROM notifications WHERE parcel_id = :p "
                                         "AND kind = 'pickup_code'"), {"p": dep["parcel"]["id"]}).scalar_one()
                conn.rollback()
                code = code_re.search(body).group(1)
                status, out = c.call("POST", "/api/v1/lockers/%d/codes/verify" % lk, locker_token,
                                     {"code": code, "source": "bench-%d" % i})
                assert status == 200, out
                status, out = c.call("POST", "/api/v1/lockers/%d/door-events" % lk, locker_token,
                                     {"compartment_id": comp, "event": "closed", "occupied": False})
                assert status == 200 and out["outcome"] == "picked_up", out
                latencies.append(time.perf_counter() - t0)
                n += 1
        return n

    try:
        total, elapsed = _run_clients(work, seconds)
    finally:
        engine.dispose()
    return total, elapsed, latencies


def _throughput(report, label, url):
    info = _prepare(url)
    srv = ServerProcess(url)
    try:
        floor_n, floor_t = _floor(srv.port, SECONDS / 2)
        floor = floor_n / floor_t
        n, t, lat = _cycles(url, srv.port, info, SECONDS)
    except Exception:
        print(srv.stderr(), file=sys.stderr)
        raise
    finally:
        srv.close()
    cycles = n / t
    report.add(SECTION, "%s: deposit+pickup cycles/s (16 clients, 4 requests each)" % label, round(cycles, 1),
               "cycles/s", command="python -m bench server")
    report.add(SECTION, "%s: API requests/s in those cycles" % label, round(4 * cycles, 1), "req/s",
               reference=round(floor, 1), reference_name="req/s on /health (framework floor)")
    lat.sort()
    report.add(SECTION, "%s: cycle latency p50" % label, round(1000 * statistics.median(lat), 1), "ms")
    report.add(SECTION, "%s: cycle latency p95" % label, round(1000 * lat[int(0.95 * (len(lat) - 1))], 1), "ms")


# ---- assignment latency vs fleet size -------------------------------------------------------------

def _fill_fleet(url, lockers, per_locker=24):
    """Bulk-insert `lockers` lockers (4 per station, one consenting villager per station)."""
    from sqlalchemy import insert

    from server import migrate
    from server.db import Database
    from server.models import Account, Board, Carrier, Compartment, Locker, Station, Township, User
    from server.services import provisioning

    migrate.upgrade(url)
    db = Database(url)
    layout = provisioning.standard_layout(boards=2, per_board=per_locker // 2)
    stations = (lockers + 3) // 4
    with db.transaction() as s:
        s.execute(insert(Township), [{"id": 1, "name": "T", "county": "C"}])
        s.execute(insert(Station), [{"id": i + 1, "township_id": 1, "name": "S%d" % i, "address": "A%d" % i,
                                     "storage_hours": 72, "reservation_minutes": 10, "free_hours": 72,
                                     "recipient_fee_cents_per_day": 0, "deposit_fee_cents": 30,
                                     "collection_fee_cents": 30, "compartment_hour_cents": 1,
                                     "chilled_min_c": 0.0, "chilled_max_c": 8.0} for i in range(stations)])
        s.execute(insert(Locker), [{"id": i + 1, "station_id": i // 4 + 1, "name": "L%d" % i,
                                    "serial_url": "socket://127.0.0.1:1"} for i in range(lockers)])
        s.execute(insert(Board), [{"id": i * 2 + b + 1, "locker_id": i + 1, "address": b + 1}
                                  for i in range(lockers) for b in range(2)])
        rows = []
        for i in range(lockers):
            for b, (_addr, comps) in enumerate(layout):
                for j, (size, chilled, height) in enumerate(comps, start=1):
                    rows.append({"board_id": i * 2 + b + 1, "locker_id": i + 1, "index": j, "size": size,
                                 "chilled": chilled, "height_band": height, "state": "free", "door": "closed",
                                 "open_count": random.randint(0, 50)})
        s.execute(insert(Compartment), rows)
        s.execute(insert(Account), [{"station_id": i + 1, "name": "V", "phone": "13900000000",
                                     "consent_locker": True} for i in range(stations)])
        s.execute(insert(Carrier), [{"id": 1, "code": "post", "name": "Post", "kind": "postal"}])
        s.execute(insert(User), [{"id": 1, "role": "courier", "login": "c", "name": "c", "password_hash": "-",
                                  "carrier_id": 1, "active": True}])
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:  # the bulk insert set explicit ids: move the sequences on
            for table in ("townships", "stations", "lockers", "boards", "carriers", "users"):
                conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('%s', 'id'), "
                                     "(SELECT max(id) FROM %s))" % (table, table))
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return db


def _assignment_latency(report, label, make_url, sizes=(100, 10000), samples=200):
    from server.services import deposits
    from server.services.principals import Principal
    courier = Principal("courier", user_id=1, carrier_id=1)
    results = {}
    for n in sizes:
        url, cleanup = make_url(n)
        db = _fill_fleet(url, n)
        try:
            rng = random.Random(n)
            lat = []
            for k in range(samples):
                locker = rng.randint(1, n)
                t0 = time.perf_counter()
                deposits.start_deposit(db, courier, locker, "AS%07d" % k, "13900000000", "S")
                lat.append(time.perf_counter() - t0)
            lat.sort()
            results[n] = (statistics.median(lat), lat[int(0.95 * (len(lat) - 1))])
        finally:
            db.dispose()
            cleanup()
    small, big = sizes
    report.add(SECTION, "%s: deposit service latency p50, %d lockers" % (label, small),
               round(1000 * results[small][0], 2), "ms")
    report.add(SECTION, "%s: deposit service latency p50, %d lockers" % (label, big),
               round(1000 * results[big][0], 2), "ms", reference=round(1000 * results[small][0], 2),
               reference_name="ms with %d lockers" % small)
    report.add(SECTION, "%s: deposit service latency p95, %d lockers" % (label, big),
               round(1000 * results[big][1], 2), "ms", reference=round(1000 * results[small][1], 2),
               reference_name="ms p95 with %d lockers" % small)


def run(report):
    fleet = not os.environ.get("CUNBOX_BENCH_SKIP_FLEET")  # the 10,000-locker fill takes the longest
    with tempfile.TemporaryDirectory(prefix="cunbox-bench-") as tmp:
        _throughput(report, "SQLite", "sqlite:///%s/bench.sqlite3" % tmp)
        if fleet:
            _assignment_latency(report, "SQLite", lambda n: ("sqlite:///%s/fleet%d.sqlite3" % (tmp, n), _noop))
    if not PG_URL:
        report.add(SECTION, "PostgreSQL figures", "skipped", "", note="set CUNBOX_TEST_POSTGRES_URL")
        return
    url, drop = _private_pg(PG_URL)
    try:
        _throughput(report, "PostgreSQL", url)
    finally:
        drop()
    if fleet:
        _assignment_latency(report, "PostgreSQL", lambda n: _private_pg(PG_URL))


def _noop():
    pass


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        _serve(sys.argv[2], int(sys.argv[3]))
    else:
        from harness.report import Report
        rep = Report()
        run(rep)
