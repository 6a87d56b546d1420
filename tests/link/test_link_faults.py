"""The link under faults, over real pseudo-terminals: the wire cut in the middle of a deposit and of a
pickup, a board's power cut (with a code changed while it was off), 1% line noise, and a link
restart with queued and half-done commands. Every operation completes and no lock pulses twice
(the simulator counts the coil's pulses)."""
import re
import threading
import time

import pytest
from sqlalchemy import select
from support.link_stack import (
    call,
    clear_code,
    code_installed,
    cut,
    deposit,
    duplicate_events,
    online_stack,
    parcel_state,
    pulses,
    put_and_close,
    take_and_close,
    wait_for,
    where,
)

from server.models import AuditEvent, Notification

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def stack(tmp_path):
    yield from online_stack(tmp_path / "stack", wait_s=3)


def _online(st, n=2):
    from server.services import link_state
    return sum(b["online"] for b in link_state.board_status(st.db, st.locker_ids[0])) == n


def _cut_when_pulsed(sim, address, number):
    """Cut the wire the moment the lock's coil energises: the board is executing the OPEN, and its
    reply will never arrive."""
    comp = sim.compartment(address, number)
    before = comp.pulses

    def watch():
        end = time.monotonic() + 10
        while comp.pulses == before and time.monotonic() < end:
            time.sleep(0.0005)
        cut(sim)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def _deposited(st, tracking="SF3000001"):
    lid = st.locker_ids[0]
    sim = st.sims[lid]
    status, out = deposit(st, lid, tracking, "13800000001")
    assert status == 201 and out["command"]["state"] == "done", out
    pid = out["parcel"]["id"]
    addr, number = where(st.db, pid)
    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(st.db, pid) == "in_locker", what="deposit confirmed")
    wait_for(lambda: code_installed(st.db, sim, pid), what="code on the board")
    return pid, addr, number


def test_cut_in_the_middle_of_a_deposit(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    addr, number = 1, 1  # the smallest free compartment: S on board 1
    watcher = _cut_when_pulsed(sim, addr, number)
    status, out = deposit(stack, lid, "SF3000002", "13800000001")
    watcher.join()
    assert status == 201, out
    cmd = out["command"]
    assert cmd["state"] == "sent" and cmd["status_url"] == "/api/v1/commands/%d" % cmd["id"]  # poll this
    pid = out["parcel"]["id"]
    assert where(stack.db, pid) == (addr, number)
    wait_for(lambda: sim.compartment(addr, number).door_open, what="the door opened anyway")
    put_and_close(sim, addr, number)
    time.sleep(0.5)
    assert parcel_state(stack.db, pid) == "reserved"
    cut(sim, False)
    # the board's journal tells: the OPEN ran (OPEN_RESULT with the command id), the door closed on it
    wait_for(lambda: parcel_state(stack.db, pid) == "in_locker", what="deposit confirmed after the cut")
    status, polled = call("GET", stack.url + cmd["status_url"], stack.tokens["couriers"][0]["token"])
    assert status == 200 and polled["state"] == "done" and polled["result"] == "opened", polled
    wait_for(lambda: code_installed(stack.db, sim, pid), what="code on the board")
    assert pulses(sim, addr, number) == 1
    assert duplicate_events(stack.db) == []


def test_cut_in_the_middle_of_a_pickup(stack):
    pid, addr, number = _deposited(stack)
    sim = stack.sims[stack.locker_ids[0]]
    with stack.db.reading() as s:
        body = s.scalars(select(Notification.body).where(Notification.parcel_id == pid,
                                                         Notification.kind == "pickup_code")).first()
    token, code = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", body).groups()
    watcher = _cut_when_pulsed(sim, addr, number)
    status, out = call("POST", stack.url + "/api/v1/pickup/%s/open" % token, None, {"code": code})
    watcher.join()
    assert status == 200 and out["command"]["state"] == "sent", out
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door open for the villager")
    take_and_close(sim, addr, number)
    cut(sim, False)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="pickup completed after the cut")
    assert pulses(sim, addr, number) == 2  # deposit + pickup, none repeated
    wait_for(lambda: not sim.board(addr).app.codes.has(number - 1), what="used code cleared on the board")


