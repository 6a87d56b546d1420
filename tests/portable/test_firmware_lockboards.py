# The lock-board drivers against the exact bytes of docs/lock-boards.md (the vendors' frames and
# replies as published drivers and sheets give them), on CPython and MicroPython. Each test plays
# the lock board by hand: it reads what the driver wrote and feeds back the vendor's reply.
from _check import h

from firmware import lock_serial as ls
from firmware.app import App
from firmware.inputs import DebouncedInputs
from hardware_sim.fakes import Clock, MemFlash, Pin, Uart

KERONG_UNLOCK_0 = h("0200310336")  # 02 ADDR=00 31 03, SUM 02+00+31+03 = 36
KERONG_UNLOCK_B1_L2 = h("0212310348")  # board 1 lock 2: ADDR 12; 02+12+31+03 = 48
KERONG_STATUS_0 = h("0200300335")  # 02+00+30+03 = 35
KERONG_STATUS_B1 = h("0210300345")  # board 1: ADDR 10; 02+10+30+03 = 45
# board 0 reply: HOOK1-8 FE (lock 1 bit 0 = 0: released, locks 2-8 closed), HOOK9-16 FF, IR1-8 01
# (lock 1 holds something), IR9-16 00; SUM = 02+00+35+FE+FF+01+00+03 = 0x238 -> 38
KERONG_REPLY_L1_OPEN_FULL = h("020035feff01000338")
# all latched, nothing inside: 02+00+35+FF+FF+00+00+03 = 0x238 -> 38
KERONG_REPLY_ALL_SHUT = h("020035ffff00000338")
# the same reply as answered to the unlock of lock 1 (ADDR 00): identical bytes
X8A_UNLOCK_1_1 = h("8a0101119b")  # 8A^01^01^11 = 9B (reference)
X8A_STATUS_1_1 = h("80010133b3")  # 80^01^01^33 = B3 (reference)
X8A_REPLY_OPEN_00 = h("8a0101008a")  # ST 00; 8A^01^01^00 = 8A
X8A_REPLY_OPEN_81 = h("8101010081")  # head 81 (some makers); 81^01^01^00 = 81
X8A_REPLY_SHUT_11 = h("8a0101119b")  # ST 11; 8A^01^01^11 = 9B
X8A_STATUS_REPLY_SHUT = h("8001011191")  # 80^01^01^11 = 91


def _raises(fn, word):
    try:
        fn()
    except ValueError as e:
        assert word in str(e), str(e)
        return
    raise AssertionError("no ValueError for " + word)


def test_frames_are_the_vendors_bytes():
    assert ls.kerong_frame(0x00, 0x31) == KERONG_UNLOCK_0
    assert ls.kerong_frame(0x12, 0x31) == KERONG_UNLOCK_B1_L2
    assert ls.kerong_frame(0x10, 0x30) == KERONG_STATUS_B1
    assert ls.x8a_frame(0x8A, 1, 1, 0x11) == X8A_UNLOCK_1_1
    assert ls.x8a_frame(0x80, 1, 1, 0x33) == X8A_STATUS_1_1
    k = ls.KerongLocks(Uart(), 32, [0, 1])
    assert k.unlock_frame(0) == KERONG_UNLOCK_0 and k.unlock_frame(18) == KERONG_UNLOCK_B1_L2
    assert k.status_frame(0) == KERONG_STATUS_0 and k.status_frame(1) == KERONG_STATUS_B1
    x = ls.X8aLocks(Uart(), 24, 24, [1])
    assert x.unlock_frame(0) == X8A_UNLOCK_1_1 and x.status_frame(0) == X8A_STATUS_1_1


def _kerong(ir=True, polarity="hook_1_is_locked", boards=None):
    clock = Clock()
    u = Uart()
    k = ls.KerongLocks(u, 16, boards or [0], polarity, ir, 300, now=clock.ms())
    return clock, u, k


def _answer_polls(clock, u, k, reply, rounds=2, ms=260):
    """Let `rounds` status sweeps happen, answering each query with reply."""
    for _ in range(rounds):
        clock.advance(ms)
        k.poll(clock.ms())
        sent = u.take()
        assert sent in (KERONG_STATUS_0, X8A_STATUS_1_1), sent
        u.feed(reply)
        k.poll(clock.ms())


