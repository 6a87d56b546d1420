"""Crash safety figures: journeys finished with the server SIGKILLed at random moments (bench/crash.py).

CUNBOX_BENCH_CRASH_JOURNEYS (default 40) sets the size of each run."""
import os

from bench import county
from bench.crash import run_crash

CMD = "python -m bench crash"


def run(report):
    n = int(os.environ.get("CUNBOX_BENCH_CRASH_JOURNEYS", "40"))
    kinds = ["sqlite"] + (["postgresql"] if county.PG_URL else [])
    for i, kind in enumerate(kinds):
        out = run_crash(kind, journeys=n, clients=4, port=48420 + i)
        sec = "Crash safety (server SIGKILLed during deposits and pickups), %s" % kind
        report.add(sec, "journeys finished (deposit, door, pickup, door)", out["finished"], "of %d" % n, command=CMD)
        report.add(sec, "server kills", out["kills"], "SIGKILL", command=CMD)
        report.add(sec, "requests resent after a kill", out["retries"], "requests", command=CMD)
        report.add(sec, "lost or duplicated (parcels, codes, notifications, door commands)", len(out["problems"]),
                   "problems", command=CMD, note="; ".join(out["problems"][:3]))
        report.add(sec, "5xx answers", out["server_errors"], "responses", command=CMD)
        report.add(sec, "server restart to first answer (median)", round(out["restart_s"] or 0, 2), "s", command=CMD)
        if out["problems"]:
            raise AssertionError("crash run on %s: %s" % (kind, out["problems"][:5]))
