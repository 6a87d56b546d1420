"""Crash safety: the API server is killed with SIGKILL at random moments while couriers deposit and
villagers pick up, restarted at once, and afterwards the database must show nothing lost and
nothing duplicated.

The server is a real `cunbox serve` process (waitress) on loopback; the clients are threads here that
behave like handhelds and lockers: every request that fails on the connection is sent again, as is,
until it gets an answer. Like a locker, the client sends the code check and the door events with an
Idempotency-Key chosen per attempt and kept for every resend of it (finding F4). Door events come
through the locker's HTTP API (POST door-events), which is what the link calls in process; the
link's own crash safety is exercised once it runs as a process.

Checked at the end, on the database itself:
- every journey's parcel exists exactly once (tracking numbers never duplicated, none lost);
- every finished journey's parcel is picked_up, its compartment free, its code used;
- no compartment holds two parcels, no compartment is left reserved or opening without a parcel;
- exactly one door command per (parcel, purpose) and one pickup-code notification per parcel;
- a resent code check gets the first copy's answer (a pickup), never "wrong code" (F4);
- each finished parcel has exactly two door_opened and two door_closed rows in the audit trail
  (deposit and pickup): a resent door event is not written twice;
- SQLite: PRAGMA integrity_check is ok.
"""
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Down(Exception):
    """The server did not answer (connection refused/reset, timeout): send the request again."""


