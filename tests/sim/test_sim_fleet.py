"""Simulated lockers in another process (hardware_sim.fleet, as the benchmarks run them): the link drives
them over their pseudo-terminals, and the demo day acts on them through RemoteSimLocker exactly as
on a SimLocker: a deposit and a keypad pickup, a wire cut and mend, codes and journal read back."""
import pytest
from support.link_stack import wait_for

from server.demo.day import Day
from server.demo.stack import Stack
from server.services import link_state

pytestmark = pytest.mark.timeout(150)


def test_day_against_lockers_in_a_fleet_process(tmp_path):
    with Stack(root=str(tmp_path / "stack"), lockers=2, boards=1, per_board=4, status_period_s=0.2, wait_s=8,
               sim_processes=1) as st:
        assert len(st.fleets) == 1 and st.fleets[0].proc.pid
        day = Day(parcels=0, lockers=2)
        day.stack, day.db = st, st.db
        assert day._wait(day._all_online, what="boards online")
        lid = st.locker_ids[1]
        pid = day.deposit(1, lid)
        assert pid is not None, day.errors
        assert day._code_on_board(pid)
        assert day.pickup(pid, by_qr=False), day.errors
        sim = st.sims[lid]
        assert sum(c.pulses for c in sim.board(1).compartments) == 2  # deposit and pickup, nothing else
        sim.faults.drop = 1.0  # the wire is cut in the other process: the link sees the board go
        wait_for(lambda: not link_state.board_status(st.db, lid)[0]["online"], what="board offline")
        sim.faults.drop = 0.0
        assert day._wait(day._all_online, what="board back")
        assert day._wait(day._quiet, what="link quiet")
        assert day._double_opens() == 0 and day.errors == []
        with pytest.raises(RuntimeError):
            st.fleets[0].call(lid, "no_such_call")
    assert st.fleets == []
