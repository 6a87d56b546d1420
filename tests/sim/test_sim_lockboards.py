# The commercial lock-board drivers (Kerong KR-CU16 and "8A") end to end: the host talks to the real
# firmware over TCP, the firmware to a simulated lock board that answers as the vendors' boards do
# (hardware_sim/lockboards.py). Whatever the board's replies do -- come late, get lost, come back
# garbled, or stop -- every OPEN pulses its lock exactly once (the simulated coil counts) and the
# door's outcome is what the board and the door switch report.
import pytest
from support.sim_session import kinds, open_, start, stop, wait_for

from protocol import messages as m

DIALECTS = [("kerong", "hook_1_is_locked"), ("kerong", "hook_1_is_open"),
            ("8a", "short_when_locked"), ("8a", "short_when_open")]


def _session(lock_type, polarity, n=12, lockboard=None, lock_config=None, occupancy=True):
    cfg = {"polarity": polarity}
    cfg.update(lock_config or {})
    opts = {"polarity": polarity}
    opts.update(lockboard or {})
    spec = {"address": 1, "lock_config": cfg, "lockboard_options": opts, "occupancy": occupancy}
    return start(transport="tcp", compartments=n, lock_type=lock_type, board_specs=[spec])


def _latched(host, comp):
    return host.call(1, m.STATUS).fields["compartments"][comp - 1] & m.ST_LOCKED


def _opens_once(locker, host, comp, result=m.OPEN_OPENED):
    """OPEN comp: the result, and exactly one pulse of its coil."""
    c = locker.compartment(1, comp)
    before = c.pulses
    # after a lost reply the driver holds the bus for its status queries (8A: 1.5 s windows); an
    # OPEN queued behind that longer than 800 ms is REFUSED / BUSY, so these wait for it
    wait_for(lambda: not locker.board(1).app.locks.awaiting_reply(), what="the last pulse's reply")
    f = open_(host, 1, comp)
    assert f["result"] == result, (comp, f)
    wait_for(lambda: c.pulses > before, what="the pulse")
    return c.pulses - before


def _shut(locker, host, comp):
    c = locker.compartment(1, comp)
    wait_for(lambda: not c.coil, what="the pulse over")  # shut on a live coil, the spring pops it again
    locker.close_door(1, comp)
    wait_for(lambda: _latched(host, comp), what="door %d latched again" % comp)


@pytest.mark.parametrize("lock_type,polarity", DIALECTS)
def test_every_open_pulses_once_whatever_the_replies_do(lock_type, polarity):
    locker, host = _session(lock_type, polarity)
    b = locker.board(1)
    lb = b.lockboard
    drv = b.app.locks
    try:
        assert host.call(1, m.HELLO).fields["capabilities"] & m.CAP_LOCK_BOARD
        wait_for(lambda: all(s & m.ST_LOCKED for s in host.call(1, m.STATUS).fields["compartments"]),
                 what="status polled from the lock board")
        assert _opens_once(locker, host, 1) == 1
        wait_for(lambda: not _latched(host, 1), what="released")
        _shut(locker, host, 1)
        # the unlock's reply is lost: status queries follow, never a second pulse
        lb.lose_next("unlock")
        assert _opens_once(locker, host, 2) == 1
        # the reply comes after the driver's window, while its status queries run: still a success
        lb.reply_ms = drv.window_ms + 100
        assert _opens_once(locker, host, 3) == 1
        wait_for(lambda: drv.counters["late_replies"] >= 1, what="the late reply recognised")
        wait_for(lambda: not lb.pending_replies(), what="the board's replies all sent")
        lb.reply_ms = 50 if lock_type == "kerong" else 500
        assert drv.healthy()
        # a garbled reply the weak check lets through (it says latched): the next poll contradicts it
        faults = drv.counters["line_faults"]
        lb.garble_next("unlock", fix_sum=True)
        assert _opens_once(locker, host, 4) == 1
        wait_for(lambda: drv.counters["line_faults"] > faults, what="the line fault counted %r" % (drv.counters,))
        wait_for(lambda: not _latched(host, 4), what="the polls' word on door 4")
        # a garbled reply the check catches: ignored and counted
        bad = drv.counters["bad_checksum"]
        lb.garble_next("unlock", fix_sum=False)
        assert _opens_once(locker, host, 5) == 1
        wait_for(lambda: drv.counters["bad_checksum"] > bad, what="the bad checksum counted %r" % (drv.counters,))
        # a jammed latch, a door switch stuck closed, a door switch stuck open on a latched door
        locker.jam(1, 6)
        assert _opens_once(locker, host, 6, m.OPEN_JAMMED) == 1
        locker.dead_sensor(1, 7, 0)
        assert _opens_once(locker, host, 7, m.OPEN_SENSOR_FAULT) == 1  # the board's feedback: released
        locker.dead_sensor(1, 8, 1)
        wait_for(lambda: host.call(1, m.STATUS).fields["compartments"][7] & m.ST_DOOR_OPEN, what="switch reads open")
        assert _opens_once(locker, host, 8, m.OPEN_SENSOR_FAULT) == 1  # pulsed although "open"
        assert locker.compartment(1, 8).openings == 1
        assert [e["compartment"] for e in host.events(1) if e["kind"] == m.EV_SENSOR_FAULT][:2] == [7, 8]
        # frames from a board not ours, and with a bad checksum, are ignored and counted
        wrong = drv.counters["wrong_board"]
        if lock_type == "kerong":
            lb.uart.feed(bytes.fromhex("02f035ffff00000328"))  # board 15: 02+F0+35+FF+FF+03 = 0x328
            lb.uart.feed(bytes.fromhex("020035ffff00000339"))  # sum off by one
        else:
            lb.uart.feed(bytes.fromhex("8a09011193"))  # board 9: 8A^09^01^11 = 93
            lb.uart.feed(bytes.fromhex("8a0101119c"))  # XOR off by one
        wait_for(lambda: drv.counters["wrong_board"] > wrong, what="the wrong board's frame counted")
        r = host.call(1, m.CONFIG_GET, {"keys": ["lock_line"]})
        assert r.ok and r.fields["items"][0]["value"] == drv.line_report()
        # the board pulses but never answers again: the door decides, and the board reports the fault
        lb.mute = True
        assert _opens_once(locker, host, 9) == 1
        wait_for(lambda: m.EV_LOCK_FAULT in kinds(host.events(1)), timeout=10, what="LOCK_FAULT event")
        assert host.call(1, m.STATUS).fields["compartments"][0] & m.ST_FAULT_LOCK
        # a board known to be silent gets no frame: REFUSED / LOCK_FAULT is then the honest answer
        lb.dead = True
        before = lb.unlocks
        f = open_(host, 1, 10)
        assert (f["result"], f["detail"]) == (m.OPEN_REFUSED, m.REFUSE_LOCK_FAULT)
        assert lb.unlocks == before and locker.compartment(1, 10).pulses == 0
        assert drv.unlocks_sent == 9 and lb.bad_frames == 0
        assert [locker.compartment(1, i).pulses for i in range(1, 13)] == [1] * 9 + [0] * 3
    finally:
        stop(locker, host)


