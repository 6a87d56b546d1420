"""Crash safety of the locker link: the link worker process (`cunbox link`) is killed with SIGKILL at
random moments while couriers deposit and villagers pick up, and started again.

The API and the simulated lockers (the real firmware, on TCP serial bridges) run here, in a
server/demo/stack.Stack without its in-process link; the link runs as its own process on the same
database, as it does on PostgreSQL deployments, so it can die between any two of its steps: after
persisting a counter and before sending, after the board opened a door and before the reply was
stored, after storing events and before applying or acknowledging them. A killed worker's lease
runs out and the next one takes the lockers over.

A journey: POST /deposits (the door command is queued; the link opens the door when it is up), the
courier puts the parcel in and shuts the door, the parcel is confirmed and its code reaches the
board, the villager types the code at the keypad (the board checks it offline: it works while the
link is down), takes the parcel and shuts the door, and the server records the pickup.

Checked at the end: every journey finished; the link goes quiet (no command queued, no event unread,
unapplied or unacknowledged); no event stored twice, none lost; no lock pulse beyond those the
server ordered or the boards reported.
"""
import os
import random
import subprocess
import sys
import threading
import time

from harness.crash import KillableChild

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LinkProcess(KillableChild):
    stop_timeout = 15

    def __init__(self, db_url, instance_dir, lease_ttl=2.0):
        self.db_url = db_url
        self.instance_dir = instance_dir
        self.lease_ttl = lease_ttl
        self.proc = None
        self.kills = 0

    def start(self):
        env = dict(os.environ, CUNBOX_DATABASE_URL=self.db_url, CUNBOX_INSTANCE_DIR=str(self.instance_dir))
        cmd = [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())", "link",
               "--baud", "115200", "--status-period", "0.3", "--lease-ttl", str(self.lease_ttl)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_link_crash(journeys=6, clients=3, lockers=2, alive=(2.0, 6.0), seed=3, log=print, kills=2):
    """journeys is a floor: journeys keep starting until the link has been killed `kills` times."""
    from server.demo.day import Day, human_close
    from server.demo.stack import Stack
    from server.services import link_events
    rng = random.Random(seed)
    with Stack(lockers=lockers, boards=1, per_board=8, transport="tcp", baud=115200, status_period_s=0.3,
               wait_s=0.5, start_link=False, board_loop_ms=5) as st:
        day = Day(parcels=0, lockers=lockers, threads=clients, log=lambda msg: None)
        day.stack, day.db = st, st.db
        link = LinkProcess(st.db_url, st.root)
        link.start()
        done = []
        lock = threading.Lock()
        counter = [0]

        def journey(i):
            lid = st.locker_ids[i % len(st.locker_ids)]
            courier = st.tokens["couriers"][i % len(st.tokens["couriers"])]
            villager = st.accounts[i % len(st.accounts)]
            status, out = day._http("POST", "/api/v1/deposits", courier["token"],
                                    {"locker_id": lid, "tracking_number": "LC%07d" % i,
                                     "recipient_phone": villager["phone"], "size": "S"})
            if status != 201:
                day._error("deposit %d: HTTP %s %s" % (i, status, out))
                return
            pid = out["parcel"]["id"]
            _lid, addr, number = day._where(pid)
            sim = st.sims[lid]
            comp = sim.compartment(addr, number)
            if not day._wait(lambda: comp.door_open, timeout=90, what="door for deposit %d" % pid):
                return
            human_close(sim, addr, number, put=True)
            if not day._wait(lambda: day._state(pid) == "in_locker" and day._code_on_board(pid), timeout=90,
                             what="parcel %d confirmed and its code on the board" % pid):
                return
            sim.type_code(addr, day._clear_code(pid) + "#")
            if not day._wait(lambda: comp.door_open, timeout=30, what="door opened by the code of %d" % pid):
                return
            human_close(sim, addr, number, take=True)
            if day._wait(lambda: day._state(pid) == "picked_up", timeout=90, what="pickup %d recorded" % pid):
                with lock:
                    done.append(pid)

        def client():
            while True:
                with lock:
                    if counter[0] >= journeys and link.kills >= kills:
                        return
                    counter[0] += 1
                    i = counter[0]
                try:
                    journey(i)
                except Exception as exc:  # noqa: BLE001 - counted, and the run goes on
                    day._error("journey %d: %r" % (i, exc))

        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(rng.uniform(*alive))
            if any(t.is_alive() for t in threads):
                link.kill()
                link.start()
        for t in threads:
            t.join()
        quiet = day._wait(day._quiet, timeout=120, what="link quiet after the crashes")
        from sqlalchemy import func, select

        from server.models.link import LinkEvent
        with st.db.reading() as s:
            dups = s.execute(select(LinkEvent.board_id, LinkEvent.seq, func.count()).group_by(
                LinkEvent.board_id, LinkEvent.seq).having(func.count() > 1)).all()
        out = {"journeys": counter[0], "finished": len(done), "kills": link.kills, "errors": list(day.errors),
               "quiet": bool(quiet), "duplicate_events": len(dups),
               "lost_events": link_events.lost_events(st.db) + link_events.unprocessed(st.db),
               "double_opens": day._double_opens(), "seconds": time.monotonic() - t0,
               "gaps": link_events.event_gaps(st.db), "unprocessed": link_events.unprocessed(st.db)}
        link.stop()
        log("link crash: %(finished)d/%(journeys)d journeys, %(kills)d kills, quiet %(quiet)s, "
            "%(duplicate_events)d duplicate and %(lost_events)d lost events, %(double_opens)d unordered pulses"
            % out)
        return out
