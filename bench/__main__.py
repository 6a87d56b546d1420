"""Run every benchmark module (bench/bench_*.py, each with run(report)) and write the report."""
import importlib
import pathlib
import sys
import traceback

from bench.report import Report

HERE = pathlib.Path(__file__).parent


def main(argv):
    only = argv[1:]
    report = Report()
    failed = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem
        if only and not any(o in name for o in only):
            continue
        print("==", name, flush=True)
        try:
            importlib.import_module("bench." + name).run(report)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    report.write(HERE / "results.md", HERE / "results.json")
    print("wrote", HERE / "results.md")
    if failed:
        print("benchmarks that failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
