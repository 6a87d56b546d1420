"""The locker link end to end over real pseudo-terminals and TCP: HTTP deposit -> the simulated door
opens -> closed with the parcel -> confirmed -> the code lands on the board -> the villager types it
with the link cut (offline pickup) -> the link returns and the pickup is reconciled, exactly once."""
import time

import pytest
from support.link_stack import (
    clear_code,
    code_installed,
    cut,
    deposit,
    duplicate_events,
    events_of,
    online_stack,
    parcel_state,
    pulses,
    put_and_close,
    take_and_close,
    wait_for,
    where,
)

from protocol import messages as m

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["tcp"])  # pty: the fault tests below run over ptys
def stack(request, tmp_path):
    yield from online_stack(tmp_path / "stack", transport=request.param)


def _boards(st):
    from server.services import link_state
    return link_state.board_status(st.db, st.locker_ids[0])


def test_deposit_confirm_code_offline_pickup_reconciled(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    status, out = deposit(stack, lid, "SF2000001", "13800000001")
    assert status == 201, out
    cmd = out["command"]
    assert cmd["state"] == "done" and cmd["result"] == "opened", cmd  # the request waited for the door
    pid = out["parcel"]["id"]
    addr, number = where(stack.db, pid)
    assert sim.compartment(addr, number).door_open
    assert pulses(sim, addr, number) == 1

    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "in_locker", what="deposit confirmed by the door")
    wait_for(lambda: code_installed(stack.db, sim, pid), what="pickup code installed on the board")

    cut(sim)  # the 4G bridge drops: the board is on its own
    code = clear_code(stack.db, pid)
    sim.type_code(addr, code + "#")
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the keypad code")
    take_and_close(sim, addr, number)
    time.sleep(0.3)
    assert parcel_state(stack.db, pid) == "in_locker"  # the server cannot know yet
    cut(sim, False)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="offline pickup reconciled")
    assert pulses(sim, addr, number) == 2  # one for the deposit, one for the keypad: never twice
    assert events_of(stack.db, m.EV_PICKUP_OFFLINE) == 1
    assert duplicate_events(stack.db) == []
    # the used code is gone from the board too
    wait_for(lambda: sim.board(addr).app.codes.has(number - 1) is False, what="code cleared on the board")


def test_forced_door_raises_an_alarm_and_events_are_stored_once(stack):
    from sqlalchemy import select

    from server.models import Alarm, AuditEvent
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    sim.force_door(2, 3)  # pried open, no unlock
    wait_for(lambda: _alarms(stack, "forced_door"), what="forced-door alarm")
    sim.close_door(2, 3)
    wait_for(lambda: events_of(stack.db, m.EV_DOOR_CLOSED) >= 1, what="door closed event")
    assert pulses(sim, 2, 3) == 0
    with stack.db.reading() as s:
        alarm = s.scalars(select(Alarm).where(Alarm.kind == "forced_door")).one()
        assert alarm.locker_id == lid and alarm.detail["board"] == 2
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "door_opened")).first() is not None
    assert duplicate_events(stack.db) == []


def _alarms(st, kind):
    from sqlalchemy import select

    from server.models import Alarm
    with st.db.reading() as s:
        return s.scalars(select(Alarm).where(Alarm.kind == kind)).all()


def test_jammed_lock_fails_the_deposit_once(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    sim.jam(1, 1)  # the smallest compartment, the one a small parcel gets, will not open
    status, out = deposit(stack, lid, "SF2000009", "13800000002")
    assert status == 201, out
    assert out["command"]["state"] == "failed" and out["command"]["result"] == "jammed", out["command"]
    assert pulses(sim, 1, 1) == 1  # acknowledged is not opened, and a jam is not retried
    assert parcel_state(stack.db, out["parcel"]["id"]) == "cancelled"  # the courier's retry reserves afresh
    assert _alarms(stack, "door_failed")