def free_port():
    """A port the OS picks (a fixed port may be another run's server on a shared machine)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call_http(base, method, path, token=None, body=None, timeout=10, key=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    if key:
        headers["Idempotency-Key"] = key
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, {"raw": raw[:200].decode("latin-1")}
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
        raise Down(str(exc)) from exc


class KillableChild:
    """A child process the crash runs SIGKILL and start again; stop() asks politely first."""

    stop_timeout = 10
    proc = None
    kills = 0

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()


class Server(KillableChild):
    """`cunbox serve` as a child process that can be killed and started again."""

    def __init__(self, url, port, threads=8):
        self.url = url
        self.port = port
        self.threads = threads
        self.base = "http://127.0.0.1:%d" % port
        self.proc = None
        self.kills = 0
        self.starts = 0

    def start(self, wait=30.0):
        env = dict(os.environ, CUNBOX_DATABASE_URL=self.url, CUNBOX_SECRET="crash-harness-server-secret")
        cmd = [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())", "serve",
               "--host", "127.0.0.1", "--port", str(self.port), "--threads", str(self.threads),
               "--housekeeping-period", "0"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.starts += 1
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: %s" % self.proc.stderr.read().decode()[-2000:])
            try:
                if call_http(self.base, "GET", "/api/v1/health", timeout=1)[0] == 200:
                    return
            except Down:
                time.sleep(0.05)
        raise RuntimeError("server did not come up on port %d" % self.port)



class Run:
    def __init__(self, base, county, db):
        self.base = base
        self.c = county
        self.db = db
        self.lock = threading.Lock()
        self.retries = 0
        self.server_errors = []
        self.wrong_after_resend = []  # F4: a resent code check answered "wrong code" (must stay empty)
        self.done = []           # parcel ids of finished journeys
        self.tracking = []       # every tracking number a journey started with
        self.failures = []

    def call(self, method, path, token, body, deadline=90.0, key=None):
        """Send until answered; every copy carries the same idempotency key (one attempt)."""
        end = time.monotonic() + deadline
        tries = 0
        while True:
            tries += 1
            try:
                status, out = call_http(self.base, method, path, token, body, key=key)
            except Down:
                if time.monotonic() > end:
                    raise
                with self.lock:
                    self.retries += 1
                time.sleep(0.05)
                continue
            if status >= 500:
                with self.lock:
                    self.server_errors.append((method, path, status, out))
                time.sleep(0.05)
                if time.monotonic() > end:
                    return status, out, tries
                continue
            return status, out, tries

    def journey(self, i, rng):
        c = self.c
        locker = c.lockers[i % len(c.lockers)]
        station = c.locker_station[locker]
        phones = [p for p, s in zip(c.phones, c.station_of_phone, strict=True) if s == station]
        tracking = "CR%08d" % i
        with self.lock:
            self.tracking.append(tracking)
        courier = c.courier_tokens[i % len(c.courier_tokens)]
        st, out, _ = self.call("POST", "/api/v1/deposits", courier,
                               {"locker_id": locker, "tracking_number": tracking,
                                "recipient_phone": phones[i % len(phones)], "size": rng.choice("SML")})
        if st not in (200, 201):
            raise AssertionError("deposit %s: %s %s" % (tracking, st, out))
        pid, comp = out["parcel"]["id"], out["compartment"]["id"]
        ltok = c.locker_tokens[locker]
        door = "/api/v1/lockers/%d/door-events" % locker
        for ev, occ in (("opened", None), ("closed", True)):
            body = {"compartment_id": comp, "event": ev}
            if occ is not None:
                body["occupied"] = occ
            st, out, _ = self.call("POST", door, ltok, body, key=uuid.uuid4().hex)
            assert st == 200, (tracking, ev, st, out)
        code = self._code(pid)
        st, out, tries = self.call("POST", "/api/v1/lockers/%d/codes/verify" % locker, ltok,
                                   {"code": code, "source": "kiosk-%d" % (i % 7)}, key=uuid.uuid4().hex)
        if st == 403 and tries > 1:
            with self.lock:
                self.wrong_after_resend.append(tracking)
        if st != 200:
            raise AssertionError("pickup %s: %s %s (after %d copies)" % (tracking, st, out, tries))
        for ev, occ in (("opened", None), ("closed", False)):
            body = {"compartment_id": comp, "event": ev}
            if occ is not None:
                body["occupied"] = occ
            st, out, _ = self.call("POST", door, ltok, body, key=uuid.uuid4().hex)
            assert st == 200, (tracking, ev, st, out)
        with self.lock:
            self.done.append(pid)

    def _code(self, pid):
        from sqlalchemy import select

        from server.models import Notification
        with self.db.reading() as s:
            note = s.scalars(select(Notification).where(Notification.parcel_id == pid,
                                                        Notification.kind == "pickup_code")
                             .order_by(Notification.id.desc())).first()
        return re.search(r"取件码(\d{8})", note.body).group(1)

    def worker(self, next_id, seed):
        rng = random.Random(seed)
        while True:
            i = next_id()
            if i is None:
                return
            try:
                self.journey(i, rng)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, the run goes on
                with self.lock:
                    self.failures.append("journey %d: %r" % (i, exc))


def check(db, run):
    """Problems found in the database after the run (empty list: nothing lost, nothing duplicated)."""
    from sqlalchemy import func, select, text

    from server.models import AccessCode, AuditEvent, Compartment, LockerCommand, Notification, Parcel
    problems = []
    with db.reading() as s:
        counts = dict(s.execute(select(Parcel.tracking_number, func.count()).group_by(Parcel.tracking_number)).all())
        for t in run.tracking:
            if counts.get(t, 0) != 1:
                problems.append("tracking %s stored %d times" % (t, counts.get(t, 0)))
        for pid in run.done:
            p = s.get(Parcel, pid)
            if p.state != "picked_up" or p.active_compartment_id is not None:
                problems.append("parcel %d is %s (compartment %s)" % (pid, p.state, p.active_compartment_id))
            codes = s.scalars(select(AccessCode).where(AccessCode.parcel_id == pid)).all()
            if [c.state for c in codes] != ["used"]:
                problems.append("parcel %d codes %s" % (pid, [c.state for c in codes]))
            notes = s.scalar(select(func.count()).select_from(Notification).where(
                Notification.parcel_id == pid, Notification.kind == "pickup_code"))
            if notes != 1:
                problems.append("parcel %d: %d pickup notifications" % (pid, notes))
            doors = dict(s.execute(select(AuditEvent.action, func.count()).where(
                AuditEvent.parcel_id == pid, AuditEvent.action.in_(("door_opened", "door_closed")))
                .group_by(AuditEvent.action)).all())
            if doors != {"door_opened": 2, "door_closed": 2}:
                problems.append("parcel %d: door events in the audit trail %s (2 of each expected)" % (pid, doors))
        dup = s.execute(select(LockerCommand.parcel_id, LockerCommand.purpose, func.count())
                        .where(LockerCommand.parcel_id.is_not(None), LockerCommand.kind == "open")
                        .group_by(LockerCommand.parcel_id, LockerCommand.purpose).having(func.count() > 1)).all()
        problems += ["parcel %s: %d door commands for %s" % (p, n, why) for p, why, n in dup]
        busy = s.execute(select(Parcel.active_compartment_id, func.count()).where(
            Parcel.active_compartment_id.is_not(None)).group_by(Parcel.active_compartment_id)
            .having(func.count() > 1)).all()
        problems += ["compartment %s holds %d parcels" % (c, n) for c, n in busy]
        held = set(s.scalars(select(Parcel.active_compartment_id).where(
            Parcel.active_compartment_id.is_not(None))).all())
        for comp in s.scalars(select(Compartment).where(Compartment.state != "free")).all():
            if comp.id not in held and comp.state in ("reserved", "occupied"):
                problems.append("compartment %d is %s with no parcel" % (comp.id, comp.state))
        if db.is_sqlite:
            ok = s.execute(text("PRAGMA integrity_check")).scalar()
            if ok != "ok":
                problems.append("sqlite integrity_check: %s" % ok)
    return problems


def run_crash(kind="sqlite", journeys=40, clients=4, kill_every=(0.5, 2.5), port=None, seed=7, log=print,
              kills=None):
    """One crash run. kill_every: how long the server lives after each start before it is killed.
    kills: if given, journeys keep starting until the server has been killed this many times (then
    `journeys` is only a floor), so a fast machine cannot finish the work between two kills."""
    from harness import county as county_mod
    from server.db import Database
    url, drop = county_mod.fresh_database(kind)
    db = Database(url, settings={"PUBLIC_URL": "http://cunbox.test"})
    try:
        c = county_mod.build(db, stations=1, lockers_per_station=2, boards=2, per_board=12,
                             villagers_per_station=40)
        server = Server(url, port or free_port())
        server.start()
        run = Run(server.base, c, db)
        restart_s = []
        taken = [0]
        lock = threading.Lock()

        def next_id():
            with lock:
                if taken[0] >= journeys and (kills is None or server.kills >= kills):
                    return None
                taken[0] += 1
                return taken[0] - 1

        threads = [threading.Thread(target=run.worker, args=(next_id, seed + k)) for k in range(clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        rng = random.Random(seed)
        while any(t.is_alive() for t in threads):
            time.sleep(rng.uniform(*kill_every))
            if not any(t.is_alive() for t in threads):
                break
            server.kill()
            t1 = time.monotonic()
            server.start()
            restart_s.append(time.monotonic() - t1)
        for t in threads:
            t.join()
        seconds = time.monotonic() - t0
        server.stop()
        problems = list(run.failures) + ["5xx: %r" % (e,) for e in run.server_errors[:5]] + check(db, run)
        problems += ["F4: resent code check for %s answered 'wrong code'" % t for t in run.wrong_after_resend]
        out = {"journeys": taken[0], "finished": len(run.done), "kills": server.kills, "retries": run.retries,
               "wrong_after_resend": len(run.wrong_after_resend), "server_errors": len(run.server_errors),
               "seconds": seconds,
               "restart_s": sorted(restart_s)[len(restart_s) // 2] if restart_s else None,
               "problems": problems}
        log("crash %s: %d journeys, %d kills, %d retried requests, %d wrong after resend, %d problems in %.1f s" % (
            kind, len(run.done), server.kills, run.retries, len(run.wrong_after_resend), len(problems), seconds))
        return out
    finally:
        db.dispose()
        drop()
