"""`make run`: start the whole product on one machine (server + simulated lockers, SQLite).

The pieces this needs (backend, firmware simulator, locker link) are built issue by issue; until
they are all present this says plainly which are missing and exits non-zero.
"""
import importlib.util
import sys

NEEDED = {
    "server.app": "the backend (Flask app factory, models, migrations) — issue 'Backend'",
    "hardware_sim.locker": "the simulated lockers — issue 'Firmware and hardware simulator'",
    "server.link": "the locker link (bus master per locker) — issue 'Locker link'",
}


def main():
    missing = [why for mod, why in NEEDED.items() if importlib.util.find_spec(mod.split(".")[0]) is None
               or _find(mod) is None]
    if missing:
        print("make run: cunbox cannot start the whole product yet; missing:", file=sys.stderr)
        for why in missing:
            print("  -", why, file=sys.stderr)
        return 1
    from server.demo_stack import run  # the link issue provides the real launcher
    return run()


def _find(mod):
    try:
        return importlib.util.find_spec(mod)
    except ModuleNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
