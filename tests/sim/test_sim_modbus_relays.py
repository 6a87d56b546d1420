# Modbus RTU relay modules (firmware/lock_modbus.py) end to end: the real firmware in the simulator,
# the host over a real TCP link, the modules simulated on the lock UART (hardware_sim/modbus_relays.py).
# Also the simulated module's answers and the firmware's frames against pymodbus' RTU framer, where
# pymodbus is installed (it is not yet a dependency: docs/adr/0013-modbus-rtu-relay-modules.md).
import pytest
from support.sim_session import kinds, open_, start, stop, wait_for

from firmware import modbus_rtu as mb
from hardware_sim.machine import SimUart
from hardware_sim.modbus_relays import ModbusRelaysSim
from hardware_sim.physics import Compartment
from protocol import messages as m


def _locker(polarity="input_1_is_locked", compartments=12, pulse_mode="onoff"):
    # 12 compartments: two modules (slaves 1 and 2), the second half used
    opts = {"polarity": polarity, "pulse_mode": pulse_mode}
    return start(transport="tcp", lock_type="modbus", board_specs=[{"address": 1, "compartments": compartments,
                                                                     "modbus": opts}])


def _ons(lb, slave, ch):
    """How often the module acted on a switch-on of this channel (plain or flash)."""
    return sum(1 for s, fc, a, v in lb.log if s == slave and fc == mb.WRITE_COIL and v != mb.OFF
               and a in (ch, 0x0200 + ch))


def _all_locked(host):
    return all(s & m.ST_LOCKED for s in host.call(1, m.STATUS).fields["compartments"])


@pytest.mark.parametrize("polarity", ["input_1_is_locked", "input_1_is_open"])
def test_open_is_one_pulse_and_opened_in_both_polarities(polarity):
    locker, host = _locker(polarity)
    try:
        board = locker.board(1)
        lb = board.lockboard
        assert lb.polarity == polarity
        wait_for(lambda: _all_locked(host), what="every latch read as locked from the inputs")
        assert open_(host, 1, 10)["result"] == m.OPEN_OPENED  # slave 2, channel 1
        assert locker.compartment(1, 10).pulses == 1
        wait_for(lambda: not lb.coil_on(9), what="the relay switched off after the pulse")
        assert _ons(lb, 2, 1) == 1
        st = wait_for(lambda: (lambda c: c if not c[9] & m.ST_LOCKED else None)(
            host.call(1, m.STATUS).fields["compartments"]), what="the open door read as released")
        assert st[0] & m.ST_LOCKED and not st[0] & m.ST_FAULT_LOCK
        assert (board.app.locks.crc_errors, board.app.locks.foreign, lb.bad_frames) == (0, 0, 0)
    finally:
        stop(locker, host)


@pytest.mark.parametrize("fault", ["lose", "garble", "busy", "ghost"])
def test_a_lost_garbled_busy_or_foreign_reply_still_gives_one_pulse(fault):
    locker, host = _locker()
    try:
        board = locker.board(1)
        lb = board.lockboard
        wait_for(lambda: _all_locked(host), what="status from the modules")
        wait_for(lambda: board.app.locks._req is None, what="a quiet bus")  # the fault hits the ON's reply
        setattr(lb, fault, 1)
        assert open_(host, 1, 3)["result"] == m.OPEN_OPENED
        assert locker.compartment(1, 3).pulses == 1 and _ons(lb, 1, 2) == 1
        wait_for(lambda: not lb.coil_on(2), what="the relay switched off")
        locks = board.app.locks
        if fault == "garble":
            assert locks.crc_errors >= 1  # counted, and the coil read back instead
        if fault == "ghost":
            assert locks.foreign == 1  # another slave's frame, ignored
        if fault == "busy":
            assert locks.exceptions == 1
        if fault in ("lose", "garble"):
            assert (1, mb.READ_COILS, 2, 1) in lb.log  # the ON's fate read back, never a second ON
        assert m.EV_LOCK_FAULT not in kinds(host.events(1))
    finally:
        stop(locker, host)


