# The board's protocol server driven by the real host session, in memory (both runtimes).
from _firmware_fakes import Said, tmpdir

from firmware import events as ev
from firmware import prompt_keys as K
from firmware.app import App
from firmware.flash import Flash
from firmware.inputs import DebouncedInputs
from firmware.lock_gpio import GpioLocks
from firmware.proto_server import BusServer
from hardware_sim.fakes import Clock, Pin, Uart
from protocol import messages as m
from protocol.auth import code_hash
from protocol.errors import NAK_BAD_AUTH, NAK_REPLAY
from protocol.session import HostSession

KEY = b"k" * 32
ADDR = 5


class Board:
    def __init__(self, d=None, clock=None, n=4):
        self.d = d or tmpdir()
        self.clock = clock or Clock()
        self.lock_pins = [Pin() for _ in range(n)]
        self.door_pins = [Pin(0) for _ in range(n)]
        self.fb_pins = [Pin(0) for _ in range(n)]
        self.jammed = set()
        now = self.clock.ms()
        locks = GpioLocks(self.lock_pins, feedback=DebouncedInputs(self.fb_pins, 1, 20, now), now=now)
        self.app = App({"locker_id": "LK-1"}, self.clock, Flash(self.d), locks,
                       DebouncedInputs(self.door_pins, 1, 30, now), reset_cause=m.RESET_POWER_ON, uid=b"\x01\x02")
        self.uart = Uart()
        cfg = {"address": ADDR, "key": "6b" * 32}
        self.server = BusServer(self.app, self.uart, cfg, idle=self.idle)

    def idle(self):
        # the world moves on while the board waits: the spring door pops when its latch is pulsed
        self.clock.advance(5)
        for i, p in enumerate(self.lock_pins):
            if p.v and i not in self.jammed:
                self.fb_pins[i].v = 1
                self.door_pins[i].v = 1

    def exchange(self, wire):
        self.uart.feed(wire)
        self.server.poll(self.app.step())
        assert self.uart.take() == b""  # not before the inter-frame gap
        self.clock.advance(self.server.gap_ms)
        self.server.poll(self.app.step())
        return self.uart.take()


def call(host, board, t, fields=None, auth=None):
    wire = host.request(ADDR, t, fields, now=0.0, auth=auth)
    res = host.receive(board.exchange(wire), now=0.1)
    assert len(res) == 1, res
    return res[0], wire


def _host(counter=0):
    h = HostSession(baud=115200)
    h.add_board(ADDR, KEY, counter=counter)
    return h


def test_hello_status_and_codes():
    b = Board()
    h = _host()
    r, _ = call(h, b, m.HELLO)
    assert r.ok and r.fields["compartments"] == 4 and r.fields["reset_cause"] == m.RESET_POWER_ON
    salt = b"12345678"
    r, _ = call(h, b, m.SET_CODE, {"compartment": 2, "kind": m.CODE_PICKUP, "salt": salt,
                                   "code_hash": code_hash(salt, "55554444"), "expiry": 0})
    assert r.ok
    r, _ = call(h, b, m.STATUS)
    assert r.fields["compartments"][1] & m.ST_CODE_SET and not r.fields["compartments"][0] & m.ST_CODE_SET
    assert r.fields["compartments"][0] & m.ST_LOCKED
    r, _ = call(h, b, m.SET_CODE, {"compartment": 9, "kind": 1, "salt": salt, "code_hash": b"x" * 16, "expiry": 0})
    assert r.kind == "nak"
    r, _ = call(h, b, m.CLEAR_CODE, {"compartment": 2})
    assert r.fields["cleared"] == 1
    r, _ = call(h, b, m.CLEAR_CODE, {"compartment": 0})
    assert r.kind == "nak" and r.nak_detail == 0
    call(h, b, m.TIME_SET, {"time": 1800000000})
    r, _ = call(h, b, m.SET_CODE, {"compartment": 1, "kind": 1, "salt": salt, "code_hash": b"x" * 16,
                                   "expiry": 1799999999})
    assert r.kind == "nak" and r.nak_detail == 1 and not b.app.codes.has(0)


