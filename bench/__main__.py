"""Run every benchmark module (bench/bench_*.py, each with run(report)) and write the report.

`python -m bench NAME ...` runs the modules whose names contain a NAME and replaces only their figures
in bench/results.md and .json; the other modules' figures stay as the last run left them."""
import importlib
import os
import pathlib
import sys
import traceback

from harness.report import Report

HERE = pathlib.Path(__file__).parent
LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def use_local_postgres():
    """Without CUNBOX_TEST_POSTGRES_URL, point it at the local server if one answers within a second, so
    `make bench` on a machine with PostgreSQL reports it without being told (CUNBOX_BENCH_NO_POSTGRES=1
    opts out). Done before any bench module is imported: they read it at import (harness/county.py)."""
    if os.environ.get("CUNBOX_TEST_POSTGRES_URL") or os.environ.get("CUNBOX_BENCH_NO_POSTGRES"):
        return
    try:
        from sqlalchemy import create_engine, text
        engine = create_engine(LOCAL_PG, connect_args={"connect_timeout": 1})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:  # noqa: BLE001 - no server, no driver, no such database: no PostgreSQL figures
        return
    os.environ["CUNBOX_TEST_POSTGRES_URL"] = LOCAL_PG


def main(argv):
    use_local_postgres()
    only = argv[1:]
    report = Report()
    failed, ran = [], set()
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        if only and not any(o in name for o in only):
            continue
        print("==", name, flush=True)
        report.module = name
        ran.add(name)
        try:
            importlib.import_module("bench." + name).run(report)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if only:
        report.keep_others(HERE / "results.json", ran)
    report.write(HERE / "results.md", HERE / "results.json")
    print("wrote", HERE / "results.md")
    if failed:
        print("benchmarks that failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
