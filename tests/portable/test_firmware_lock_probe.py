# The lock-bus prober (firmware/lock_probe.py) against lock boards that answer with the bytes
# /work/shared/reference/lock-boards.md gives, byte for byte (both runtimes).
from firmware import lock_probe as lp
from hardware_sim.fakes import Clock, Uart


def h(s):
    return bytes(int(x, 16) for x in s.split())


class LockBus(Uart):
    """The controller's lock UART with boards on it: `answers` maps (baud, request bytes) to the reply
    bytes, delivered `delay_ms` after the request (8A boards answer late). Requests at a rate with no
    answers, or unknown requests, get nothing."""

    def __init__(self, clock, answers, delay_ms=5):
        Uart.__init__(self)
        self.clock = clock
        self.answers = answers
        self.delay_ms = delay_ms
        self.baud = None
        self.inits = []
        self.sent = []
        self._due = []

    def init(self, baudrate=9600, **kw):
        self.baud = baudrate
        self.inits.append(baudrate)

    def write(self, data):
        self.sent.append((self.baud, bytes(data)))
        reply = self.answers.get((self.baud, bytes(data)))
        if reply is not None:
            self._due.append((self.clock.ms() + self.delay_ms, reply))
        return len(data)

    def tick(self):
        now = self.clock.ms()
        keep = []
        for at, data in self._due:
            if at <= now:
                self.feed(data)
            else:
                keep.append((at, data))
        self._due = keep


def run(p, bus, clock, limit_ms=400000):
    end = clock.ms() + limit_ms
    while p.state == lp.RUNNING and clock.ms() < end:
        clock.advance(2)
        bus.tick()
        p.poll(clock.ms())
    return p


def test_frames_are_the_vendor_bytes():
    assert lp.crc16_modbus(b"123456789") == 0x4B37  # the CRC-16/MODBUS check value
    assert lp.modbus_frame(1, 1, 0, 8) == h("01 01 00 00 00 08 3D CC")  # read coils 1..8 of slave 1


def test_kerong_boards_2_and_3_at_38400_are_found():
    clock = Clock()
    answers = {
        # status of board 2 / 3: 02 B<<4 30 03 SUM, answered 02 B<<4 35 HOOK1-8 HOOK9-16 IR1-8 IR9-16 03 SUM
        (38400, h("02 20 30 03 55")): h("02 20 35 FF FF 00 00 03 58"),
        (38400, h("02 30 30 03 65")): h("02 30 35 01 00 02 00 03 6D"),
    }
    bus = LockBus(clock, answers)
    p = run(lp.Prober(bus, clock.ms(), lp.SCAN), bus, clock)
    assert p.state == lp.DONE
    assert (p.dialect, p.baud, p.boards, p.per_board) == (lp.KERONG, 38400, [2, 3], 16)
    assert p.queried == list(range(16))
    assert bus.inits[:3] == [19200, 9600, 38400]  # the factory default first
    assert p.bad_replies == 0
    assert p.progress == 100


def test_8a_board_with_12_channels_late_replies():
    clock = Clock()
    answers = {}
    for lock in range(1, 13):  # status 80 BB LL 33 XOR, answered 80 BB LL ST XOR
        req = bytes((0x80, 1, lock, 0x33, 0x80 ^ 1 ^ lock ^ 0x33))
        answers[(9600, req)] = bytes((0x80, 1, lock, 0x00, 0x80 ^ 1 ^ lock))
    assert answers[(9600, h("80 01 01 33 B3"))] == h("80 01 01 00 80")  # the reference's own example
    bus = LockBus(clock, answers, delay_ms=600)  # about 500 ms late, as the reference says
    p = run(lp.Prober(bus, clock.ms(), lp.SCAN, dialects=(lp.X8A,)), bus, clock)
    assert p.state == lp.DONE
    assert (p.dialect, p.baud, p.boards, p.per_board, p.flags) == (lp.X8A, 9600, [1], 12, 0)
    assert bus.inits == [9600]


