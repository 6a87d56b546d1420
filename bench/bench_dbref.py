"""Reference figures: the databases' raw single-row transaction rate on this machine (bench/dbref.py)."""
from bench import dbref
from harness import county

CMD = "python -m bench dbref"


def run(report):
    sec = "References: raw database single-row transactions (one connection)"
    report.add(sec, "SQLite (WAL, synchronous=NORMAL): INSERT + COMMIT", round(dbref.tx_per_s("sqlite")), "tx/s",
               command=CMD)
    if county.PG_URL:
        report.add(sec, "PostgreSQL (local, psycopg 3): INSERT + COMMIT", round(dbref.tx_per_s("postgresql",
                                                                                               county.PG_URL)),
                   "tx/s", command=CMD)