def test_a_kerong_board_silent_after_its_pulse_opens_every_door_once():
    locker, host = _session("kerong", "hook_1_is_locked", lockboard={"busy_ms": 400})
    try:
        wait_for(lambda: _latched(host, 1) and _latched(host, 2), what="status polled")
        for comp in (1, 2, 3):  # each OPEN reaches the board within its deaf time after the last pulse
            assert _opens_once(locker, host, comp) == 1
        assert locker.board(1).app.locks.healthy()
        assert m.EV_LOCK_FAULT not in kinds(host.events(1))
    finally:
        stop(locker, host)


@pytest.mark.parametrize("lock_type", ["kerong", "8a"])
def test_the_lock_uart_runs_at_the_boards_baud(lock_type):
    # no baud in the config: the dialect's factory rate (Kerong 19200, 8A 9600) on the UART
    locker, host = _session(lock_type, "hook_1_is_locked" if lock_type == "kerong" else "short_when_locked", n=4)
    try:
        assert locker.board(1).hw.uart(2).baudrate == (19200 if lock_type == "kerong" else 9600)
        assert _opens_once(locker, host, 1) == 1
    finally:
        stop(locker, host)
    # a board set to another rate than the config's understands nothing, and it shows
    locker, host = _session("kerong", "hook_1_is_locked", n=4, lockboard={"baud": 9600})
    try:
        wait_for(lambda: m.EV_LOCK_FAULT in kinds(host.events(1)), timeout=10, what="LOCK_FAULT event")
        assert locker.board(1).lockboard.frames == 0
    finally:
        stop(locker, host)


def test_kerong_ir_is_the_occupancy_sensor_and_no_ir_reads_as_no_sensor():
    locker, host = _session("kerong", "hook_1_is_locked", n=4, lock_config={"ir": True}, occupancy=False)
    try:
        assert host.call(1, m.HELLO).fields["capabilities"] & m.CAP_OCCUPANCY
        locker.put_parcel(1, 2)
        wait_for(lambda: host.call(1, m.STATUS).fields["compartments"][1] & m.ST_OCCUPIED, what="IR sees it")
        st = host.call(1, m.STATUS).fields["compartments"]
        assert not st[0] & (m.ST_OCCUPIED | m.ST_NO_OCCUPANCY_SENSOR)  # known empty
        locker.take_parcel(1, 2)
        wait_for(lambda: not host.call(1, m.STATUS).fields["compartments"][1] & m.ST_OCCUPIED, what="empty")
    finally:
        stop(locker, host)
    locker, host = _session("kerong", "hook_1_is_locked", n=4, occupancy=False)
    try:
        locker.put_parcel(1, 2)  # a cabinet without IR: the board reports 0, which means nothing
        wait_for(lambda: _latched(host, 2), what="status polled")
        st = host.call(1, m.STATUS).fields["compartments"]
        assert all(s & m.ST_NO_OCCUPANCY_SENSOR for s in st)
        assert not host.call(1, m.HELLO).fields["capabilities"] & m.CAP_OCCUPANCY
    finally:
        stop(locker, host)
