# Runs the portable test modules (tests/portable/test_*.py) on whatever interpreter runs this file.
# It is the MicroPython side of the suite: pytest collects the same modules on CPython.
# Usage on MicroPython: node tools/mpyrun.mjs --copy protocol --copy firmware \
#                         --copy hardware_sim/__init__.py --copy hardware_sim/fakes.py --copy tests/portable \
#                         tools/portable_tests.py [NAME_FILTER]
import os
import sys

TEST_DIR = "/tests/portable"


def _modules(name_filter):
    names = sorted(n for n in os.listdir(TEST_DIR) if n.startswith("test_") and n.endswith(".py"))
    for n in names:
        if name_filter and name_filter not in n:
            continue
        yield n[:-3]


def main():
    name_filter = sys.argv[1] if len(sys.argv) > 1 else ""
    if TEST_DIR not in sys.path:
        sys.path.insert(0, TEST_DIR)
    passed = failed = 0
    for modname in _modules(name_filter):
        mod = __import__(modname)
        for attr in sorted(dir(mod)):
            if not attr.startswith("test_"):
                continue
            fn = getattr(mod, attr)
            if not callable(fn):
                continue
            try:
                fn()
            except Exception as exc:  # report every failure, keep going
                failed += 1
                print("FAIL", modname + "." + attr)
                sys.print_exception(exc)
            else:
                passed += 1
    print("micropython: %d passed, %d failed" % (passed, failed))
    if failed or not passed:
        raise SystemExit(1)


main()
