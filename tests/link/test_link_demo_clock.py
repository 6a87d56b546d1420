"""The demo clock moved forward from a locker console (`clock +72h`, server/demo/console.py) moves
the product's own clock: the boards' clocks follow through the link, a code past its expiry is
refused at the keypad and by the server, housekeeping makes the parcel overdue, and the fee page
shows what the recipient owes once the station retrieves it. Nothing is written to the database
by hand."""
import datetime
import re
import socket
import threading

import pytest
from support.link_stack import (
    call,
    clear_code,
    code_installed,
    deposit,
    events_of,
    online_stack,
    parcel_state,
    pulses,
    put_and_close,
    take_and_close,
    wait_for,
    where,
)

from firmware import events as ev
from server import clock
from server.demo import clock as demo_clock
from server.demo.console import start_consoles
from server.demo.run import move_clock, start_housekeeping
from server.models import Board
from server.services import link_state
from server.web import queries

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def demo(tmp_path):
    root = tmp_path / "demo"
    try:
        for st in online_stack(root, lockers=1, boards=2, per_board=4):
            consoles = start_consoles(st, lambda span, st=st: move_clock(st, root, span))
            try:
                yield st, root, consoles
            finally:
                for srv in consoles.values():
                    srv.stop()
    finally:
        clock.set_ahead(datetime.timedelta(0))  # the clock is the process's: later tests get the wall clock


def test_clock_forward_72h_makes_the_parcel_overdue_refuses_its_code_and_charges_the_fee(demo):
    st, root, consoles = demo
    lid = st.locker_ids[0]
    sim = st.sims[lid]
    console = consoles[lid].port
    assert _console(console, "clock").startswith("ok demo time ") and "the real time" in _console(console, "clock")

    status, dep = deposit(st, lid, "PN-CLOCK-1", st.accounts[0]["phone"])
    assert status == 201 and dep["command"]["result"] == "opened", dep
    pid = dep["parcel"]["id"]
    addr, door = where(st.db, pid)
    put_and_close(sim, addr, door)
    wait_for(lambda: code_installed(st.db, sim, pid), what="pickup code on the board")
    code = clear_code(st.db, pid)
    opened = pulses(sim, addr, door)

    before, masters = clock.utcnow(), dict(st.worker.masters)
    answer = _console(console, "clock +72h")
    assert re.match(r"ok demo time \d{4}-\d\d-\d\d \d\d:\d\d \(Beijing\), 72 h ahead of the real time$", answer), answer
    assert clock.utcnow() - before >= datetime.timedelta(hours=72)
    assert demo_clock.load(root) == datetime.timedelta(hours=72)  # kept with the demo data
    # Every board's clock follows, set by the link as it sets any board whose clock is off.
    for board in sim.boards.values():
        wait_for(lambda b=board: abs(b.app.unix() - clock.unix(clock.utcnow())) <= 2, what="board clock moved")
    assert parcel_state(st.db, pid) == "in_locker"  # housekeeping has not run yet: the board judges alone
    # the link carried on through the jump: its leases still held, the same bus masters, boards online
    assert all(st.worker.masters.get(lid) is m for lid, m in masters.items())
    assert all(b["online"] for b in link_state.board_status(st.db, lid))
    wait_for(lambda: _pages_show_online(st, lid), timeout=3, what="the pages showing the boards online")

    sim.board(addr).type_keys(code + "#")
    # the board itself finds the code expired (its clock moved) and journals so; the server agrees
    wait_for(lambda: events_of(st.db, ev.CODE_EXPIRED) == 1, what="CODE_EXPIRED from the board")
    status, out = call("POST", st.url + "/api/v1/lockers/%d/codes/verify" % lid, st.tokens["lockers"][lid],
                       {"code": code, "source": "kiosk"})
    assert status == 410 and "code_expired" in str(out), out
    assert pulses(sim, addr, door) == opened and sim.compartment(addr, door).parcel  # the door stayed shut

    stop = threading.Event()
    start_housekeeping(st, root / "sms-outbox.log", stop, period=0.2)
    try:
        wait_for(lambda: parcel_state(st.db, pid) == "overdue", what="parcel overdue")
        wait_for(lambda: not code_installed(st.db, sim, pid) and not sim.board(addr).app.codes.has(door - 1),
                 what="expired code cleared from the board")
    finally:
        stop.set()

    # The station takes it to the counter: past the 72 free hours the recipient owes a day's fee.
    status, out = call("POST", st.url + "/api/v1/parcels/%d/retrieve" % pid, st.tokens["operator"])
    assert status in (200, 201) and out["command"]["result"] == "opened", out
    take_and_close(sim, addr, door)
    wait_for(lambda: parcel_state(st.db, pid) == "at_counter", what="parcel at the counter")
    page = _fee_page(st)
    assert 'data-payer="recipient"' in page and "¥1.00" in page, page  # this station: 1.00 yuan a day


def _pages_show_online(st, lid):
    """What the station's cabinet view draws (last contact within 45 s), well before the 15 s rewrite."""
    with st.db.reading() as s:
        return all(queries.board_status(b, clock.utcnow()) == "online"
                   for b in s.query(Board).filter(Board.locker_id == lid))


def _fee_page(st):
    c = st.app.test_client()
    html = c.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = c.post("/login", data={"login": "station", "password": "demo-station", "csrf_token": csrf})
    assert r.status_code == 302
    r = c.get("/station/fees")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def _console(port, line):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, sock.makefile("rw") as f:
        f.write(line + "\n")
        f.flush()
        return f.readline().strip()
