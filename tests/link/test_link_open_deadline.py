"""A door open has a deadline (issue: a door opened two minutes late, with nobody there). A courier
deposits at a locker whose boards are powered off: at the deadline the open is withdrawn, the parcel's
reservation given up and the page says it failed; when the power comes back, no lock pulses."""
import datetime
import time

import pytest
from support.link_stack import commands, deposit, online_stack, parcel_state, pulses, wait_for, where
from support.server_world import build_world

from server.services import doors, link_commands, link_state

pytestmark = pytest.mark.timeout(120)
DEADLINE_S = 3


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setitem(doors.OPEN_DEADLINE_SECONDS, "deposit", DEADLINE_S)  # seconds, not the field's 30
    yield from online_stack(tmp_path / "stack", wait_s=1)


def _online(st):
    return [b["online"] for b in link_state.board_status(st.db, st.locker_ids[0])]


def test_an_open_for_a_powered_off_locker_fails_at_its_deadline_and_never_runs_later(stack):
    sim = stack.sims[stack.locker_ids[0]]
    for b in sim.boards.values():
        b.power_off()
    wait_for(lambda: not any(_online(stack)), timeout=20, what="boards seen offline")
    status, out = deposit(stack, stack.locker_ids[0], "PN-OFF-1", stack.accounts[0]["phone"])
    assert status == 201, out
    pid = out["parcel"]["id"]
    addr, number = where(stack.db, pid)
    assert out["command"]["state"] in ("queued", "sent")       # the request waited 1 s: not done
    started = time.monotonic()
    wait_for(lambda: parcel_state(stack.db, pid) == "cancelled", timeout=DEADLINE_S + 10,
             what="the deposit given up at the open's deadline")
    (cmd,) = [c for c in commands(stack.db) if c.kind == "open" and c.parcel_id == pid]
    assert cmd.state == "failed" and cmd.result.startswith("expired"), cmd.result
    assert link_commands.outcome(cmd) == "failed"
    assert time.monotonic() - started < DEADLINE_S + 8
    for b in sim.boards.values():
        b.power_on()
    wait_for(lambda: all(_online(stack)), timeout=20, what="boards back online")
    time.sleep(1.0)                       # polls, event reads and code syncs after the reboot
    assert pulses(sim, addr, number) == 0, "the door opened after the courier was told it failed"


def test_a_queued_open_past_its_deadline_is_withdrawn_without_any_link(db):
    """No worker at all claims it (the link is down): housekeeping's withdrawal still ends it."""
    from server import clock
    from server.models import LockerCommand, Parcel
    from server.services import deposits
    w = build_world(db)
    out = deposits.start_deposit(db, w.courier, w.locker_id, "PN-Q-1", w.consenting_phone, "S")
    with db.reading() as s:
        cmd = s.get(LockerCommand, out["command"]["id"])
        assert cmd.state == "queued" and link_commands.outcome(cmd) == "waiting"
        late = cmd.deadline_at + datetime.timedelta(seconds=1)
        assert link_commands.outcome(cmd, now=late) == "failed"   # the page says so even before withdrawal
    assert link_commands.withdraw_late_opens(db, now=clock.utcnow()) == 0
    assert link_commands.withdraw_late_opens(db, now=late) == 1
    with db.reading() as s:
        cmd = s.get(LockerCommand, out["command"]["id"])
        assert (cmd.state, cmd.result) == ("failed", "expired")
        assert s.get(Parcel, out["parcel"]["id"]).state == "cancelled"
