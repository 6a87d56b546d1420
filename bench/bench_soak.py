"""Soak: the locker link against 50 simulated lockers (real firmware, pseudo-terminals) for 10 minutes.

The link worker runs in the server process (server/demo/stack.Stack) and keeps every board polled at
a 1-second status period while couriers and villagers (CLIENTS threads, through the HTTP API and the
simulated keypads and scanners) deposit and pick up without pause. The simulated lockers run in
SIM_PROCESSES other processes (hardware_sim.fleet) on the same cores: real boards cost the server
nothing, and boards in the server's own process would share its interpreter lock. Every 30 seconds one of the
spare lockers (no parcels) has its wire cut for 5 seconds, and must come back.

At the end the link must go quiet (no command queued, no event unread or unapplied) and the figures
say: journeys, errors, events lost or stored twice, lock pulses the server did not order, STATUS
polls per board per second (reference: the 1 s status period), and the memory the server process
grew by (leaks show up over 10 minutes).

CUNBOX_BENCH_SOAK_SECONDS (default 600) and CUNBOX_BENCH_SOAK_LOCKERS (default 50) shorten it.
"""
import os
import random
import resource
import threading
import time

CMD = "python -m bench soak"
SPARE = 5             # lockers kept free of parcels, for the wire cuts
CLIENTS = 4
SIM_PROCESSES = 2     # processes the simulated lockers run in (hardware_sim.fleet)


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def soak(seconds, lockers, log=print):
    from sqlalchemy import func, select

    from server.demo.day import Day
    from server.demo.stack import Stack
    from server.models.link import LinkEvent
    from server.services import link_events
    with Stack(lockers=lockers, boards=1, per_board=4, baud=115200, status_period_s=1.0, wait_s=15,
               board_loop_ms=10, sim_processes=SIM_PROCESSES) as st:
        day = Day(parcels=0, lockers=lockers, threads=CLIENTS, log=log)
        day.stack, day.db = st, st.db
        day._wait(day._all_online, timeout=180, what="every board online")
        busy = st.locker_ids[:-SPARE] if len(st.locker_ids) > SPARE else st.locker_ids
        spare = st.locker_ids[-SPARE:] if len(st.locker_ids) > SPARE else []
        rss0 = _rss_mb()
        polls0 = {lid: mm.stats["polls"] for lid, mm in st.worker.masters.items()}
        t0 = time.monotonic()
        end = t0 + seconds
        counter = [0]
        lock = threading.Lock()
        journeys = [0]
        cuts = [0]

        def client(k):
            while time.monotonic() < end:
                with lock:
                    counter[0] += 1
                    i = counter[0]
                lid = busy[i % len(busy)]
                try:
                    pid = day.deposit(i, lid)
                    if pid is not None and day.pickup(pid, by_qr=bool(i % 2)):
                        with lock:
                            journeys[0] += 1
                except Exception as exc:  # noqa: BLE001 - counted, and the soak goes on
                    day._error("journey %d: %r" % (i, exc))

        def faults():
            rng = random.Random(3)
            while spare and time.monotonic() < end - 10:
                time.sleep(25)
                lid = rng.choice(spare)
                st.sims[lid].faults.drop = 1.0
                time.sleep(5)
                st.sims[lid].faults.drop = 0.0
                cuts[0] += 1

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
        threads.append(threading.Thread(target=faults, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        polls = {lid: (mm.stats["polls"] - polls0.get(lid, 0)) / elapsed for lid, mm in st.worker.masters.items()}
        quiet = day._wait(day._quiet, timeout=120, what="link quiet after the soak")
        with st.db.reading() as s:
            dups = s.execute(select(LinkEvent.board_id, LinkEvent.seq, func.count()).group_by(
                LinkEvent.board_id, LinkEvent.seq).having(func.count() > 1)).all()
        lost = link_events.lost_events(st.db) + link_events.unprocessed(st.db)
        # a locker with no free compartment of the size asked refuses the deposit (422): a business
        # answer, counted apart; every other error is one
        full = [e for e in day.errors if "no_free_compartment" in e]
        errors = [e for e in day.errors if "no_free_compartment" not in e]
        return {"lockers": len(st.locker_ids), "seconds": elapsed, "journeys": journeys[0], "errors": errors,
                "refused_full": len(full),
                "lost_events": lost, "duplicate_events": len(dups), "double_opens": day._double_opens(),
                "quiet": bool(quiet), "cuts": cuts[0], "cut_lockers": spare, "polls_by_locker": polls,
                "polls_min": min(polls.values()) if polls else 0,
                "polls_min_uncut": min([v for k, v in polls.items() if k not in spare] or [0]),
                "polls_mean": sum(polls.values()) / len(polls) if polls else 0, "rss_growth_mb": _rss_mb() - rss0,
                "deposit_ms": sorted(day.deposit_ms), "pickup_ms": sorted(day.pickup_ms)}


def _pct(v, p):
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0


def run(report):
    seconds = int(os.environ.get("CUNBOX_BENCH_SOAK_SECONDS", "600"))
    lockers = int(os.environ.get("CUNBOX_BENCH_SOAK_LOCKERS", "50"))
    out = soak(seconds, lockers)
    sec = "Soak: the locker link, %d simulated lockers, %.0f s" % (out["lockers"], out["seconds"])
    where = "simulated lockers in %d other processes on the same %d cores" % (SIM_PROCESSES, os.cpu_count() or 0)
    report.add(sec, "journeys (deposit by HTTP, pickup at the keypad or scanner)", out["journeys"], "journeys",
               command=CMD, note=where)
    report.add(sec, "errors", len(out["errors"]), "errors", command=CMD, note="; ".join(out["errors"][:3]))
    report.add(sec, "deposits refused: no free compartment of that size (a business answer)", out["refused_full"],
               "deposits", command=CMD)
    report.add(sec, "events lost or left unapplied", out["lost_events"], "events", command=CMD)
    report.add(sec, "events stored twice", out["duplicate_events"], "events", command=CMD)
    report.add(sec, "lock pulses nobody ordered", out["double_opens"], "pulses", command=CMD)
    report.add(sec, "link quiet at the end (queue drained, every event applied)", "yes" if out["quiet"] else "NO", "",
               command=CMD)
    report.add(sec, "wire cuts survived (5 s each)", out["cuts"], "cuts", command=CMD)
    report.add(sec, "STATUS polls per board per second, slowest board", round(out["polls_min"], 2), "polls/s",
               reference=1.0, reference_name="polls/s at the 1 s status period", command=CMD,
               note="a locker whose wire is cut is tried every 2 s while it is offline")
    report.add(sec, "STATUS polls per board per second, slowest board never cut", round(out["polls_min_uncut"], 2),
               "polls/s", reference=1.0, reference_name="polls/s at the 1 s status period", command=CMD)
    report.add(sec, "deposit p95 (HTTP, returns once the door opened)", round(_pct(out["deposit_ms"], 95), 1), "ms",
               command=CMD)
    report.add(sec, "pickup p95 (code to door open, door shut to recorded)", round(_pct(out["pickup_ms"], 95), 1),
               "ms", command=CMD)
    report.add(sec, "server process memory growth", round(out["rss_growth_mb"], 1), "MB", command=CMD)
    bad = out["errors"] or out["lost_events"] or out["duplicate_events"] or out["double_opens"] or not out["quiet"]
    if bad:
        raise AssertionError("soak: %r" % {k: out[k] for k in ("errors", "lost_events", "duplicate_events",
                                                               "double_opens", "quiet")})