def test_open_outcomes_and_retry_answered_from_cache():
    b = Board()
    h = _host()
    r, wire = call(h, b, m.OPEN, {"compartment": 1, "reason": m.REASON_PICKUP, "reference": 77})
    assert r.ok and r.fields["result"] == m.OPEN_OPENED and r.fields["event_seq"] > 0
    pulses = b.lock_pins[0].history.count(1)
    # the host did not hear the reply and sends the very same bytes again: same answer, no pulse
    again = b.exchange(wire)
    assert again and b.lock_pins[0].history.count(1) == pulses == 1
    r, _ = call(h, b, m.OPEN, {"compartment": 1, "reason": m.REASON_PICKUP, "reference": 78})
    assert r.fields["result"] == m.OPEN_ALREADY_OPEN
    b.jammed.add(2)
    r, _ = call(h, b, m.OPEN, {"compartment": 3, "reason": m.REASON_DEPOSIT, "reference": 79})
    assert r.fields["result"] == m.OPEN_JAMMED
    r, _ = call(h, b, m.OPEN, {"compartment": 0, "reason": m.REASON_DEPOSIT, "reference": 80})
    assert r.fields["result"] == m.OPEN_REFUSED and r.fields["detail"] == m.REFUSE_NO_SUCH_COMPARTMENT
    # the OPEN_RESULT event carries the reference
    r, _ = call(h, b, m.EVENTS, {"cursor": 0, "max_count": 16}, auth=True)
    results = [e for e in r.fields["events"] if e["kind"] == m.EV_OPEN_RESULT]
    assert [e["data"][2:6] for e in results][:3] == [bytes((0, 0, 0, 77)), bytes((0, 0, 0, 78)), bytes((0, 0, 0, 79))]


def test_forged_and_replayed_frames_rejected():
    b = Board()
    h = _host()
    r, wire = call(h, b, m.OPEN, {"compartment": 1, "reason": 1, "reference": 1})
    assert r.ok
    # a frame signed with the wrong key
    evil = HostSession()
    evil.add_board(ADDR, b"x" * 32, counter=100)
    r, _ = call(evil, b, m.OPEN, {"compartment": 2, "reason": 1, "reference": 2})
    assert r.kind == "nak" and r.nak_code == NAK_BAD_AUTH
    # an old authentic frame replayed after newer ones: refused even after a reboot
    call(h, b, m.STATUS)
    r, _ = call(h, b, m.TIME_SET, {"time": 1700000000})
    assert r.ok
    b2 = Board(d=b.d, clock=b.clock)
    reply = b2.exchange(wire)
    got = h.receive(reply, now=0.2)
    assert got == []  # nothing outstanding on the host; decode the NAK ourselves
    from protocol.frame import decode_wire

    frame = decode_wire(reply)[0]
    assert frame.type == m.NAK and frame.payload[0] == NAK_REPLAY
    assert b2.lock_pins[1].history.count(1) == 0


def test_events_read_and_acknowledged_exactly_once_across_reboot():
    b = Board()
    h = _host()
    b.door_pins[3].v = 1  # forced door
    for _ in range(10):
        b.clock.advance(10)
        b.app.step()
    r, _ = call(h, b, m.EVENTS, {"cursor": 0, "max_count": 16}, auth=True)
    kinds = [e["kind"] for e in r.fields["events"]]
    assert kinds == [m.EV_BOOT, m.EV_DOOR_OPENED, m.EV_FORCED_DOOR]
    assert r.fields["events"][2]["compartment"] == 4
    last = r.fields["events"][-1]["seq"]
    r, _ = call(h, b, m.EVENTS_ACK, {"upto": last})
    assert r.fields["acked"] == last and r.fields["pending"] == 0
    r, _ = call(h, b, m.EVENTS_ACK, {"upto": last + 50})  # beyond the newest: up to the newest
    assert r.ok and r.fields["acked"] == last
    r, _ = call(h, b, m.EVENTS_ACK, {"upto": 1})  # below: nothing changes
    assert r.ok and r.fields["acked"] == last
    b2 = Board(d=b.d, clock=b.clock)  # power cut and back
    h2 = _host(h.board_counter(ADDR))
    r, _ = call(h2, b2, m.EVENTS, {"cursor": 0, "max_count": 16}, auth=True)
    assert [e["kind"] for e in r.fields["events"]] == [m.EV_BOOT]
    assert r.fields["events"][0]["seq"] == last + 1