def test_kerong_nine_byte_reply_gives_hooks_and_ir_after_two_agreeing_polls():
    clock, u, k = _kerong()
    occ = k.occupancy()
    _answer_polls(clock, u, k, KERONG_REPLY_L1_OPEN_FULL, 1)
    assert k.feedback(0) is None and not occ.wired(0)  # one reply is not yet a state
    _answer_polls(clock, u, k, KERONG_REPLY_L1_OPEN_FULL, 1)
    assert k.feedback(0) is True and k.feedback(1) is False and k.feedback(15) is False
    assert occ.wired(0) and occ.active(0) and not occ.active(1)
    assert k.counters["line_faults"] == 0 and k.healthy()


def test_kerong_other_polarity_and_no_ir_means_no_sensor():
    clock, u, k = _kerong(ir=False, polarity="hook_1_is_open")
    assert k.occupancy() is None
    _answer_polls(clock, u, k, KERONG_REPLY_L1_OPEN_FULL, 2)
    assert k.feedback(0) is False and k.feedback(1) is True  # bit = 1 read as open


def test_kerong_one_unlock_frame_and_its_reply_is_the_first_observation():
    clock, u, k = _kerong()
    _answer_polls(clock, u, k, KERONG_REPLY_ALL_SHUT, 2)
    calls = []
    k.request(0, lambda lock, ok, t: calls.append((lock, ok, t)))
    clock.advance(5)
    k.poll(clock.ms())
    assert u.take() == KERONG_UNLOCK_0 and calls == [(0, True, clock.ms())]
    clock.advance(40)
    u.feed(KERONG_REPLY_L1_OPEN_FULL)  # the unlock's reply: 9 bytes, lock 1 released
    k.poll(clock.ms())
    assert k.feedback(0) is True  # first observation, at once
    _answer_polls(clock, u, k, KERONG_REPLY_L1_OPEN_FULL, 1)  # the next poll confirms it
    assert k.feedback(0) is True and k.counters["line_faults"] == 0 and k.unlocks_sent == 1


def test_kerong_lost_reply_is_followed_by_status_queries_never_a_second_pulse():
    clock, u, k = _kerong()
    _answer_polls(clock, u, k, KERONG_REPLY_ALL_SHUT, 2)
    k.request(0, lambda *a: None)
    k.poll(clock.ms())
    assert u.take() == KERONG_UNLOCK_0
    sent = []
    for _ in range(100):  # 1 s of silence (three 300 ms windows), then an answer
        clock.advance(10)
        k.poll(clock.ms())
        sent.append(u.take())
    frames = [s for s in sent if s]
    assert frames and all(f == KERONG_STATUS_0 for f in frames), frames
    assert k.unlocks_sent == 1
    assert not k.healthy() and k.faults == [0]  # three windows unanswered: the board is failing
    assert k.feedback(0) is None
    u.feed(KERONG_REPLY_L1_OPEN_FULL)  # the board is back: an ordinary reading, which needs a second
    k.poll(clock.ms())
    assert k.healthy() and k.feedback(0) is False
    _answer_polls(clock, u, k, KERONG_REPLY_L1_OPEN_FULL, 1)
    assert k.feedback(0) is True and k.unlocks_sent == 1


def test_kerong_bad_frames_are_ignored_and_counted():
    clock, u, k = _kerong(boards=[3])
    clock.advance(260)
    k.poll(clock.ms())
    assert u.take() == h("0230300365")  # board 3: ADDR 30; 02+30+30+03 = 65
    u.feed(h("020035feff01000339"))  # checksum off by one
    u.feed(KERONG_REPLY_L1_OPEN_FULL)  # board 0: not one of ours
    u.feed(h("020036feff01000339"))  # 36 is no reply: 02+00+36+FE+FF+01+00+03 = 0x239 -> 39
    k.poll(clock.ms())
    c = k.counters
    assert (c["bad_checksum"], c["wrong_board"], c["garbled"]) == (1, 1, 1), c
    assert k.feedback(0) is None  # nothing was taken as an answer


def test_kerong_corrupted_reply_the_next_poll_contradicts_is_a_line_fault():
    clock, u, k = _kerong()
    _answer_polls(clock, u, k, KERONG_REPLY_ALL_SHUT, 2)
    _answer_polls(clock, u, k, KERONG_REPLY_L1_OPEN_FULL, 1)  # a lie that passed the sum
    assert k.feedback(0) is False  # one reply does not change a known state
    _answer_polls(clock, u, k, KERONG_REPLY_ALL_SHUT, 1)
    assert k.feedback(0) is False and k.counters["line_faults"] == 1


