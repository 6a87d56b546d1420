# Commissioning on the board (firmware/lock_commission.py through the real protocol server and host
# session, in memory, both runtimes): the probe runs in the app's loop, the lock.* settings are taken
# only once the bus has answered them, kept on flash and used again at the next boot.
from firmware import board as fw_board
from hardware_sim.fakes import Clock, MemFlash, Pin, Uart
from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_BUSY
from protocol.session import HostSession

KEY = b"k" * 32
ADDR = 5


class EightA(Uart):
    """One "8A" board at address 1 with 8 locks (8A boards come with 8/12/18/24/36/50 channels), set to
    9600 baud: status 80 01 LL 33 XOR is answered
    80 01 LL 00 XOR (latched, short_when_open) at once; other rates, boards and locks get nothing."""

    def __init__(self):
        Uart.__init__(self)
        self.baud = None
        self.inits = []

    def init(self, baudrate=9600, **kw):
        self.baud = baudrate
        self.inits.append(baudrate)

    def write(self, data):
        f = bytes(data)
        if (self.baud == 9600 and len(f) == 5 and f[0] == 0x80 and f[1] == 1 and 1 <= f[2] <= 8 and f[3] == 0x33
                and f[4] == 0x80 ^ 1 ^ f[2] ^ 0x33):
            self.feed(bytes((0x80, 1, f[2], 0x00, 0x80 ^ 1 ^ f[2])))
        return len(data)


def _cfg():
    return {"address": ADDR, "key": "6b" * 32, "compartments": 4, "locker_id": "LK-1",
            "locks": {"type": "8a", "uart": 2, "baud": 9600, "per_board": 24}}


class Board:
    def __init__(self, flash=None):
        self.clock = Clock()
        self.lock_bus = EightA()
        self.bus = Uart()
        self.flash = flash or MemFlash()
        self.cfg = _cfg()
        hw = {"door_pins": [Pin(0) for _ in range(4)], "lock_uart": self.lock_bus, "bus": self.bus,
              "flash": self.flash}
        self.app = fw_board.build(self.cfg, hw, self.clock, "/unused")
        self.server = fw_board.build_server(self.app, self.cfg, hw)
        self.host = HostSession(baud=115200)
        self.host.add_board(ADDR, KEY)

    def call(self, t, fields=None):
        self.bus.feed(self.host.request(ADDR, t, fields, now=0.0))
        self.server.poll(self.app.step())
        self.clock.advance(self.server.gap_ms)
        self.server.poll(self.app.step())
        res = self.host.receive(self.bus.take(), now=0.1)
        assert len(res) == 1, res
        return res[0]

    def run_probe(self, limit_ms=20000):
        end = self.clock.ms() + limit_ms
        while self.app.lock_job is not None and self.clock.ms() < end:
            self.clock.advance(2)
            self.server.poll(self.app.step())
        assert self.app.lock_job is None, "the probe did not end"
        return self.call(m.LOCK_PROBE_STATUS).fields


def _items(*kv):
    """("type", "8a"), ("baud", 9600), ... -> CONFIG_SET items, in that order."""
    return [{"key": "lock." + k, "value": str(v)} for k, v in kv]


