# Modbus RTU frames (firmware/modbus_rtu.py) against published bytes, and the relay-module driver
# (firmware/lock_modbus.py) against a scripted module on a fake UART: one pulse per open, whatever
# happens to the replies. Runs on CPython (pytest) and MicroPython (make test-mpy).
#
# Where the bytes come from (none is computed by the code under test):
#   CRC-16/MODBUS check value 0x4B37 for "123456789": the CRC catalogue (poly 0x8005 reflected,
#     init 0xFFFF, no final xor)
#   01 03 0000 000A C5 CD: the read-holding-registers frame quoted throughout the Modbus literature
#   FF 05 0000 FF00 99 E4 / FF 05 0000 0000 D8 14 / FF 0F 0000 0008 01 FF 30 1D / FF 0F 0000 0008 01 00 70 5D
#     and the reply FF 0F 0000 0008 41 D3: an 8-channel relay module's manual (slave FF, relay 1 on / off,
#     all on / all off), as published with the module
#   FF 02 0000 0008 6C 12 -> FF 02 01 01 51 A0: an LC-Technology relay module's "read optocoupler
#     inputs" and its reply (input 1 high)
#   PDU 01 03 CD 6B 05 answering "read coils 20..38": Modbus Application Protocol V1.1b3 section 6.1
#     ("the status of outputs 27-20 is CD hex": coil 20 is the LSB of the first byte)
# The same frames are checked against pymodbus' framer on the host (tests/sim/test_sim_modbus_relays.py).
from binascii import unhexlify

from firmware import modbus_rtu as mb
from firmware.lock_modbus import ModbusRelayLocks
from hardware_sim.fakes import Clock, Uart


def h(s):
    return unhexlify(s.replace(" ", ""))


def test_crc_check_value_of_the_crc_catalogue():
    assert mb.crc16(b"123456789") == 0x4B37


def test_requests_are_the_published_bytes():
    assert mb._request(0x01, 0x03, 0, 10) == h("01 03 0000 000A C5CD")
    assert mb.write_coil(0xFF, 0, mb.ON) == h("FF 05 0000 FF00 99E4")
    assert mb.write_coil(0xFF, 0, mb.OFF) == h("FF 05 0000 0000 D814")
    assert mb.write_coils(0xFF, 0, 8, 0xFF) == h("FF 0F 0000 0008 01 FF 301D")
    assert mb.write_coils(0xFF, 0, 8, 0) == h("FF 0F 0000 0008 01 00 705D")
    assert mb.read_inputs(0xFF, 0, 8) == h("FF 02 0000 0008 6C12")


def test_replies_are_framed_by_length_and_crc():
    assert mb.reply_len(h("FF 0F 0000 0008 41D3"), 0) == 8
    r = h("FF 02 01 01 51A0")
    assert mb.reply_len(r, 0) == 6
    assert mb.bits(r, 8) == 0x01  # input 1 high
    assert mb.reply_len(b"\x00\x00" + r, 2) == 6  # found after line noise
    assert mb.reply_len(r[:-1], 0) == 0  # not all here yet
    bad = bytearray(r)
    bad[3] ^= 0x04
    assert mb.reply_len(bad, 0) == 0  # one bit flipped: no frame
    exc = mb._adu(bytearray((0x11, 0x85, 0x02)))
    assert mb.reply_len(exc, 0) == 5


def test_coil_bits_are_read_lsb_first_as_the_spec_example():
    v = mb.bits(h("11 01 03 CD 6B 05"), 19)  # coils 20..38 (slave 11 put before the PDU)
    assert [(v >> k) & 1 for k in range(8)] == [1, 0, 1, 1, 0, 0, 1, 1]  # coils 20..27
    assert [(v >> k) & 1 for k in range(16, 19)] == [1, 0, 1]  # coils 36..38