def test_event_kinds_match_the_protocol():
    for name, value in (("BOOT", m.EV_BOOT), ("DOOR_OPENED", m.EV_DOOR_OPENED), ("DOOR_CLOSED", m.EV_DOOR_CLOSED),
                        ("OPEN_RESULT", m.EV_OPEN_RESULT), ("PICKUP_OFFLINE", m.EV_PICKUP_OFFLINE),
                        ("FORCED_DOOR", m.EV_FORCED_DOOR), ("DOOR_LEFT_OPEN", m.EV_DOOR_LEFT_OPEN),
                        ("SENSOR_FAULT", m.EV_SENSOR_FAULT), ("THROTTLED", m.EV_THROTTLED),
                        ("TEMPERATURE", m.EV_TEMPERATURE), ("TEMP_EXCURSION", m.EV_TEMP_EXCURSION),
                        ("CODE_EXPIRED", m.EV_CODE_EXPIRED), ("CODE_REJECTED", m.EV_CODE_REJECTED),
                        ("DROPOFF_OFFLINE", m.EV_DROPOFF_OFFLINE), ("CONFIG_CHANGED", m.EV_CONFIG_CHANGED),
                        ("TIME_SET", m.EV_TIME_SET), ("LOCK_FAULT", m.EV_LOCK_FAULT),
                        ("EVENTS_LOST", m.EV_EVENTS_LOST)):
        assert getattr(ev, name) == value, name
    assert ev.RESULT_NAMES[m.OPEN_JAMMED] == "JAMMED" and ev.REFUSE_BUSY == m.REFUSE_BUSY


def test_config_set_validates_everything_first():
    b = Board()
    h = _host()
    r, _ = call(h, b, m.CONFIG_SET, {"items": [{"key": "left_open_s", "value": "60"},
                                               {"key": "disabled", "value": "9"}]})
    assert r.kind == "nak" and r.nak_detail == 1 and b.app.left_open_ms == 120000
    r, _ = call(h, b, m.CONFIG_SET, {"items": [{"key": "left_open_s", "value": "60"},
                                               {"key": "disabled", "value": "2"}]})
    assert r.ok and r.fields["applied"] == 2
    r, _ = call(h, b, m.CONFIG_GET, {"keys": ["left_open_s", "disabled"]})
    assert [i["value"] for i in r.fields["items"]] == ["60", "2"]
    r, _ = call(h, b, m.OPEN, {"compartment": 2, "reason": 1, "reference": 5})
    assert r.fields["result"] == m.OPEN_REFUSED and r.fields["detail"] == m.REFUSE_OUT_OF_SERVICE
    b2 = Board(d=b.d, clock=b.clock)
    assert b2.app.left_open_ms == 60000 and b2.app.disabled[1] == 1


def test_open_by_refuses_a_late_frame_and_one_before_the_clock_is_set():
    b = Board()
    h = _host()
    r, _ = call(h, b, m.HELLO)
    assert r.fields["capabilities"] & m.CAP_OPEN_DEADLINE
    # no TIME_SET since boot: the board cannot prove the frame fresh, so it does not open
    r, _ = call(h, b, m.OPEN_BY, {"compartment": 1, "reason": m.REASON_DEPOSIT, "reference": 90,
                                  "deadline": 4000000000})
    assert r.fields["result"] == m.OPEN_REFUSED and r.fields["detail"] == m.REFUSE_LATE
    assert b.lock_pins[0].history.count(1) == 0
    call(h, b, m.TIME_SET, {"time": 1800000000})
    # past its deadline (a frame held in a bridge's buffer): refused, no pulse, journaled
    r, _ = call(h, b, m.OPEN_BY, {"compartment": 1, "reason": m.REASON_DEPOSIT, "reference": 91,
                                  "deadline": 1799999990})
    assert r.fields["result"] == m.OPEN_REFUSED and r.fields["detail"] == m.REFUSE_LATE and r.fields["event_seq"]
    assert b.lock_pins[0].history.count(1) == 0
    # in time: it opens, once
    r, _ = call(h, b, m.OPEN_BY, {"compartment": 1, "reason": m.REASON_DEPOSIT, "reference": 92,
                                  "deadline": 1800000030})
    assert r.fields["result"] == m.OPEN_OPENED and b.lock_pins[0].history.count(1) == 1
    # after a reboot the clock read back from flash is not trusted for deadlines
    b2 = Board(d=b.d, clock=b.clock)
    assert b2.app.unix() and not b2.app.clock_trusted


def _journaled(app, kind):
    return [ev.unpack(p) for _s, p in app.journal.read(0, 64, 4000) if p[0] == kind]


