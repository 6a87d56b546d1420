"""Load: a county's peak hour (>= 500 lockers, 16 concurrent clients) against `cunbox serve` in a
second process on loopback, on SQLite and on PostgreSQL (bench/load.py). Each figure sits beside its
reference measured in the same run: throughput beside the framework's trivial endpoint on the same
server, write latency beside the database's raw single-row transaction time.

CUNBOX_BENCH_LOAD_SECONDS (default 60) sets the length of each run."""
import os

from bench import dbref
from bench.load import run_load
from harness import county

CMD = "python -m bench load"


def run(report):
    seconds = int(os.environ.get("CUNBOX_BENCH_LOAD_SECONDS", "60"))
    kinds = ["sqlite"] + (["postgresql"] if county.PG_URL else [])
    failures = []
    for i, kind in enumerate(kinds):
        raw = dbref.tx_per_s(kind, county.PG_URL)
        out = run_load(kind, seconds=seconds, clients=16, lockers=500, port=48440 + i)
        sec = "Load: peak hour, %d lockers, %d clients, %s (server in a second process)" % (
            out["lockers"], out["clients"], kind)
        report.add(sec, "journeys (deposit, 2 door events, read, code check, 2 door events)", out["journeys"],
                   "in %.0f s" % out["seconds"], command=CMD)
        report.add(sec, "requests per second", round(out["throughput"], 1), "req/s", reference=round(out["health_rps"]),
                   reference_name="req/s GET /health (same server, same clients)", command=CMD)
        report.add(sec, "errors", len(out["errors"]), "requests", command=CMD, note="; ".join(out["errors"][:3]))
        raw_ms = 1000.0 / raw
        for name, pct in out["latency"].items():
            for p in (50, 95, 99):
                report.add(sec, "%s p%d" % (name, p), round(pct[p], 1), "ms", reference=round(raw_ms, 2),
                           reference_name="ms per raw single-row transaction (%s)" % kind, command=CMD)
        if out["errors"]:
            failures.append("%s: %s" % (kind, out["errors"][:3]))
    if failures:
        raise AssertionError("load errors: %s" % failures)