def test_board_power_cut_and_code_changed_meanwhile(stack):
    pid, addr, number = _deposited(stack)
    sim = stack.sims[stack.locker_ids[0]]
    old = clear_code(stack.db, pid)
    sim.power_cut(addr)
    wait_for(lambda: _online(stack, 1), what="board reported offline")
    # while the board is dark the station re-sends the notification: a new code replaces the old one
    status, out = call("POST", stack.url + "/api/v1/parcels/%d/resend" % pid, stack.tokens["operator"])
    assert status == 200, out
    new = clear_code(stack.db, pid)
    assert new != old
    sim.power_on(addr)
    wait_for(lambda: _online(stack, 2), what="board back online")
    wait_for(lambda: code_installed(stack.db, sim, pid), what="new code installed after the power cut")
    sim.type_code(addr, old + "#")  # the replaced code no longer opens
    time.sleep(0.5)
    assert not sim.compartment(addr, number).door_open
    sim.type_code(addr, new + "#")
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the new code")
    take_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="pickup recorded")
    with stack.db.reading() as s:
        actions = s.scalars(select(AuditEvent.action)).all()
    assert "board_offline" in actions and "board_online" in actions
    assert pulses(sim, addr, number) == 2


def test_line_noise_one_percent(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    sim.set_noise(0.01)
    done = [_deposit_under_noise(stack, sim, lid, k) for k in range(3)]
    for pid, addr, number in done:
        _pickup_under_noise(stack, sim, pid, addr, number)
    counts = sim.faults.counts
    assert sum(counts.values()) > 0, counts  # the noise really hit the wire
    assert duplicate_events(stack.db) == []
    assert sim.total_pulses() == 2 * len(done)


def _deposit_under_noise(stack, sim, lid, k):
    status, out = deposit(stack, lid, "SF400000%d" % k, "1380000000%d" % (k % 3 + 1), size="S")
    assert status == 201, out
    pid, cid = out["parcel"]["id"], out["command"]["id"]
    addr, number = where(stack.db, pid)
    # slow under noise: if the request's wait ran out, the handheld polls the command
    wait_for(lambda: _cmd_state(stack, cid) == "done", timeout=30, what="open command done")
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door open")
    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "in_locker", timeout=30, what="deposit confirmed")
    return pid, addr, number


def _pickup_under_noise(stack, sim, pid, addr, number):
    wait_for(lambda: code_installed(stack.db, sim, pid), timeout=30, what="code installed")
    sim.type_code(addr, clear_code(stack.db, pid) + "#")
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by code")
    take_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", timeout=30, what="pickup recorded")
    assert pulses(sim, addr, number) == 2, (pid, addr, number)


def _cmd_state(st, cid):
    from server.services import link_commands
    return link_commands.state_of(st.db, cid)[0]


def test_board_with_wiped_flash_gets_its_codes_and_journal_back(stack):
    """A board swapped for a blank one (or whose flash was wiped): its journal restarts at seq 1 and it
    holds no codes. The link stores its new events (none lost as duplicates) and re-installs the
    live codes, so the villager's code works again."""
    import os
    import shutil

    pid, addr, number = _deposited(stack)
    sim = stack.sims[stack.locker_ids[0]]
    board = sim.board(addr)
    sim.power_cut(addr)
    wait_for(lambda: _online(stack, 1), what="board reported offline")
    shutil.rmtree(board.flash_dir)
    os.makedirs(board.flash_dir)
    sim.power_on(addr)
    wait_for(lambda: code_installed(stack.db, sim, pid), what="code re-installed on the blank board")
    wait_for(lambda: "board_journal_restarted" in _actions(stack), what="journal restart noticed")
    # the blank board's BOOT (seq 1 again) is stored, not dropped as a duplicate of the old seq 1
    wait_for(lambda: _count_boots(stack) == 3, what="three BOOT events: two first boots and the blank board's")
    sim.type_code(addr, clear_code(stack.db, pid) + "#")
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the re-installed code")
    take_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="pickup recorded")
    assert _count_boots(stack) == 3
    assert duplicate_events(stack.db) == []
    assert pulses(sim, addr, number) == 2


def _actions(st):
    with st.db.reading() as s:
        return s.scalars(select(AuditEvent.action)).all()


def _count_boots(st):
    from support.link_stack import events_of

    from protocol import messages as m
    return events_of(st.db, m.EV_BOOT)