def test_a_code_for_another_boards_door_is_right_here_and_the_host_is_asked_to_open_it():
    b = Board()
    said = []
    b.app.ui = Said(said)
    h = _host()
    r, _ = call(h, b, m.HELLO)
    assert r.fields["capabilities"] & m.CAP_PEER_CODES
    call(h, b, m.TIME_SET, {"time": 1800000000})
    salt = b"abcdefgh"
    r, _ = call(h, b, m.SET_PEER_CODE, {"board": 2, "compartment": 3, "kind": m.CODE_PICKUP, "salt": salt,
                                        "code_hash": code_hash(salt, "11223344"), "expiry": 1800003600})
    assert r.ok and r.fields["held"] == 1 and b.app.peers.held() == 1
    # the board's own address, or a kind it does not know: refused, nothing held
    r, _ = call(h, b, m.SET_PEER_CODE, {"board": ADDR, "compartment": 1, "kind": m.CODE_PICKUP, "salt": salt,
                                        "code_hash": b"y" * 16, "expiry": 0})
    assert r.kind == "nak" and b.app.peers.held() == 1
    r, _ = call(h, b, m.SET_PEER_CODE, {"board": 3, "compartment": 1, "kind": 9, "salt": salt,
                                        "code_hash": b"y" * 16, "expiry": 0})
    assert r.kind == "nak" and b.app.peers.held() == 1
    # typed here with the host polling: journaled for the host, no pulse here, not a failure
    assert b.app.enter_code(b"11223344", ev.SRC_KEYPAD) == "peer"
    assert [p.history.count(1) for p in b.lock_pins] == [0, 0, 0, 0]
    assert b.app.throttle.fails == 0
    peers = _journaled(b.app, ev.PEER_CODE)
    assert len(peers) == 1
    assert m.decode_event_data(m.EV_PEER_CODE, peers[0][3]) == {
        "board": 2, "compartment": 3, "code_id": code_hash(salt, "11223344")[:4]}
    assert said[-1] == (K.PEER_OPENING, (2, 3))
    # the host not heard for longer than link_fresh_ms: the person is sent to that door's keypad
    b.clock.advance(b.app.link_fresh_ms + 1)
    assert b.app.enter_code(b"11223344", ev.SRC_KEYPAD) == "peer_offline"
    assert said[-1] == (K.PEER_USE_KEYPAD, (2, 3)) and len(_journaled(b.app, ev.PEER_CODE)) == 1
    # a wrong code still counts
    assert b.app.enter_code(b"99999999", ev.SRC_KEYPAD) == "wrong" and b.app.throttle.fails == 1
    # the peer set survives a reboot; kind 0 forgets one, board 0 forgets all
    b2 = Board(d=b.d, clock=b.clock)
    assert b2.app.peers.held() == 1
    h2 = _host(counter=100)
    call(h2, b2, m.SET_PEER_CODE, {"board": 4, "compartment": 1, "kind": m.CODE_DROPOFF, "salt": salt,
                                   "code_hash": code_hash(salt, "55667788"), "expiry": 0})
    assert b2.app.peers.held() == 2
    r, _ = call(h2, b2, m.SET_PEER_CODE, {"board": 2, "compartment": 3, "kind": 0, "salt": bytes(8),
                                          "code_hash": bytes(16), "expiry": 0})
    assert r.ok and b2.app.peers.held() == 1
    call(h2, b2, m.SET_PEER_CODE, {"board": 0, "compartment": 0, "kind": 0, "salt": bytes(8),
                                   "code_hash": bytes(16), "expiry": 0})
    assert b2.app.peers.held() == 0


def test_an_expired_peer_code_is_named_by_its_kind():
    b = Board()
    said = []
    b.app.ui = Said(said)
    b.app.set_time(1800000000)
    salt = b"saltsalt"
    b.app.peers.set(2, 1, salt, code_hash(salt, "12341234"), 1700000000, m.CODE_DROPOFF)
    b.app.peers.set(2, 2, salt, code_hash(salt, "56785678"), 1700000000, m.CODE_PICKUP)
    assert b.app.enter_code(b"12341234", ev.SRC_KEYPAD) == "expired"
    assert said[-1] == (K.DROPOFF_EXPIRED, ())
    assert b.app.enter_code(b"56785678", ev.SRC_KEYPAD) == "expired"
    assert said[-1] == (K.CODE_EXPIRED, ())
    assert b.app.peers.kind(2, 1) == m.CODE_DROPOFF and b.app.peers.kind(9, 9) == 0


def test_peer_slots_full_is_said_not_silent():
    from firmware.codes import PeerCodes
    p = PeerCodes(Flash(tmpdir()), 2)
    assert p.set(1, 1, b"s" * 8, b"h" * 16, 0, 1) and p.set(1, 2, b"s" * 8, b"i" * 16, 0, 1)
    assert not p.set(1, 3, b"s" * 8, b"j" * 16, 0, 1)
    assert p.set(1, 2, b"t" * 8, b"k" * 16, 0, 1)  # the same door again: replaced in place
    assert p.held() == 2