def test_8a_board_answering_every_lock_leaves_the_count_unsettled():
    clock = Clock()
    answers = {}
    for lock in range(1, 60):
        req = bytes((0x80, 4, lock, 0x33, 0x80 ^ 4 ^ lock ^ 0x33))
        answers[(9600, req)] = bytes((0x81, 4, lock, 0x11, 0x81 ^ 4 ^ lock ^ 0x11))  # head 81: some makers
    bus = LockBus(clock, answers)
    p = run(lp.Prober(bus, clock.ms(), lp.SCAN, dialects=(lp.X8A,), bauds=(9600,)), bus, clock)
    assert (p.boards, p.per_board) == ([4], 50)
    assert p.flags & lp.UNSETTLED


def test_modbus_slave_with_exception_for_missing_inputs():
    clock = Clock()

    def crc(b):
        c = lp.crc16_modbus(b)
        return b + bytes((c & 0xFF, c >> 8))
    answers = {(19200, lp.modbus_frame(3, 1, 0, 8)): crc(h("03 01 01 00"))}
    for k in range(8):
        answers[(19200, lp.modbus_frame(3, 2, k, 1))] = crc(h("03 02 01 01"))
    answers[(19200, lp.modbus_frame(3, 2, 8, 1))] = crc(h("03 82 02"))  # ILLEGAL DATA ADDRESS
    bus = LockBus(clock, answers)
    p = run(lp.Prober(bus, clock.ms(), lp.SCAN, dialects=(lp.MODBUS,)), bus, clock)
    assert (p.dialect, p.baud, p.boards, p.per_board) == (lp.MODBUS, 19200, [3], 8)


def test_bad_checksum_and_wrong_board_are_ignored_and_counted():
    clock = Clock()
    answers = {
        (19200, h("02 00 30 03 35")): h("02 00 35 00 00 00 00 03 00"),  # SUM wrong (should be 3A)
        (19200, h("02 10 30 03 45")): h("02 50 35 00 00 00 00 03 8A"),  # board 5 answering for board 1
    }
    bus = LockBus(clock, answers)
    p = run(lp.Prober(bus, clock.ms(), lp.SCAN, dialects=(lp.KERONG,), bauds=(19200,)), bus, clock)
    assert p.state == lp.NOTHING
    assert p.boards == []
    assert p.bad_replies >= 2


def test_check_reports_the_boards_that_did_not_answer():
    clock = Clock()
    bus = LockBus(clock, {(19200, h("02 00 30 03 35")): h("02 00 35 00 00 00 00 03 3A")})
    p = run(lp.Prober(bus, clock.ms(), lp.CHECK, (lp.KERONG,), (19200,), [0, 2]), bus, clock)
    assert p.state == lp.DONE
    assert (p.dialect, p.baud, p.queried, p.boards) == (lp.KERONG, 19200, [0, 2], [0])


def test_read_gives_the_raw_feedback_bit_of_one_lock():
    clock = Clock()
    # board 1, locks 1 and 3 hooked (bits 0, 2), IR of lock 3
    bus = LockBus(clock, {(9600, h("02 10 30 03 45")): h("02 10 35 05 00 04 00 03 53")})
    p = run(lp.Prober(bus, clock.ms(), lp.READ, (lp.KERONG,), (9600,), [1], lock=3), bus, clock)
    assert (p.state, p.raw, p.feedback, p.ir) == (lp.DONE, h("05 00 04 00"), 1, 1)
    p = run(lp.Prober(bus, clock.ms(), lp.READ, (lp.KERONG,), (9600,), [1], lock=2), bus, clock)
    assert (p.feedback, p.ir) == (0, 0)


def test_silent_bus_ends_within_its_budget_and_never_blocks():
    clock = Clock()
    bus = LockBus(clock, {})
    p = lp.Prober(bus, clock.ms(), lp.SCAN, budget_ms=5000)
    polls = 0
    while p.state == lp.RUNNING:
        clock.advance(2)
        p.poll(clock.ms())
        polls += 1
    assert p.state == lp.STOPPED and p.flags & lp.OUT_OF_TIME
    assert polls <= 2501
    # one query at a time: never more than one frame per wait window (8A's 1.5 s included)
    assert len(bus.sent) < 5000 // lp.GAP_MS