def _x8a(polarity="short_when_locked", window=1500):
    clock = Clock()
    u = Uart()
    x = ls.X8aLocks(u, 1, 8, [1], polarity, window, now=clock.ms())
    return clock, u, x


def test_8a_late_reply_within_the_window_is_the_answer_and_nothing_is_resent():
    clock, u, x = _x8a()
    calls = []
    x.request(0, lambda lock, ok, t: calls.append(ok))
    x.poll(clock.ms())
    assert u.take() == X8A_UNLOCK_1_1 and calls == [True]
    for _ in range(50):  # 500 ms: the board pulses first, then answers
        clock.advance(10)
        x.poll(clock.ms())
        assert u.take() == b""
    u.feed(X8A_REPLY_OPEN_00)
    x.poll(clock.ms())
    assert x.feedback(0) is True and x.unlocks_sent == 1  # short_when_locked: 00 = opened
    assert x.counters["late_replies"] == 0


def test_8a_head_81_and_the_other_polarity():
    clock, u, x = _x8a("short_when_open")
    x.request(0, lambda *a: None)
    x.poll(clock.ms())
    assert u.take() == X8A_UNLOCK_1_1
    clock.advance(500)
    u.feed(X8A_REPLY_OPEN_81)
    x.poll(clock.ms())
    assert x.feedback(0) is False  # short_when_open: 00 = latched


def test_8a_reply_after_the_window_while_status_queries_run_is_a_success():
    clock, u, x = _x8a()
    x.request(0, lambda *a: None)
    x.poll(clock.ms())
    u.take()
    clock.advance(1500)
    x.poll(clock.ms())
    assert u.take() == X8A_STATUS_1_1  # a status query, not a second unlock
    clock.advance(200)
    u.feed(X8A_REPLY_OPEN_00)  # the unlock's reply, late
    x.poll(clock.ms())
    assert x.feedback(0) is True and x.healthy() and x.counters["late_replies"] == 1
    assert x.unlocks_sent == 1


def test_8a_status_reply_is_read_whatever_its_head():
    for head in (0x80, 0x81, 0x8A):
        clock, u, x = _x8a()
        for _ in range(2):
            clock.advance(260)
            x.poll(clock.ms())
            assert u.take() == X8A_STATUS_1_1
            u.feed(ls.x8a_frame(head, 1, 1, 0x11))
            x.poll(clock.ms())
        assert x.feedback(0) is False, head
    assert X8A_STATUS_REPLY_SHUT == ls.x8a_frame(0x80, 1, 1, 0x11)


def test_8a_bad_frames_are_ignored_and_counted():
    clock = Clock()
    u = Uart()
    x = ls.X8aLocks(u, 2, 8, [1], "short_when_locked", 1500, now=clock.ms())
    x.request(0, lambda *a: None)
    x.poll(clock.ms())
    assert u.take() == X8A_UNLOCK_1_1
    clock.advance(500)
    u.feed(h("8a0101008b"))  # XOR wrong
    u.feed(h("8a02010089"))  # board 2: 8A^02^01^00 = 89, not ours
    u.feed(h("8a01020089"))  # lock 2: 8A^01^02^00 = 89, not the lock asked
    u.feed(h("8a01017ef4"))  # ST 7E is neither 00 nor 11 (8A^01^01^7E = F4)
    x.poll(clock.ms())
    c = x.counters
    assert (c["bad_checksum"], c["wrong_board"], c["other_lock"], c["garbled"]) == (1, 1, 1, 1), c
    assert x.feedback(0) is None and x.feedback(1) is None


def test_8a_garbled_st_is_counted():
    clock, u, x = _x8a()
    clock.advance(260)
    x.poll(clock.ms())
    u.take()
    u.feed(ls.x8a_frame(0x80, 1, 1, 0x7E))
    x.poll(clock.ms())
    assert x.counters["garbled"] == 1 and x.feedback(0) is None


