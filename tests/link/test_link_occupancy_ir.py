"""A retrofitted cabinet's Kerong KR-CU16 board with IR occupancy sensors, end to end: the board's IR
bits (the 9-byte `35` replies) become the firmware's occupancy, travel in STATUS, and the server acts
on them through the link: a deposit door shut on an empty compartment asks the courier, a pickup door
shut on the parcel raises "parcel may still be inside", a free compartment with something left in it
raises "something left inside". The real firmware on simulated boards, over TCP."""
import pytest
from sqlalchemy import select
from support.link_stack import (call, clear_code, code_installed, deposit, online_stack, parcel_state, pulses,
                                wait_for, where)

from server.demo.day import human_close
from server.models import Alarm

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def stack(tmp_path):
    yield from online_stack(tmp_path / "stack", transport="tcp",
                            board_options={"lock_type": "kerong", "lock_config": {"ir": True}, "occupancy": False})


def _alarms(st, lid):
    with st.db.reading() as s:
        return sorted(s.scalars(select(Alarm.kind).where(Alarm.locker_id == lid, Alarm.cleared_at.is_(None))).all())


def _attention(st, pid):
    c = st.tokens["couriers"][0]
    status, body = call("GET", st.url + "/api/v1/parcels/%d" % pid, c["token"])
    assert status == 200, body
    return body["attention"]


def test_ir_occupancy_drives_the_three_outcomes_through_the_link(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    status, out = deposit(stack, lid, "SF3000001", "13800000001")
    assert status == 201 and out["command"]["result"] == "opened", out
    pid = out["parcel"]["id"]
    addr, number = where(stack.db, pid)
    assert pulses(sim, addr, number) == 1
    human_close(sim, addr, number)                      # shut with nothing put in
    wait_for(lambda: _attention(stack, pid) == "closed_empty", what="the courier asked about an empty door")
    assert parcel_state(stack.db, pid) == "reserved"

    c = stack.tokens["couriers"][0]
    status, body = call("POST", stack.url + "/api/v1/parcels/%d/reopen" % pid, c["token"])
    assert status == 200, body
    wait_for(lambda: sim.compartment(addr, number).door_open, what="the door open again")
    assert pulses(sim, addr, number) == 2               # one pulse per open: two opens, two pulses
    human_close(sim, addr, number, put=True)
    wait_for(lambda: parcel_state(stack.db, pid) == "in_locker", what="deposit confirmed by the IR bits")

    wait_for(lambda: code_installed(stack.db, sim, pid), what="the pickup code on the board")
    code = clear_code(stack.db, pid)
    sim.type_code(addr, code + "#")
    wait_for(lambda: sim.compartment(addr, number).door_open, what="the door opened by the code")
    human_close(sim, addr, number)                      # the villager shut it with the parcel still inside
    wait_for(lambda: "parcel_still_inside" in _alarms(stack, lid), what="parcel may still be inside")
    assert parcel_state(stack.db, pid) == "in_locker"  # kept, and its code live again

    # Something left in a free compartment (the cabinet's other board, door shut all along).
    other = 2 if addr == 1 else 1
    sim.put_parcel(other, 4)
    wait_for(lambda: "unexpected_item" in _alarms(stack, lid), what="something left inside")