def test_probe_check_refuse_take_and_keep_a_profile():
    b = Board()
    assert b.call(m.HELLO).fields["capabilities"] & m.CAP_LOCK_PROBE
    assert b.call(m.LOCK_PROBE_STATUS).fields["state"] == m.PROBE_IDLE
    r = b.call(m.LOCK_PROBE, {"mode": m.PROBE_SCAN, "dialect": m.DIALECT_8A, "baud": 0, "boards": [1, 2], "lock": 0,
                              "budget_s": 60})
    assert r.ok and r.fields["state"] == m.PROBE_RUNNING
    # meanwhile the app's loop goes on, the lock driver paused: an open is refused, nothing pulsed
    o = b.call(m.OPEN, {"compartment": 1, "reason": m.REASON_MAINTENANCE, "reference": 1})
    assert (o.fields["result"], o.fields["detail"]) == (m.OPEN_REFUSED, m.REFUSE_OUT_OF_SERVICE)
    st = b.run_probe()
    assert (st["state"], st["dialect"], st["baud"], st["queried"], st["boards"], st["per_board"]) == (
        m.PROBE_DONE, m.DIALECT_8A, 9600, [1, 2], [1], 8)
    assert b.lock_bus.baud == 9600  # back at the driver's rate
    # a profile at a rate nobody answers: checked first (BUSY), then refused, naming lock.boards
    wrong = _items(("type", "8a"), ("baud", 19200), ("boards", "1"), ("per_board", 8))
    r = b.call(m.CONFIG_SET, {"items": wrong})
    assert r.nak_code == NAK_BUSY
    st = b.run_probe()
    assert (st["mode"], st["baud"], st["queried"], st["boards"]) == (m.PROBE_CHECK, 19200, [1], [])
    r = b.call(m.CONFIG_SET, {"items": wrong})
    assert (r.nak_code, r.nak_detail) == (NAK_BAD_PAYLOAD, 2)
    # bad values are refused before the bus is asked
    base = (("type", "8a"), ("baud", 9600), ("boards", "1"))
    r = b.call(m.CONFIG_SET, {"items": _items(*(base + (("per_board", 8), ("polarity", "sideways"))))})
    assert (r.nak_code, r.nak_detail) == (NAK_BAD_PAYLOAD, 4)
    r = b.call(m.CONFIG_SET, {"items": _items(*(base + (("per_board", 2),)))})
    assert (r.nak_code, r.nak_detail) == (NAK_BAD_PAYLOAD, 3)  # no 8A board has 2 channels
    # the right one: checked at 9600, then taken
    good = _items(*(base + (("per_board", 8), ("polarity", "short_when_open"))))
    assert b.call(m.CONFIG_SET, {"items": good}).nak_code == NAK_BUSY
    b.run_probe()
    r = b.call(m.CONFIG_SET, {"items": good})
    assert r.ok and r.fields["applied"] == 5, r
    prof = b.call(m.CONFIG_GET, {"keys": ["lock_profile"]}).fields["items"][0]["value"]
    assert prof == "8a/9600/1/8/short_when_open"
    # a reboot keeps it: the next boot builds its lock driver from it
    b2 = Board(b.flash)
    assert b2.cfg["locks"]["boards"] == [1] and b2.cfg["locks"]["per_board"] == 8
    assert b2.cfg["locks"]["polarity"] == "short_when_open" and b2.cfg["locks"]["uart"] == 2
    assert b2.lock_bus.inits == [9600]


def test_read_gives_one_locks_raw_feedback_and_bad_requests_are_refused():
    b = Board()
    r = b.call(m.LOCK_PROBE, {"mode": m.PROBE_READ, "dialect": m.DIALECT_8A, "baud": 9600, "boards": [1], "lock": 3,
                              "budget_s": 0})
    assert r.ok
    st = b.run_probe()
    assert (st["mode"], st["feedback"], st["raw"], st["ir"]) == (m.PROBE_READ, 0x00, b"\x00", m.PROBE_NO_READING)
    for bad in ({"mode": 9}, {"mode": m.PROBE_CHECK, "baud": 0}, {"mode": m.PROBE_SCAN, "baud": 12345},
                {"mode": m.PROBE_READ, "lock": 0}, {"mode": m.PROBE_SCAN, "dialect": m.DIALECT_KERONG,
                                                    "boards": [16]}):
        f = {"mode": m.PROBE_SCAN, "dialect": m.DIALECT_8A, "baud": 9600, "boards": [1], "lock": 1, "budget_s": 0}
        f.update(bad)
        r = b.call(m.LOCK_PROBE, f)
        assert r.nak_code == NAK_BAD_PAYLOAD, bad
    assert b.app.lock_job is None  # nothing started


def test_no_probe_while_the_lock_driver_still_has_a_pulse_to_finish():
    """A probe takes the bus from the driver: with a pulse (or a relay's OFF) still to do, it is refused
    BUSY, or a relay could stay energised for the whole probe."""
    b = Board()
    b.app.locks.request(0, lambda *a: None)   # the driver's own queue: not an op of the app's
    r = b.call(m.LOCK_PROBE, {"mode": m.PROBE_SCAN, "dialect": m.DIALECT_8A, "baud": 0, "boards": [1], "lock": 0,
                              "budget_s": 0})
    assert r.nak_code == NAK_BUSY and b.app.lock_job is None