def test_a_dead_module_is_a_lock_fault_and_gets_no_pulse():
    locker, host = _locker()
    try:
        lb = locker.board(1).lockboard
        wait_for(lambda: _all_locked(host), what="status from the modules")
        lb.dead = True
        # the ON went out unanswered: it may have switched, so the door decides (it did not move: JAMMED)
        f = open_(host, 1, 4)
        assert f["result"] == m.OPEN_JAMMED, f
        assert locker.compartment(1, 4).pulses == 0
        wait_for(lambda: m.EV_LOCK_FAULT in kinds(host.events(1)), what="LOCK_FAULT event")
        # now known silent: the next open gets no frame, REFUSED / LOCK_FAULT
        f = open_(host, 1, 3)
        assert (f["result"], f["detail"]) == (m.OPEN_REFUSED, m.REFUSE_LOCK_FAULT)
        assert locker.compartment(1, 3).pulses == 0
        assert host.call(1, m.STATUS).fields["compartments"][0] & m.ST_FAULT_LOCK
        lb.dead = False  # it comes back: healthy again without a restart
        wait_for(lambda: not host.call(1, m.STATUS).fields["compartments"][0] & m.ST_FAULT_LOCK,
                 what="the module answering again")
    finally:
        stop(locker, host)


def test_a_relay_left_on_is_reported_loudly_and_switched_off_when_the_module_answers():
    locker, host = _locker()
    try:
        board = locker.board(1)
        lb = board.lockboard
        wait_for(lambda: _all_locked(host), what="status from the modules")
        wait_for(lambda: board.app.locks._req is None, what="a quiet bus")
        lb.die_after = 1  # acts on the ON, then hears nothing: the OFF never arrives
        assert open_(host, 1, 2)["result"] == m.OPEN_OPENED
        wait_for(lambda: m.EV_LOCK_FAULT in kinds(host.events(1)), what="LOCK_FAULT for the coil left on")
        assert lb.coil_on(1) and host.call(1, m.STATUS).fields["compartments"][0] & m.ST_FAULT_LOCK
        f = open_(host, 1, 5)  # no second coil while one may be energised
        assert (f["result"], f["detail"]) == (m.OPEN_REFUSED, m.REFUSE_LOCK_FAULT)
        lb.dead = False
        wait_for(lambda: not lb.coil_on(1), what="every coil commanded off once the module answers")
        wait_for(lambda: not host.call(1, m.STATUS).fields["compartments"][0] & m.ST_FAULT_LOCK, what="healthy")
        assert locker.compartment(1, 2).pulses == 1 and locker.compartment(1, 5).pulses == 0
    finally:
        stop(locker, host)


def test_flash_mode_lets_the_module_time_the_pulse_and_a_module_without_it_refuses():
    locker, host = _locker(pulse_mode="flash")
    try:
        lb = locker.board(1).lockboard
        wait_for(lambda: _all_locked(host), what="status from the modules")
        assert open_(host, 1, 1)["result"] == m.OPEN_OPENED
        assert (1, mb.WRITE_COIL, 0x0200, 5) in lb.log  # flash on, 5 x 100 ms
        assert locker.compartment(1, 1).pulses == 1
        wait_for(lambda: not lb.coil_on(0), what="the flash over")
        lb.flash = False  # a module without Waveshare's flash command: "illegal data address"
        f = open_(host, 1, 6)
        assert (f["result"], f["detail"]) == (m.OPEN_REFUSED, m.REFUSE_LOCK_FAULT)
        assert locker.compartment(1, 6).pulses == 0
    finally:
        stop(locker, host)


# -- the simulated module alone: standard answers, exceptions, silence --------------------------------
def _module(**kw):
    uart = SimUart()
    comps = [Compartment() for _ in range(8)]
    sim = ModbusRelaysSim(comps, uart, [1], **kw)
    return sim, uart, comps


def _ask(sim, uart, frame, now=0):
    uart.write(frame)
    sim.step(now)
    return uart.read() or b""