def test_settings_defaults_old_configs_and_bad_values():
    s = ls.settings({"type": "kerong"}, 20)
    assert (s["baud"], s["boards"], s["polarity"], s["ir"]) == (19200, [0, 1], "hook_1_is_locked", False)
    s = ls.settings({"type": "8a"}, 30)
    assert (s["baud"], s["boards"], s["per_board"], s["window_ms"]) == (9600, [1, 2], 24, 1500)
    assert ls.settings({"type": "8a", "per_board": 50, "boards": [7]}, 50)["boards"] == [7]
    _raises(lambda: ls.settings({"type": "8a", "per_board": 10}, 10), "locks.per_board")
    _raises(lambda: ls.settings({"type": "kerong", "per_board": 8}, 8), "locks.per_board")
    _raises(lambda: ls.settings({"type": "kerong", "baud": 1234}, 8), "locks.baud")
    _raises(lambda: ls.settings({"type": "kerong", "boards": [0]}, 20), "locks.boards")
    _raises(lambda: ls.settings({"type": "kerong", "boards": [16]}, 8), "locks.boards")
    _raises(lambda: ls.settings({"type": "8a", "boards": [0]}, 8), "locks.boards")
    _raises(lambda: ls.settings({"type": "8a", "boards": [1, 1]}, 30), "locks.boards")
    _raises(lambda: ls.settings({"type": "8a", "polarity": "hook_1_is_locked"}, 8), "locks.polarity")
    _raises(lambda: ls.settings({"type": "8a", "ir": True}, 8), "locks.ir")
    _raises(lambda: ls.settings({"type": "kerong", "ir": "yes"}, 8), "locks.ir")
    _raises(lambda: ls.settings({"type": "8a", "window_ms": 500}, 8), "locks.window_ms")


def _app_with_kerong():
    clock = Clock()
    u = Uart()
    k = ls.KerongLocks(u, 16, [0], "hook_1_is_locked", False, 300, now=clock.ms())
    doors = [Pin(0) for _ in range(16)]
    app = App({"address": 1}, clock, MemFlash(), k, DebouncedInputs(doors, 1, 30, clock.ms()))
    return clock, u, k, doors, app


def _run(clock, u, app, ms, reply):
    for _ in range(ms // 10):
        clock.advance(10)
        app.step()
        if u.take() and reply is not None:
            u.feed(reply)


def test_stuck_door_switch_still_gets_its_pulse_and_reports_the_sensor():
    from firmware import events as ev
    clock, u, k, doors, app = _app_with_kerong()
    _run(clock, u, app, 600, KERONG_REPLY_ALL_SHUT)
    doors[0].v = 1  # the switch reads open; the latch says shut
    _run(clock, u, app, 100, KERONG_REPLY_ALL_SHUT)
    assert k.feedback(0) is False and app.doors.active(0)
    out = []
    app.unlock(0, ev.SRC_HOST, 1, lambda *a: out.append(a))
    assert app.door_fault[0]  # SENSOR_FAULT journaled the moment the switch and the latch disagreed
    _run(clock, u, app, 2000, KERONG_REPLY_L1_OPEN_FULL)
    assert k.unlocks_sent == 1 and out and out[0][1] == ev.SENSOR_FAULTY
    # the latch shuts again behind the person while the switch still reads open: the fault stays
    _run(clock, u, app, 4000, KERONG_REPLY_ALL_SHUT)
    assert app.compartment_state(0) & 0x20 and k.unlocks_sent == 1  # ST_FAULT_DOOR_SENSOR


def test_door_switch_open_and_latch_released_is_already_open():
    from firmware import events as ev
    clock, u, k, doors, app = _app_with_kerong()
    doors[0].v = 1
    _run(clock, u, app, 800, KERONG_REPLY_L1_OPEN_FULL)
    out = []
    app.unlock(0, ev.SRC_HOST, 1, lambda *a: out.append(a))
    assert out[0][1] == ev.ALREADY_OPEN and k.unlocks_sent == 0


def test_door_switch_open_on_a_board_not_heard_is_not_already_open():
    """A stuck-open switch and a lock board that has not answered (feedback unknown): ALREADY_OPEN would
    use a villager's code up with no pulse. The request goes to the driver instead, which pulses."""
    from firmware import events as ev
    clock, u, k, doors, app = _app_with_kerong()
    doors[0].v = 1
    _run(clock, u, app, 100, None)          # the board says nothing: its latches are unknown
    assert k.feedback(0) is None and app.doors.active(0)
    out = []
    app.unlock(0, ev.SRC_HOST, 1, lambda *a: out.append(a))
    assert not out or out[0][1] != ev.ALREADY_OPEN
    _run(clock, u, app, 300, KERONG_REPLY_L1_OPEN_FULL)
    assert k.unlocks_sent == 1
