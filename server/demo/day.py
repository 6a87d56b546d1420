"""`cunbox demo --parcels N --json`: a whole day at the demo county, end to end.

Everything goes through the real pieces: the HTTP API (waitress), the link over real pseudo-terminals
(or TCP), the real firmware in the simulated boards, the physics of doors and parcels. The day:

1. a link outage: a few parcels are deposited at the first locker and a send is booked there (its
   drop-off code reaches the board with the compartment reserved for it), then its wire is cut and
   the villagers pick up by keypad, and the sender drops the produce off by keypad, while the server
   cannot hear; the wire is mended and the pickups and the drop-off must be reconciled from the
   boards' journals; the carrier's courier then collects the send;
2. the main flow: couriers of every carrier deposit (POST /deposits; the request waits for the
   door), close the door on the parcel, the code reaches the board, and the villager picks up by
   keypad or by scanning the QR code at the locker;
3. a few sends: the station books them (POST /sends), the villager drops off at the locker (the
   locker's kiosk verifies the drop-off code, POST /lockers/<id>/codes/verify), a courier collects;
4. an overdue parcel: deposited, never picked up; the storage period is run forward (housekeeping
   with the clock moved past it — the one place the day's clock is fast-forwarded), and the station
   retrieves it to the counter (POST /parcels/<id>/retrieve).

Measured: deposit_ms = POST /deposits until its door command is final (the request itself waits up
to 10 s for the door; past that the handheld polls the command's status_url, and so does the demo);
pickup_ms = code entered at the locker -> door open, plus door closed -> the server records the
parcel picked up (the villager's own time with the door open is left out).
double_opens = lock pulses counted by the simulator beyond the openings the server ordered or the
boards reported; lost_events = gaps in the stored event seqs, journal overflows, and events left
unread or unapplied at the end of the day.
"""
import datetime
import json
import random
import sys
import threading
import time

import click

from protocol import messages as m