class Module:
    """A relay module played by the test: answers 01/02/05/0F as the spec says (with the frame
    functions checked above); `lose`, `garble`, `busy` act on the next replies, `dead` on all."""

    def __init__(self, uart, slave=1, channels=8):
        self.uart = uart
        self.slave = slave
        self.coils = [0] * channels
        self.inputs = 0  # bit k = input k
        self.on_edges = [0] * channels
        self.lose = self.garble = self.busy = 0
        self.dead = False
        self.no_0f = False  # a module without "write multiple coils"
        self.seen = []

    def serve(self):
        data = self.uart.take()
        while len(data) >= 8:
            n = 9 + data[6] if data[1] == mb.WRITE_COILS else 8
            f, data = data[:n], data[n:]
            assert mb.crc16(f, 0, n - 2) == f[n - 2] | (f[n - 1] << 8)
            self.seen.append(f)
            if self.dead or f[0] != self.slave:
                continue
            if self.busy:
                self.busy -= 1
                self._reply(bytearray((f[0], f[1] | 0x80, mb.EXC_BUSY)))
                continue
            fc, a, v = f[1], (f[2] << 8) | f[3], (f[4] << 8) | f[5]
            if fc == mb.WRITE_COIL:
                if v == mb.ON and not self.coils[a]:
                    self.on_edges[a] += 1
                self.coils[a] = 1 if v == mb.ON else 0
                self._reply(bytearray(f[:6]))
            elif fc == mb.WRITE_COILS and self.no_0f:
                self._reply(bytearray((f[0], fc | 0x80, 1)))
            elif fc == mb.WRITE_COILS:
                for k in range(v):
                    self.coils[a + k] = (f[7 + k // 8] >> (k % 8)) & 1
                self._reply(bytearray(f[:6]))
            else:
                src = self.inputs if fc == mb.READ_INPUTS else sum(c << k for k, c in enumerate(self.coils))
                self._reply(bytearray((f[0], fc, (v + 7) // 8, (src >> a) & ((1 << v) - 1))))

    def _reply(self, body):
        out = bytearray(mb._adu(body))
        if self.lose:
            self.lose -= 1
            return
        if self.garble:
            self.garble -= 1
            out[2] ^= 0x10
        self.uart.feed(out)


class Bench:
    def __init__(self, count=8, **kw):
        self.clock = Clock()
        self.uart = Uart()
        self.mod = Module(self.uart)
        kw.setdefault("polarity", "input_1_is_locked")
        self.locks = ModbusRelayLocks(self.uart, count, [1], now=self.clock.ms(), **kw)
        self.results = []

    def run(self, ms, step=5):
        for _ in range(ms // step):
            self.locks.poll(self.clock.ms())
            self.mod.serve()
            self.clock.advance(step)

    def open(self, lock):
        self.locks.request(lock, lambda k, ok, t: self.results.append((k, ok)))


def _writes(seen, value):
    return [f for f in seen if f[1] == mb.WRITE_COIL and f[4:6] == bytes((value >> 8, value & 0xFF))]


def test_boot_switches_every_coil_off_then_polls_the_inputs():
    b = Bench()
    b.mod.coils[3] = 1  # left on by a reset mid-pulse
    b.mod.inputs = 0b11111110  # input_1_is_locked: lock 0 released, the rest latched
    b.run(100)
    assert b.mod.seen[0] == mb.write_coils(1, 0, 8, 0)
    assert b.mod.coils == [0] * 8
    assert b.locks.feedback(0) is True and b.locks.feedback(1) is False
    assert b.locks.healthy()


def test_the_other_polarity():
    b = Bench(polarity="input_1_is_open")
    b.mod.inputs = 0b00000001
    b.run(100)
    assert b.locks.feedback(0) is True and b.locks.feedback(1) is False


def test_open_is_one_on_then_one_off_after_the_pulse():
    b = Bench(pulse_ms=500)
    b.run(50)
    b.open(2)
    b.run(300)
    assert b.results == [(2, True)] and b.mod.coils[2] == 1
    b.run(400)
    assert b.mod.coils[2] == 0 and b.mod.on_edges[2] == 1
    assert len(_writes(b.mod.seen, mb.ON)) == 1 and len(_writes(b.mod.seen, mb.OFF)) == 1


def test_lost_or_garbled_on_reply_is_read_back_never_sent_again():
    for fault in ("lose", "garble"):
        b = Bench()
        b.run(50)
        setattr(b.mod, fault, 1)
        b.open(5)
        b.run(1000)
        assert b.results == [(5, True)], fault
        assert b.mod.on_edges[5] == 1 and len(_writes(b.mod.seen, mb.ON)) == 1, fault
        assert mb.read_coils(1, 5, 1) in b.mod.seen, fault
        assert b.mod.coils[5] == 0, fault
    assert b.locks.crc_errors >= 1


def test_busy_means_not_done_so_the_on_goes_again():
    b = Bench()
    b.run(50)
    b.mod.busy = 1
    b.open(1)
    b.run(1000)
    assert b.results == [(1, True)] and b.mod.on_edges[1] == 1
    assert len(_writes(b.mod.seen, mb.ON)) == 2 and b.locks.exceptions == 1


def test_a_module_silent_after_the_on_leaves_the_outcome_to_the_door_and_is_a_fault():
    """The ON went out and the module never answered: it may have switched the relay, so the open is not
    reported as "nothing pulsed" (the door decides: JAMMED when it did not move); the module is a fault,
    and the next open gets no frame at all."""
    b = Bench()
    b.run(50)
    b.mod.dead = True
    b.open(0)
    b.run(2000)
    assert b.results == [(0, True)] and b.mod.on_edges[0] == 0
    assert len(_writes(b.mod.seen, mb.ON)) == 1
    assert b.locks.faults == [0] and not b.locks.healthy()
    b.open(1)
    b.run(2000)
    assert b.results[1] == (1, False) and len(_writes(b.mod.seen, mb.ON)) == 1


def test_a_coil_not_confirmed_off_is_a_fault_until_the_module_answers():
    b = Bench()
    b.run(50)
    b.open(4)
    b.run(200)
    assert b.results == [(4, True)]
    b.mod.dead = True  # after the ON: the OFF goes unanswered, the coil stays on
    b.run(1500)
    assert b.mod.coils[4] == 1 and not b.locks.healthy() and b.locks.faults == [0]
    b.open(6)
    b.run(100)
    assert b.results[-1] == (6, False)  # no second coil while one may be on
    b.mod.dead = False
    b.run(500)
    assert b.mod.coils == [0] * 8 and b.locks.healthy()
    assert b.mod.on_edges[4] == 1 and b.mod.on_edges[6] == 0


def test_a_module_that_cannot_switch_all_off_is_one_fault_not_a_flood():
    b = Bench()
    b.mod.no_0f = True
    b.run(3000)
    assert b.locks.faults == [0] and not b.locks.healthy()
    b.open(0)
    b.run(100)
    assert b.results == [(0, False)] and b.mod.on_edges[0] == 0


def test_a_config_that_would_open_the_wrong_door_or_hold_a_solenoid_is_refused():
    for kw, word in (({"boards": [1, 1]}, "twice"), ({"boards": [0, 2]}, "1..247"), ({"pulse_ms": 5000}, "pulse_ms"),
                     ({"window_ms": 0}, "window_ms")):
        args = {"boards": [1, 2], "per_board": 8, "pulse_ms": 500, "polarity": "input_1_is_locked", "window_ms": 150}
        args.update(kw)
        try:
            ModbusRelayLocks(Uart(), 16, **args)
        except ValueError as e:
            assert word in str(e), str(e)
        else:
            raise AssertionError("no ValueError for %r" % kw)
