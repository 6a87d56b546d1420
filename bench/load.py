"""A county's peak hour against a real server process on loopback.

The server is `cunbox serve` (waitress) in a second process; the load is CLIENTS threads here, each
with its own keep-alive HTTP connection, each doing whole journeys at random lockers among the
county's LOCKERS: a courier deposits (POST /deposits), the locker reports the door open and closed
on the parcel (POST door-events), the courier reads the parcel (GET /parcels/<id>), the villager's
code is checked at the locker (POST codes/verify), and the door opens and closes empty. Every
request's latency is kept by kind; any answer other than the expected status is an error.

Reference on the same server in the same run: GET /api/v1/health with the same number of clients
(the framework's trivial-endpoint floor).
"""
import http.client
import json
import random
import re
import threading
import time

from harness.crash import Server


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, method, path, token=None, body=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body) if body is not None else None
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


class Load:
    def __init__(self, port, county, db, seconds, clients, seed=5):
        self.port = port
        self.c = county
        self.db = db
        self.seconds = seconds
        self.clients = clients
        self.seed = seed
        self.lock = threading.Lock()
        self.lat = {}
        self.errors = []
        self.journeys = 0
        self.n = 0

    def _timed(self, client, kind, method, path, token, body, expect):
        t0 = time.perf_counter()
        st, out = client.call(method, path, token, body)
        dt = (time.perf_counter() - t0) * 1000.0
        with self.lock:
            self.lat.setdefault(kind, []).append(dt)
            if st not in expect:
                self.errors.append("%s %s -> %s %s" % (method, path, st, str(out)[:200]))
        return st, out

    def _code(self, pid):
        from sqlalchemy import select

        from server.models import Notification
        with self.db.reading() as s:
            note = s.scalars(select(Notification).where(Notification.parcel_id == pid,
                                                        Notification.kind == "pickup_code")
                             .order_by(Notification.id.desc())).first()
        return re.search(r"取件码(\d{8})", note.body).group(1)

    def journey(self, client, rng):
        c = self.c
        with self.lock:
            self.n += 1
            n = self.n
        locker = rng.choice(c.lockers)
        station = c.locker_station[locker]
        phone = rng.choice(c.phones_by_station[station])
        courier = rng.choice(c.courier_tokens)
        st, out = self._timed(client, "deposit", "POST", "/api/v1/deposits", courier,
                              {"locker_id": locker, "tracking_number": "LD%09d" % n, "recipient_phone": phone,
                               "size": rng.choice("SSML")}, (201,))
        if st != 201:
            return
        pid, comp = out["parcel"]["id"], out["compartment"]["id"]
        ltok = c.locker_tokens[locker]
        door = "/api/v1/lockers/%d/door-events" % locker
        self._timed(client, "door event", "POST", door, ltok, {"compartment_id": comp, "event": "opened"}, (200,))
        self._timed(client, "door event", "POST", door, ltok, {"compartment_id": comp, "event": "closed",
                                                               "occupied": True}, (200,))
        self._timed(client, "read parcel", "GET", "/api/v1/parcels/%d" % pid, courier, None, (200,))
        code = self._code(pid)
        self._timed(client, "code check", "POST", "/api/v1/lockers/%d/codes/verify" % locker, ltok,
                    {"code": code, "source": "kiosk"}, (200,))
        self._timed(client, "door event", "POST", door, ltok, {"compartment_id": comp, "event": "opened"}, (200,))
        self._timed(client, "door event", "POST", door, ltok, {"compartment_id": comp, "event": "closed",
                                                               "occupied": False}, (200,))
        with self.lock:
            self.journeys += 1

    def _worker(self, k, end):
        rng = random.Random(self.seed * 1000 + k)
        client = Client(self.port)
        while time.monotonic() < end:
            try:
                self.journey(client, rng)
            except Exception as exc:  # noqa: BLE001 - counted as an error, the load goes on
                with self.lock:
                    self.errors.append(repr(exc))

    def run(self):
        end = time.monotonic() + self.seconds
        threads = [threading.Thread(target=self._worker, args=(k, end)) for k in range(self.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.elapsed = time.monotonic() - t0
        return self


def floor(port, seconds, clients):
    """Requests per second of GET /api/v1/health with `clients` keep-alive clients."""
    count = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker():
        cl = Client(port)
        n = 0
        while time.monotonic() < end:
            st, _ = cl.call("GET", "/api/v1/health")
            if st == 200:
                n += 1
        with lock:
            count[0] += n

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.monotonic() - t0)


def run_load(kind, seconds=30, clients=16, lockers=500, port=48430, threads=16, log=print):
    """Build a county of `lockers` lockers, start the server, load it; returns a dict of figures."""
    from harness import county as county_mod
    from server.db import Database
    url, drop = county_mod.fresh_database(kind)
    db = Database(url, settings={"PUBLIC_URL": "http://cunbox.test"})
    server = None
    try:
        t0 = time.monotonic()
        stations = max(1, lockers // 10)
        c = county_mod.build(db, stations=stations, lockers_per_station=10, boards=2, per_board=12,
                             villagers_per_station=20, couriers=8)
        c.phones_by_station = {}
        for p, s in zip(c.phones, c.station_of_phone, strict=True):
            c.phones_by_station.setdefault(s, []).append(p)
        log("load %s: county of %d lockers built in %.1f s" % (kind, len(c.lockers), time.monotonic() - t0))
        server = Server(url, port, threads=threads)
        server.start(wait=60)
        health = floor(port, min(10, seconds), clients)
        load = Load(port, c, db, seconds, clients).run()
        requests = sum(len(v) for v in load.lat.values())
        out = {"lockers": len(c.lockers), "clients": clients, "journeys": load.journeys, "requests": requests,
               "seconds": load.elapsed, "throughput": requests / load.elapsed, "errors": load.errors,
               "health_rps": health, "latency": {}}
        everything = [x for v in load.lat.values() for x in v]
        for name, values in sorted(load.lat.items()) + [("all requests", everything)]:
            out["latency"][name] = {p: percentile(values, p) for p in (50, 95, 99)}
        log("load %s: %d journeys, %d requests, %.0f req/s (health floor %.0f req/s), %d errors" % (
            kind, load.journeys, requests, out["throughput"], health, len(load.errors)))
        return out
    finally:
        if server is not None:
            server.stop()
        db.dispose()
        drop()