class Day:
    def __init__(self, parcels=200, lockers=3, threads=8, transport="pty", baud=115200, seed=1, log=None):
        self.n = parcels
        self.n_lockers = lockers
        self.threads = threads
        self.transport = transport
        self.baud = baud
        self.rng = random.Random(seed)
        self.log = log or (lambda msg: None)
        self.errors = []
        self.deposit_ms = []
        self.pickup_ms = []
        self.counts = {"deposited": 0, "picked_up": 0, "sent": 0, "overdue": 0, "offline_pickups": 0,
                       "offline_dropoffs": 0}
        self._lock = threading.Lock()
        self._next = 0

    # -- plumbing -----------------------------------------------------------------------------------
    def _http(self, method, path, token, body=None):
        return call(method, self.stack.url + path, token, body)

    def _door(self, status, out, token, ok_status=(200, 201)):
        """The command of a door-opening response, followed as the handheld does: if the request's
        bounded wait ran out before the door spoke, poll its status_url until it is final."""
        if status not in ok_status or not isinstance(out, dict) or not out.get("command"):
            return None
        cmd = out["command"]
        end = time.monotonic() + 60
        while cmd.get("state") in ("queued", "sent") and time.monotonic() < end:
            time.sleep(0.1)
            st, polled = self._http("GET", cmd["status_url"], token)
            if st == 200:
                cmd = dict(polled, status_url=cmd["status_url"])
        out["command"] = cmd
        return cmd

    def _story(self, out):
        """What became of a door command that did not end 'done', for the error message: its row, its
        link attempt, and how the locker's bus master sees the board."""
        from server.models import LockerCommand
        from server.models.link import LinkAttempt
        cmd = out.get("command") if isinstance(out, dict) else None
        if not cmd or "id" not in cmd:
            return "%s" % ((out or {}).get("error") if isinstance(out, dict) else out)
        with self.db.reading() as s:
            row = s.get(LockerCommand, cmd["id"])
            att = s.get(LinkAttempt, cmd["id"])
            story = {"id": row.id, "kind": row.kind, "state": row.state, "result": row.result,
                     "locker": row.locker_id, "board": row.board_id, "index": cmd.get("index"),
                     "created": str(row.created_at), "updated": str(row.updated_at),
                     "attempt": att and {"tries": att.tries, "outcome": att.outcome, "sent_at": str(att.sent_at)}}
        worker = self.stack.worker
        master = worker.masters.get(row.locker_id) if worker else None
        if master is not None:
            story["master"] = dict(master.stats, alive=master.is_alive(), claim=master._claim,
                                   wake=master.wake.is_set())
            for b in master.boards.values():
                if b.board_id == row.board_id:
                    story["bus_board"] = {"online": b.online, "fails": b.fails, "inflight": sorted(b.inflight),
                                          "deferred": [c["id"] for _t, c in b.deferred],
                                          "needs_sync": b.needs_sync, "cursor": b.cursor}
        return json.dumps(story, default=str)

    def _error(self, what):
        with self._lock:
            self.errors.append(what)
        self.log("ERROR " + what)

    def _wait(self, fn, timeout=30.0, what="?"):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = fn()
            if v:
                return v
            time.sleep(0.05)
        self._error("timed out: " + what)
        return None

    def _state(self, pid):
        from server.models import Parcel
        with self.db.reading() as s:
            return s.get(Parcel, pid).state

    def _where(self, pid):
        from server.models import Compartment, Parcel
        with self.db.reading() as s:
            p = s.get(Parcel, pid)
            comp = s.get(Compartment, p.active_compartment_id or p.compartment_id)
            return p.locker_id, comp.board.address, comp.index

    def _code_on_board(self, pid, purpose="pickup"):
        from server.services import codes
        with self.db.reading() as s:
            row = codes.live_code_of(s, pid, purpose)
            if row is None:
                return False
            digest = bytes(row.code_hash)
        lid, addr, number = self._where(pid)
        app = self.stack.sims[lid].board(addr).app
        return app is not None and app.codes.has(number - 1) and app.codes.digest(number - 1) == digest

    def _clear_code(self, pid):
        import re

        from sqlalchemy import select

        from server.models import Notification
        with self.db.reading() as s:
            note = s.scalars(select(Notification).where(Notification.parcel_id == pid,
                                                        Notification.kind == "pickup_code")
                             .order_by(Notification.id.desc())).first()
        found = re.search(r"取件码(\d{8})", note.body) if note else None
        return found.group(1) if found else None

    # -- one parcel, deposit to pickup -----------------------------------------------------------------
    def deposit(self, i, locker_id):
        courier = self.stack.tokens["couriers"][i % len(self.stack.tokens["couriers"])]
        villager = self.stack.accounts[i % len(self.stack.accounts)]
        size = self.rng.choice(("S", "S", "M", "M", "L"))
        t0 = time.monotonic()
        # a locker with no free compartment of that size refuses (422 no_free_compartment, a business
        # answer): the courier goes on to the station's next locker, as one would with a parcel in hand
        others = [lid for lid in self.stack.locker_ids if lid != locker_id]
        for lid in [locker_id] + others:
            status, out = self._http("POST", "/api/v1/deposits", courier["token"],
                                     {"locker_id": lid, "tracking_number": "CBX%07d" % i,
                                      "recipient_phone": villager["phone"], "size": size})
            if not (status == 422 and (out.get("error") or {}).get("code") == "no_free_compartment"):
                break
        cmd = self._door(status, out, courier["token"], (201,))
        ms = (time.monotonic() - t0) * 1000
        if cmd is None or cmd["state"] != "done":
            self._error("deposit %d: HTTP %s %s" % (i, status, self._story(out)))
            return None
        with self._lock:
            self.deposit_ms.append(ms)
        pid = out["parcel"]["id"]
        lid, addr, number = self._where(pid)
        sim = self.stack.sims[lid]
        human_close(sim, addr, number, put=True)
        if not self._wait(lambda: self._state(pid) == "in_locker", what="parcel %d confirmed" % pid):
            return None
        if not self._wait(lambda: self._code_on_board(pid), what="code of parcel %d on its board" % pid):
            return None
        with self._lock:
            self.counts["deposited"] += 1
        return pid

    def pickup(self, pid, by_qr, online=True):
        from server.services import qr
        lid, addr, number = self._where(pid)
        sim = self.stack.sims[lid]
        code = self._clear_code(pid)
        comp = sim.compartment(addr, number)
        t0 = time.monotonic()
        if by_qr:
            sim.scan(addr, qr.payload(lid, code))
        else:
            sim.type_code(addr, code + "#")
        if not self._wait(lambda: comp.door_open, timeout=10, what="door of parcel %d opened by its code" % pid):
            return False
        opened_ms = (time.monotonic() - t0) * 1000
        human_close(sim, addr, number, take=True)
        if not online:
            with self._lock:
                self.counts["offline_pickups"] += 1
            return True
        t1 = time.monotonic()
        if not self._wait(lambda: self._state(pid) == "picked_up", what="pickup of parcel %d recorded" % pid):
            return False
        with self._lock:
            self.pickup_ms.append(opened_ms + (time.monotonic() - t1) * 1000)
            self.counts["picked_up"] += 1
        return True

    def _take(self):
        with self._lock:
            if self._next >= self._budget:
                return None
            self._next += 1
            return self._next - 1

    def _courier_loop(self, offset):
        while True:
            k = self._take()
            if k is None:
                return
            i = offset + k
            lid = self.stack.locker_ids[i % len(self.stack.locker_ids)]
            try:
                pid = self.deposit(i, lid)
                if pid is not None:
                    self.pickup(pid, by_qr=(i % 2 == 1))
            except Exception as exc:  # noqa: BLE001 - counted, reported, and the day goes on
                self._error("parcel %d: %r" % (i, exc))

    # -- the day ------------------------------------------------------------------------------------
    def run(self):
        from server.demo.stack import Stack
        self.stack = Stack(lockers=self.n_lockers, boards=2, per_board=8, transport=self.transport, baud=self.baud,
                           status_period_s=0.1, wait_s=10, couriers_per_carrier=2, board_loop_ms=5)
        self.stack.start()
        self.db = self.stack.db
        started = time.monotonic()
        try:
            self._wait(self._all_online, what="every board online")
            n_outage = max(2, min(8, self.n // 25))
            n_sends = max(1, min(5, self.n // 40))
            n_main = max(0, self.n - n_outage - 1)
            self._outage(n_outage)
            self._budget = n_main
            workers = [threading.Thread(target=self._courier_loop, args=(1000,), daemon=True)
                       for _ in range(self.threads)]
            for w in workers:
                w.start()
            self._sends(n_sends)
            for w in workers:
                w.join()
            self._overdue()
            self._wait(self._quiet, what="link quiet at the end of the day")
            return self._result(time.monotonic() - started)
        finally:
            self.stack.stop()

    def _all_online(self):
        from server.services import link_state
        return all(b["online"] for lid in self.stack.locker_ids for b in link_state.board_status(self.db, lid))

    def _outage(self, n):
        lid = self.stack.locker_ids[0]
        sim = self.stack.sims[lid]
        pids = [p for p in (self.deposit(i, lid) for i in range(n)) if p is not None]
        send = self._book_send(0, lid)
        if send is not None and not self._wait(lambda: self._code_on_board(send[0], "dropoff"),
                                               what="drop-off code of send %d on its board" % send[0]):
            send = None
        sim.faults.drop = 1.0  # the wire to the locker is cut: every byte lost
        self.log("link to locker %d cut; %d offline pickups, %d offline drop-off" % (lid, len(pids), bool(send)))
        for k, pid in enumerate(pids):
            self.pickup(pid, by_qr=(k % 2 == 1), online=False)
        if send is not None:
            self._offline_dropoff(*send)
        time.sleep(0.5)
        for pid in pids:
            if self._state(pid) != "in_locker":
                self._error("parcel %d changed state while its locker was cut off" % pid)
        if send is not None and self._state(send[0]) != "booked":
            self._error("send %d changed state while its locker was cut off" % send[0])
        sim.faults.drop = 0.0
        self.log("link to locker %d mended" % lid)
        for pid in pids:
            if self._wait(lambda pid=pid: self._state(pid) == "picked_up", what="offline pickup %d reconciled" % pid):
                with self._lock:
                    self.counts["picked_up"] += 1
        if send is not None and self._wait(lambda: self._state(send[0]) == "awaiting_collection",
                                           what="offline drop-off %d reconciled" % send[0]):
            with self._lock:
                self.counts["offline_dropoffs"] += 1
            self._collect(send[0], send[2])

    def _book_send(self, k, lid):
        """The station books a send for a villager: (parcel id, drop-off code, carrier index) or None."""
        st = self.stack
        villager = st.accounts[k % len(st.accounts)]
        carrier_ix = k % len(st.carrier_ids)
        status, out = self._http("POST", "/api/v1/sends", st.tokens["operator"],
                                 {"account_id": villager["id"], "locker_id": lid,
                                  "carrier_id": st.carrier_ids[carrier_ix], "size": "M"})
        if status != 201:
            self._error("book send: HTTP %s %s" % (status, out))
            return None
        return out["parcel"]["id"], out["dropoff_code"], carrier_ix

    def _offline_dropoff(self, pid, code, _carrier_ix):
        """The sender types the drop-off code at the keypad: the board opens the reserved door on its own."""
        lid, addr, number = self._where(pid)
        sim = self.stack.sims[lid]
        comp = sim.compartment(addr, number)
        sim.type_code(addr, code + "#")
        if self._wait(lambda: comp.door_open, timeout=10, what="door of send %d opened by its drop-off code" % pid):
            human_close(sim, addr, number, put=True)

    def _collect(self, pid, carrier_ix):
        """The carrier's courier collects a dropped-off send: the door opens, the produce goes, it closes."""
        st = self.stack
        lid, addr, number = self._where(pid)
        courier = next(c for c in st.tokens["couriers"] if c["carrier_id"] == st.carrier_ids[carrier_ix])
        status, out = self._http("POST", "/api/v1/parcels/%d/collect" % pid, courier["token"])
        cmd = self._door(status, out, courier["token"])
        if cmd is None or cmd["state"] != "done":
            self._error("collect %d: HTTP %s %s" % (pid, status, self._story(out)))
            return
        human_close(st.sims[lid], addr, number, take=True)
        if self._wait(lambda: self._state(pid) == "collected", what="send %d collected" % pid):
            with self._lock:
                self.counts["sent"] += 1

    def _sends(self, n):
        st = self.stack
        for k in range(n):
            lid = st.locker_ids[(k + 1) % len(st.locker_ids)]
            booked = self._book_send(k, lid)
            if booked is None:
                continue
            pid, code, carrier_ix = booked
            status, out = self._http("POST", "/api/v1/lockers/%d/codes/verify" % lid, st.tokens["lockers"][lid],
                                     {"code": code, "source": "kiosk"})
            cmd = self._door(status, out, st.tokens["operator"])
            if cmd is None or cmd["state"] != "done":
                self._error("drop-off %d: HTTP %s %s" % (pid, status, self._story(out)))
                continue
            _lid, addr, number = self._where(pid)
            sim = st.sims[lid]
            human_close(sim, addr, number, put=True)
            if not self._wait(lambda pid=pid: self._state(pid) == "awaiting_collection", what="drop-off %d" % pid):
                continue
            self._collect(pid, carrier_ix)

    def _overdue(self):
        from server import clock
        from server.services import overdue
        st = self.stack
        pid = self.deposit(999999, st.locker_ids[-1])
        if pid is None:
            return
        # The one fast-forward of the day: housekeeping runs as if the storage period had passed.
        later = clock.utcnow() + datetime.timedelta(hours=73)
        overdue.flag_overdue(self.db, now=later)
        if self._state(pid) != "overdue":
            self._error("parcel %d not overdue after its storage period" % pid)
            return
        with self._lock:
            self.counts["overdue"] += 1
        lid, addr, number = self._where(pid)
        self._wait(lambda: not st.sims[lid].board(addr).app.codes.has(number - 1), what="expired code cleared")
        status, out = self._http("POST", "/api/v1/parcels/%d/retrieve" % pid, st.tokens["operator"])
        cmd = self._door(status, out, st.tokens["operator"])
        if cmd is None or cmd["state"] != "done":
            self._error("retrieve %d: HTTP %s %s" % (pid, status, self._story(out)))
            return
        human_close(st.sims[lid], addr, number, take=True)
        self._wait(lambda: self._state(pid) == "at_counter", what="overdue parcel %d at the counter" % pid)

    def _quiet(self):
        from server.services import link_commands, link_events
        pending = sum(b.app.journal.unacked() for sim in self.stack.sims.values()
                      for b in sim.boards.values() if b.app is not None)
        return (link_commands.pending_count(self.db) == 0 and link_events.unprocessed(self.db) == 0
                and pending == 0)

    def _double_opens(self):
        """Pulses counted by the simulator beyond the openings the server ordered or boards reported."""
        from sqlalchemy import select

        from server.models import Board, Compartment, LockerCommand
        from server.models.link import LinkEvent
        expected = {}
        with self.db.reading() as s:
            for cmd in s.scalars(select(LockerCommand).where(LockerCommand.kind == "open",
                                                             LockerCommand.state == "done",
                                                             LockerCommand.result != "already_open")):
                comp = s.get(Compartment, cmd.compartment_id)
                key = (cmd.locker_id, comp.board.address, comp.index)
                expected[key] = expected.get(key, 0) + 1
            for ev in s.scalars(select(LinkEvent).where(LinkEvent.kind.in_((m.EV_PICKUP_OFFLINE,
                                                                          m.EV_DROPOFF_OFFLINE)))):
                board = s.get(Board, ev.board_id)
                key = (board.locker_id, board.address, ev.compartment)
                expected[key] = expected.get(key, 0) + 1
        extra = 0
        for lid, sim in self.stack.sims.items():
            for addr, b in sim.boards.items():
                for k, c in enumerate(b.compartments):
                    extra += max(0, c.pulses - expected.get((lid, addr, k + 1), 0))
        return extra

    def _result(self, seconds):
        from server.services import link_events
        lost = link_events.lost_events(self.db) + link_events.unprocessed(self.db)
        lost += sum(b.app.journal.unacked() for sim in self.stack.sims.values()
                    for b in sim.boards.values() if b.app is not None)
        return {"parcels": self.n, "deposited": self.counts["deposited"], "picked_up": self.counts["picked_up"],
                "sent": self.counts["sent"], "overdue": self.counts["overdue"], "errors": len(self.errors),
                "lost_events": lost, "double_opens": self._double_opens(),
                "deposit_p50_ms": _pct(self.deposit_ms, 50), "deposit_p95_ms": _pct(self.deposit_ms, 95),
                "pickup_p50_ms": _pct(self.pickup_ms, 50), "pickup_p95_ms": _pct(self.pickup_ms, 95),
                "offline_pickups": self.counts["offline_pickups"],
                "offline_dropoffs": self.counts["offline_dropoffs"], "seconds": round(seconds, 1),
                "error_messages": self.errors[:20]}


def human_close(sim, address, number, put=False, take=False):
    """What a person at an open door does: put a parcel in (or take it out), then shut the door,
    taking at least as long as a person does: the lock's pulse is over (a door pushed shut while the
    latch is still pulled back springs open again) and the occupancy sensor has settled."""
    comp = sim.compartment(address, number)
    if put:
        sim.put_parcel(address, number)
    if take:
        sim.take_parcel(address, number)
    end = time.monotonic() + 5
    time.sleep(0.25)
    while (comp.coil or comp.retracted) and time.monotonic() < end:
        time.sleep(0.01)
    time.sleep(0.02)
    sim.close_door(address, number)


def _pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))], 1)


def call(method, url, token=None, body=None, timeout=60):
    import urllib.error
    import urllib.request
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@click.command("demo")
@click.option("--parcels", default=200, show_default=True, type=click.IntRange(5, 100000))
@click.option("--lockers", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="couriers at work at once")
@click.option("--transport", default="pty", show_default=True, type=click.Choice(["pty", "tcp"]))
@click.option("--baud", default=115200, show_default=True, type=click.Choice(["9600", "19200", "115200"]))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def demo_cmd(parcels, lockers, threads, transport, baud, as_json):
    """Run a whole day end to end (HTTP API, serial link, simulated lockers); exit 1 on any error,
    lost event or double open."""
    day = Day(parcels, lockers, threads, transport, int(baud),
              log=(lambda msg: print(msg, file=sys.stderr, flush=True)) if not as_json else None)
    out = day.run()
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        for k, v in out.items():
            click.echo("%-16s %s" % (k, v))
    if out["errors"] or out["lost_events"] or out["double_opens"]:
        sys.exit(1)
