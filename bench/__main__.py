"""Run every benchmark module (bench/bench_*.py, each with run(report)) and write the report.

`python -m bench NAME ...` runs the modules whose names contain a NAME and replaces only their figures
in bench/results.md and .json; the other modules' figures stay as the last run left them."""
import importlib
import pathlib
import sys
import traceback

from bench.report import Report

HERE = pathlib.Path(__file__).parent


def main(argv):
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