def test_the_simulated_module_answers_as_the_spec_says():
    sim, uart, comps = _module()
    assert _ask(sim, uart, mb.write_coil(1, 0, mb.ON)) == mb.write_coil(1, 0, mb.ON)
    assert comps[0].coil and comps[0].pulses == 1
    assert _ask(sim, uart, mb.read_coils(1, 0, 8)) == mb._adu(bytearray((1, 1, 1, 0x01)))
    # inputs: every latch shut, so input_1_is_locked reads all ones except the released lock 0
    comps[0].step(100)
    assert _ask(sim, uart, mb.read_inputs(1, 0, 8), 100) == mb._adu(bytearray((1, 2, 1, 0xFE)))
    assert _ask(sim, uart, mb.write_coils(1, 0, 8, 0)) == mb._adu(bytearray((1, 0x0F, 0, 0, 0, 8)))
    assert not comps[0].coil
    # exceptions: an address past the 8 channels, a bad coil value, an unknown function
    assert _ask(sim, uart, mb.read_inputs(1, 4, 8)) == mb._adu(bytearray((1, 0x82, 2)))
    assert _ask(sim, uart, mb.write_coil(1, 0, 0x1234)) == mb._adu(bytearray((1, 0x85, 3)))
    assert _ask(sim, uart, mb._request(1, 0x03, 0, 1)) == mb._adu(bytearray((1, 0x83, 1)))
    # silence: another slave, a bad CRC, a broadcast write (acted on, never answered)
    assert _ask(sim, uart, mb.write_coil(9, 0, mb.ON)) == b"" and sim.ignored == 1
    bad = bytearray(mb.write_coil(1, 1, mb.ON))
    bad[-1] ^= 1
    assert _ask(sim, uart, bytes(bad)) == b"" and sim.bad_frames == 1 and not comps[1].coil
    assert _ask(sim, uart, mb.write_coil(0, 2, mb.ON)) == b"" and comps[2].coil


def test_a_half_frame_ended_by_silence_is_dropped_not_joined_to_the_next():
    sim, uart, comps = _module()
    frame = mb.write_coil(1, 0, mb.ON)
    uart.write(frame[:5])
    sim.step(0)
    sim.step(10)  # 10 ms of silence: more than 3.5 characters at 9600 baud
    assert sim.bad_frames == 1
    assert _ask(sim, uart, mb.write_coil(1, 3, mb.ON), 11) == mb.write_coil(1, 3, mb.ON)
    assert comps[3].coil and not comps[0].coil


# -- against pymodbus (a maintained Modbus stack), where it is installed ----------------------------------
def test_frames_agree_with_pymodbus():
    pymodbus = pytest.importorskip("pymodbus")
    from pymodbus.framer import FramerRTU
    from pymodbus.pdu import DecodePDU
    from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsRequest, ReadDiscreteInputsResponse

    assert pymodbus.__version__
    server = FramerRTU(DecodePDU(True))  # decodes requests, as a module does
    client = FramerRTU(DecodePDU(False))  # decodes replies, as the controller does
    for frame, fc, addr in ((mb.write_coil(7, 3, mb.ON), 5, 3), (mb.read_coils(7, 3, 1), 1, 3),
                            (mb.read_inputs(7, 0, 8), 2, 0), (mb.write_coils(7, 0, 8, 0), 15, 0)):
        used, pdu = server.handleFrame(frame, 0, 0)
        assert used == len(frame) and (pdu.function_code, pdu.dev_id, pdu.address) == (fc, 7, addr)
    _, pdu = server.handleFrame(mb.write_coils(7, 0, 8, 0b101), 0, 0)
    assert pdu.bits[:3] == [True, False, True]
    # replies built by pymodbus, read by the firmware: bit k is input k, LSB first
    want = [True, False, False, True, False, False, False, True]
    wire = client.buildFrame(ReadDiscreteInputsResponse(dev_id=7, bits=want))
    assert mb.reply_len(wire, 0) == len(wire)
    assert [bool((mb.bits(wire, 8) >> k) & 1) for k in range(8)] == want
    # the simulated module's replies, read by pymodbus
    sim, uart, comps = _module()
    comps[0].set_coil(True, 0)
    comps[0].step(100)
    reply = _ask(sim, uart, client.buildFrame(ReadDiscreteInputsRequest(dev_id=1, address=0, count=8)), 100)
    used, pdu = client.handleFrame(reply, 0, 0)
    assert isinstance(pdu, ReadDiscreteInputsResponse) and pdu.bits[:8] == [False] + [True] * 7
    reply = _ask(sim, uart, mb.read_coils(1, 0, 8), 100)
    assert isinstance(client.handleFrame(reply, 0, 0)[1], ReadCoilsResponse)
