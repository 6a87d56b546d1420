"""`make run`: start the whole product on one machine — an embedded SQLite database with the demo
county, simulated lockers on real pseudo-terminals, the locker link and the server (server/demo/stack.py)
— and print where everything is and a short walkthrough.

The demo folder (instance/demo) is kept from one run to the next unless asked to start afresh
(server/demo/data.py), and so is the demo clock's lead, moved at a locker console (server/demo/clock.py).
"""
import logging
import pathlib
import signal
import sys
import threading

from server import config
from server.demo import clock as demo_clock
from server.demo import data as demo_data
from server.demo.console import start_consoles
from server.demo.stack import Stack, demo_signing_key


def run(argv=None):
    """Start everything, print the address and a walkthrough, run until Ctrl-C/SIGTERM."""
    logging.basicConfig(level=logging.INFO if config.get("VERBOSE") else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    root = pathlib.Path(config.get("INSTANCE_DIR")) / "demo"
    county, why_fresh = demo_data.open_folder(root, demo_data.wanted_fresh(argv))
    demo_clock.load(root)  # before anything is stored or a board's clock is set
    port = config.get("PORT")
    transport = config.get("SIM_TRANSPORT")
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stack = Stack(root=str(root), transport=transport, port=port, auto_close_ms=None, county=True, seeded=county)
    consoles = {}
    try:
        signing_key = demo_signing_key(root)
        stack.fw_signing_key = signing_key  # the demo boards trust it: its releases roll out to them
        stack.start()
        if county is None:
            demo_data.keep_county(root, stack.seeded)
        consoles = start_consoles(stack, lambda span: move_clock(stack, root, span))
        sms_log = root / "sms-outbox.log"
        start_housekeeping(stack, sms_log, stop)
        lines = walkthrough(stack, consoles, sms_log, signing_key)
        lines[2:2] = [data_line(root, stack, why_fresh), "Demo clock: %s." % demo_clock.describe()]
        for line in lines:
            print(line, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        print("cunbox: stopping", flush=True)
        stop.set()
        for srv in consoles.values():
            srv.stop()
        stack.stop()
    return 0


def data_line(root, stack, why_fresh):
    """Which the banner says: the demo data kept (and how much), or started afresh (and why)."""
    if why_fresh is None:
        n = demo_data.parcel_count(stack.db)
        return ("Demo data: kept the demo data from %s, %d parcel%s (`make run FRESH=1` starts afresh)."
                % (root, n, "" if n == 1 else "s"))
    return ("Demo data: started afresh in %s (%s); the next `make run` keeps it, `make run FRESH=1` starts afresh."
            % (root, why_fresh))


def walkthrough(stack, consoles, sms_log, signing_key=None):
    """What `make run` prints: where everything is, then a two-line walkthrough a person can follow."""
    lid = stack.locker_ids[0]
    c = stack.tokens["couriers"][0]
    op = stack.seeded["operators"][0]
    phone = stack.accounts[0]["phone"]
    maint = stack.seeded["maintainers"][0]
    lines = [
        "cunbox is up: web pages %s/ — API %s/api/v1 (OpenAPI %s/api/v1/openapi.json); %d simulated lockers on %s"
        % (stack.url, stack.url, stack.url, len(stack.sims), ", ".join(s.url for s in stack.sims.values())),
        "Locker consoles (you, standing at the locker; `help` lists commands, `clock +72h` moves the demo's time "
        "forward): %s" % "; ".join("locker %d: nc 127.0.0.1 %d" % (k, srv.port) for k, srv in consoles.items()),
        "1) Courier: sign in at %s/courier/login as %s / %s and deposit a parcel for %s at locker %d; at that "
        "locker's console `put B C` and `close B C` for the door the page shows (board B, door C)."
        % (stack.url, c["login"], c["password"], phone, lid),
        "2) Villager: the pickup SMS (code and link) lands in %s; at the console `type B <code>#` opens the door. "
        "Sending produce: %s/send with %s; the 6-digit number it texts (same file) shows the drop-off code. "
        "Station operator: %s/login as %s / %s." % (sms_log, stack.url, phone, stack.url, op["login"],
                                                     op["password"]),
        "Maintainer: `.venv/bin/cunbox firmware build --version 1.0.1 --key %s` signs a release; upload it at "
        "%s/fleet/releases as %s / %s." % (signing_key, stack.url, maint["login"], maint["password"]),
        "Try: curl -X POST %s/api/v1/deposits -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
        "-d '{\"locker_id\": %d, \"tracking_number\": \"SF1000001\", \"recipient_phone\": \"%s\", "
        "\"size\": \"S\"}'  (the same deposit from a script); `cunbox demo --parcels 20` runs a whole day."
        % (stack.url, c["token"], lid, phone),
    ]
    if not signing_key:
        lines = [ln for ln in lines if not ln.startswith("Maintainer:")]
    return lines


def start_housekeeping(stack, sms_log, stop, period=2.0):
    """Expire reservations, flag overdue parcels and deliver SMS (to a file) as `cunbox serve` does."""
    from server.serve import housekeeping_loop
    from server.services.notify import FileSmsAdapter
    t = threading.Thread(target=housekeeping_loop, args=(stack.db, FileSmsAdapter(sms_log), stop, period),
                         name="housekeeping", daemon=True)
    t.start()
    return t


def move_clock(stack, root, span):
    """`clock +72h` at a console: the demo clock moves forward, and the link's own timings with it.
    Its lease on each locker runs until a moment by that clock: extended by the span first, or the
    bus masters would find it lapsed and drop their lockers to start over. A board's last contact,
    written every 15 s, would read as hours old and the pages show every locker offline: it is
    written at the board's next poll instead."""
    from server.services import link_state
    demo_clock.check(span)
    worker = stack.worker
    if worker is None:
        demo_clock.advance(root, span)
        return
    link_state.acquire_leases(stack.db, worker.owner, worker.lease_ttl_s + span.total_seconds(), worker.max_lockers)
    demo_clock.advance(root, span)
    for master in list(worker.masters.values()):
        for board in list(master.boards.values()):
            board.heard_written = 0.0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
