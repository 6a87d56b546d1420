# Both commercial lock-board drivers (Kerong CU16 and "8A"), end to end through the simulator.
import pytest
from support.sim_session import kinds, open_, start, stop, wait_for

from firmware.lock_serial import kerong_frame, x8a_frame
from protocol import messages as m


def test_frames_match_the_vendor_formats():
    assert kerong_frame(0x00, 0x31) == bytes.fromhex("0200310336")  # board 0, lock 0, unlock
    assert kerong_frame(0x12, 0x31) == bytes((0x02, 0x12, 0x31, 0x03, (0x02 + 0x12 + 0x31 + 0x03) & 0xFF))
    assert x8a_frame(0x8A, 1, 1, 0x11) == bytes.fromhex("8a0101119b")
    assert x8a_frame(0x80, 1, 2, 0x33) == bytes((0x80, 1, 2, 0x33, 0x80 ^ 1 ^ 2 ^ 0x33))


@pytest.mark.parametrize("lock_type", ["kerong", "8a"])
def test_commercial_board_open_jam_status_and_silence(lock_type):
    # 20 compartments: the Kerong side spans two CU16 boards, the 8A side one 24-lock board
    locker, host = start(transport="tcp", compartments=20, lock_type=lock_type)
    try:
        hello = host.call(1, m.HELLO).fields
        assert hello["capabilities"] & m.CAP_LOCK_BOARD
        wait_for(lambda: all(s & m.ST_LOCKED for s in host.call(1, m.STATUS).fields["compartments"]),
                 what="status polled from the lock board")
        assert open_(host, 1, 18)["result"] == m.OPEN_OPENED
        assert locker.compartment(1, 18).pulses == 1
        wait_for(lambda: not host.call(1, m.STATUS).fields["compartments"][17] & m.ST_LOCKED, what="released")
        locker.jam(1, 3)
        assert open_(host, 1, 3)["result"] == m.OPEN_JAMMED
        locker.dead_sensor(1, 5, 0)
        assert open_(host, 1, 5)["result"] == m.OPEN_SENSOR_FAULT  # the lock board's feedback says released
        # the lock board stops answering: no pulse can be given, and the board says so
        locker.board(1).lockboard.dead = True
        f = open_(host, 1, 7)
        assert (f["result"], f["detail"]) == (m.OPEN_REFUSED, m.REFUSE_LOCK_FAULT)
        wait_for(lambda: m.EV_LOCK_FAULT in kinds(host.events(1)), what="LOCK_FAULT event")
        st = host.call(1, m.STATUS).fields["compartments"]
        assert st[0] & m.ST_FAULT_LOCK
        assert locker.board(1).lockboard.bad_frames == 0
    finally:
        stop(locker, host)
