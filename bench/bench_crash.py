"""Crash safety figures: journeys finished with the API server (harness/crash.py) and the link worker
(harness/link_crash.py) SIGKILLed at random moments, and station sync killed mid-run (harness/sync_crash.py).

CUNBOX_BENCH_CRASH_JOURNEYS (default 40) and CUNBOX_BENCH_LINK_CRASH_JOURNEYS (default 24) set the
size of each run."""
import os

from harness import county
from harness.crash import run_crash

CMD = "python -m bench crash"


def run(report):
    n = int(os.environ.get("CUNBOX_BENCH_CRASH_JOURNEYS", "40"))
    kinds = ["sqlite"] + (["postgresql"] if county.PG_URL else [])
    for kind in kinds:
        out = run_crash(kind, journeys=n, clients=4, kills=10)
        sec = "Crash safety (server SIGKILLed during deposits and pickups), %s" % kind
        report.add(sec, "journeys finished (deposit, door, pickup, door)", out["finished"], "of %d" % out["journeys"],
                   command=CMD)
        report.add(sec, "server kills", out["kills"], "SIGKILL", command=CMD)
        report.add(sec, "requests resent after a kill", out["retries"], "requests", command=CMD)
        report.add(sec, "lost or duplicated (parcels, codes, notifications, door commands)", len(out["problems"]),
                   "problems", command=CMD, note="; ".join(out["problems"][:3]))
        report.add(sec, "5xx answers", out["server_errors"], "responses", command=CMD)
        report.add(sec, "resent code checks answered 'wrong code' after their first copy used the code (F4, fixed)",
                   out["wrong_after_resend"], "requests", command=CMD)
        report.add(sec, "server restart to first answer (median)", round(out["restart_s"] or 0, 2), "s", command=CMD)
        if out["problems"]:
            raise AssertionError("crash run on %s: %s" % (kind, out["problems"][:5]))
    from harness.link_crash import run_link_crash
    n = int(os.environ.get("CUNBOX_BENCH_LINK_CRASH_JOURNEYS", "24"))
    out = run_link_crash(journeys=n, clients=3, alive=(1.5, 5.0), kills=8)
    sec = "Crash safety (link worker SIGKILLed during deposits and pickups), SQLite, simulated lockers"
    report.add(sec, "journeys finished", out["finished"], "of %d" % out["journeys"], command=CMD)
    report.add(sec, "link kills", out["kills"], "SIGKILL", command=CMD)
    report.add(sec, "errors", len(out["errors"]), "errors", command=CMD, note="; ".join(out["errors"][:3]))
    report.add(sec, "queue drained and every event applied at the end", "yes" if out["quiet"] else "NO", "",
               command=CMD)
    report.add(sec, "events lost / stored twice", "%d / %d" % (out["lost_events"], out["duplicate_events"]), "",
               command=CMD)
    report.add(sec, "lock pulses nobody ordered", out["double_opens"], "pulses", command=CMD)
    if out["errors"] or not out["quiet"] or out["lost_events"] or out["duplicate_events"] or out["double_opens"]:
        raise AssertionError("link crash run: %r" % out)
    from harness.sync_crash import run_sync_crash
    out = run_sync_crash(people=1000, page_size=25, kills=5)
    sec = "Crash safety (cunbox station sync SIGKILLed mid-run), SQLite, reference station simulator"
    report.add(sec, "kills during the run", out["kills"], "SIGKILL", command=CMD)
    report.add(sec, "accounts after the final run", out["accounts"], "of %d" % out["people"], command=CMD)
    report.add(sec, "result equal to one clean run", "yes" if out["equal_to_clean_run"] else "NO", "", command=CMD)
    if not out["equal_to_clean_run"] or out["final_exit"] != 0:
        raise AssertionError("sync crash run: %r" % out)
