"""Host and board sessions end to end: retries answered from the cache, replay and forgery refused,
counters persisted before acting, timeouts, NAK handling, broken sessions."""
from _check import raises

from protocol import messages as m
from protocol.errors import (
    NAK_AUTH_REQUIRED,
    NAK_BAD_AUTH,
    NAK_BUSY,
    NAK_INTERNAL,
    NAK_REPLAY,
    LocalProtocolError,
    NakError,
)
from protocol.frame import FLAG_REPLY, decode_wire, encode_frame
from protocol.session import BAD_REPLY, NAK, REPLY, TIMEOUT, BoardSession, HostSession, MemoryCounterStore

KEY = b"board-seven-key-0123456789abcdef"
OTHER_KEY = b"another-boards-key-0123456789abc"
OPEN7 = {"compartment": 7, "reason": m.REASON_PICKUP, "reference": 1234}


class Lock:
    """A board handler that records what it executed."""

    def __init__(self):
        self.calls = []
        self.nak = None

    def __call__(self, msg_type, fields):
        self.calls.append((msg_type, fields))
        if self.nak:
            raise NakError(self.nak, 9)
        if msg_type == m.OPEN:
            return {"compartment": fields["compartment"], "result": m.OPEN_OPENED, "detail": 0,
                    "event_seq": len(self.calls)}
        if msg_type == m.TIME_GET:
            return {"time": 1000, "uptime_s": len(self.calls)}
        if msg_type == m.CLEAR_CODE:
            return {"compartment": fields["compartment"], "cleared": 0}
        if msg_type == m.REBOOT:
            return None
        raise NakError(6)


def _pair(host_store=None, board_store=None, baud=19200):
    host = HostSession(baud=baud)
    host.add_board(7, KEY, store=host_store)
    board = BoardSession(7, KEY, board_store or MemoryCounterStore())
    return host, board, Lock()


def _exchange(host, board, lock, msg_type, fields=None, now=0.0, auth=None):
    wire = host.request(7, msg_type, fields, now, auth)
    replies = board.receive(wire, lock)
    results = []
    for r in replies:
        results.extend(host.receive(r, now + 0.05))
    assert len(results) == 1, results
    return results[0]


def test_open_round_trip():
    host, board, lock = _pair()
    r = _exchange(host, board, lock, m.OPEN, OPEN7)
    assert r.kind == REPLY and r.ok and r.attempts == 1 and r.authenticated
    assert r.fields["result"] == m.OPEN_OPENED and r.fields["compartment"] == 7
    assert lock.calls == [(m.OPEN, OPEN7)]
    assert board.last_counter == 1 and host.board_counter(7) == 1


def test_retry_after_lost_reply_is_answered_from_cache():
    host, board, lock = _pair()
    wire = host.request(7, m.OPEN, OPEN7, now=0.0)
    first = board.receive(wire, lock)           # reply lost on the wire
    assert host.poll(0.1) is None
    again = host.poll(host.next_deadline())
    assert again == wire                        # byte-identical retry
    second = board.receive(again, lock)
    assert second == first
    assert len(lock.calls) == 1 and board.cache_hits == 1
    (r,) = host.receive(second[0], 5.0)
    assert r.ok and r.attempts == 2 and host.retries == 1


def test_retry_of_read_only_is_re_executed_not_cached():
    host, board, lock = _pair()
    wire = host.request(7, m.TIME_GET, None, now=0.0)
    board.receive(wire, lock)
    again = host.poll(10.0)
    (reply,) = board.receive(again, lock)
    (r,) = host.receive(reply, 10.1)
    assert r.ok and len(lock.calls) == 2 and board.cache_hits == 0 and not r.authenticated


def test_timeout_after_max_attempts():
    host, board, lock = _pair()
    host.request(7, m.OPEN, OPEN7, now=0.0)
    t = 0.0
    sent = 1
    while True:
        t = host.next_deadline()
        act = host.poll(t)
        if isinstance(act, bytes):
            sent += 1
            continue
        break
    assert act.kind == TIMEOUT and act.attempts == 3 and sent == 3
    assert host.outstanding is None and host.timeouts == 1
    assert act.elapsed > 3 * 2.5


def test_replay_of_captured_frame_refused():
    host, board, lock = _pair()
    captured = host.request(7, m.OPEN, OPEN7, now=0.0)
    host.receive(board.receive(captured, lock)[0], 0.1)
    # Eight more commands push the captured one out of the reply cache.
    for i in range(8):
        _exchange(host, board, lock, m.CLEAR_CODE, {"compartment": i + 1}, now=float(i + 1))
    (nak,) = board.receive(captured, lock)
    (f,) = decode_wire(nak)
    fields = m.decode_payload(f.type, f.payload, True)
    assert f.type == m.NAK and fields["code"] == NAK_REPLAY and fields["detail"] == 9
    assert len([c for c in lock.calls if c[0] == m.OPEN]) == 1


def test_replay_survives_board_reboot():
    store = MemoryCounterStore()
    host, board, lock = _pair(board_store=store)
    wire = host.request(7, m.OPEN, OPEN7, now=0.0)
    board.receive(wire, lock)
    assert store.value == 1 and store.saves == 1
    rebooted = BoardSession(7, KEY, store)          # RAM (and reply cache) lost, counter kept
    (nak,) = rebooted.receive(wire, lock)
    (f,) = decode_wire(nak)
    assert m.decode_payload(f.type, f.payload, True)["code"] == NAK_REPLAY
    assert len(lock.calls) == 1
    # the host, retrying into the rebooted board, learns the command may have run
    (r,) = host.receive(rebooted.receive(host.poll(100.0), lock)[0], 100.1)
    assert r.kind == NAK and r.nak_code == NAK_REPLAY and r.maybe_executed and not r.authenticated


def test_counter_persisted_before_handler_runs():
    store = MemoryCounterStore()
    seen = []

    def handler(msg_type, fields):
        seen.append(store.value)
        return {"compartment": 7, "result": 0, "detail": 0, "event_seq": 1}

    host, board, _ = _pair(board_store=store)
    host.request(7, m.OPEN, OPEN7, now=0.0)
    board.receive(host.outstanding.wire, handler)
    assert seen == [1]


def test_forged_and_wrong_key_frames_refused():
    host, board, lock = _pair()
    forged = encode_frame(7, 1, m.OPEN, m.encode_payload(m.OPEN, OPEN7), 0, 50, OTHER_KEY)
    (nak,) = board.receive(forged, lock)
    (f,) = decode_wire(nak)
    assert m.decode_payload(f.type, f.payload, True)["code"] == NAK_BAD_AUTH
    assert not f.is_auth and lock.calls == [] and board.last_counter == 0


def test_state_change_without_auth_refused():
    host, board, lock = _pair()
    (nak,) = board.receive(encode_frame(7, 1, m.OPEN, m.encode_payload(m.OPEN, OPEN7)), lock)
    (f,) = decode_wire(nak)
    assert m.decode_payload(f.type, f.payload, True)["code"] == NAK_AUTH_REQUIRED
    assert lock.calls == []
    raises(LocalProtocolError, host.request, 7, m.OPEN, OPEN7, 0.0, False)


def test_host_drops_forged_reply_and_keeps_waiting():
    host, board, lock = _pair()
    wire = host.request(7, m.OPEN, OPEN7, now=0.0)
    (f,) = decode_wire(wire)
    fake = encode_frame(7, f.seq, m.OPEN, m.encode_payload(m.OPEN, {"compartment": 7, "result": m.OPEN_JAMMED,
                                                                    "detail": 0, "event_seq": 1}, True),
                        FLAG_REPLY, f.counter, OTHER_KEY)
    assert host.receive(fake, 0.1) == [] and host.forged == 1
    unauth = encode_frame(7, f.seq, m.OPEN, m.encode_payload(m.OPEN, {"compartment": 7, "result": 0,
                                                                      "detail": 0, "event_seq": 1}, True), FLAG_REPLY)
    assert host.receive(unauth, 0.1) == [] and host.forged == 2
    (r,) = host.receive(board.receive(wire, lock)[0], 0.2)
    assert r.ok and r.fields["result"] == m.OPEN_OPENED


def test_reply_with_other_seq_or_address_is_stray():
    host, board, lock = _pair()
    wire = host.request(7, m.TIME_GET, None, now=0.0)
    (reply,) = board.receive(wire, lock)
    (f,) = decode_wire(reply)
    other_seq = encode_frame(7, (f.seq + 1) & 0xFF, f.type, f.payload, FLAG_REPLY)
    other_addr = encode_frame(8, f.seq, f.type, f.payload, FLAG_REPLY)
    assert host.receive(other_seq + other_addr, 0.1) == [] and host.stray == 2
    assert len(host.receive(reply, 0.1)) == 1


def test_nak_from_handler_reaches_host_authenticated():
    host, board, lock = _pair()
    lock.nak = NAK_BUSY
    r = _exchange(host, board, lock, m.OPEN, OPEN7)
    assert r.kind == NAK and r.nak_code == NAK_BUSY and r.nak_detail == 9 and not r.maybe_executed
    assert r.authenticated


def test_handler_crash_becomes_nak_internal():
    host, board, _ = _pair()

    def broken(msg_type, fields):
        raise ValueError("bug")

    host.request(7, m.OPEN, OPEN7, now=0.0)
    (r,) = host.receive(board.receive(host.outstanding.wire, broken)[0], 0.1)
    assert r.kind == NAK and r.nak_code == NAK_INTERNAL
    assert isinstance(board.last_exception, ValueError)


def test_bad_reply_payload_is_remote_error():
    host, board, lock = _pair()
    wire = host.request(7, m.TIME_GET, None, now=0.0)
    (f,) = decode_wire(wire)
    (r,) = host.receive(encode_frame(7, f.seq, m.TIME_GET, b"\x01\x02", FLAG_REPLY), 0.1)
    assert r.kind == BAD_REPLY and r.error.code == 4


def test_board_ignores_replies_other_addresses_and_noise():
    host, board, lock = _pair()
    assert board.receive(encode_frame(7, 1, m.TIME_GET, bytes(8), FLAG_REPLY), lock) == []
    assert board.receive(encode_frame(9, 1, m.TIME_GET, b""), lock) == []
    assert board.receive(b"\x17\x99\x42\x00", lock) == []
    assert lock.calls == [] and board.ignored == 2 and board.noise == 1


def test_broadcast_executes_without_reply():
    host, board, lock = _pair()
    wire = host.request(0, m.TIME_GET, None, now=0.0)
    assert host.outstanding is None
    assert board.receive(wire, lock) == []
    assert len(lock.calls) == 1
    raises(LocalProtocolError, host.request, 0, m.OPEN, OPEN7, 0.0)
    # an AUTH type sent to broadcast by someone else is ignored
    assert board.receive(encode_frame(0, 1, m.OPEN, m.encode_payload(m.OPEN, OPEN7), 0, 5, KEY), lock) == []
    assert len(lock.calls) == 1


def test_one_request_at_a_time():
    host, board, lock = _pair()
    host.request(7, m.TIME_GET, None, now=0.0)
    raises(LocalProtocolError, host.request, 7, m.TIME_GET, None, 0.0)
    host.cancel()
    host.request(7, m.TIME_GET, None, now=0.0)


def test_host_local_errors():
    host = HostSession()
    raises(LocalProtocolError, host.add_board, 0, KEY)
    raises(LocalProtocolError, host.add_board, 248, KEY)
    raises(LocalProtocolError, host.request, 9, m.TIME_GET)
    host.add_board(9)
    raises(LocalProtocolError, host.request, 9, m.OPEN, OPEN7)       # no key
    raises(LocalProtocolError, host.request, 9, m.NAK, {})
    raises(LocalProtocolError, host.request, 9, m.OPEN, {"compartment": 1})


def test_host_counter_persisted_and_resumed():
    store = MemoryCounterStore(41)
    host, board, lock = _pair(host_store=store, board_store=MemoryCounterStore(41))
    r = _exchange(host, board, lock, m.OPEN, OPEN7)
    assert r.ok and store.value == 42 and r.counter == 42
    host2 = HostSession()
    host2.add_board(7, KEY, store=store)
    assert host2.board_counter(7) == 42


def test_host_counter_resync_after_replay_nak():
    host, board, lock = _pair(board_store=MemoryCounterStore(500))
    r = _exchange(host, board, lock, m.OPEN, OPEN7)
    assert r.kind == NAK and r.nak_code == NAK_REPLAY and r.nak_detail == 500 and not r.maybe_executed
    assert lock.calls == []
    assert host.resync_counter(7, r.nak_detail)
    assert not host.resync_counter(7, 100)
    raises(LocalProtocolError, host.resync_counter, 7, 500 + (1 << 21))
    assert _exchange(host, board, lock, m.OPEN, OPEN7, now=1.0).ok


class FailingStore(MemoryCounterStore):
    def save(self, value):
        raise OSError("flash full")


def test_board_counter_store_failure_breaks_session():
    host, board, lock = _pair(board_store=FailingStore())
    r = _exchange(host, board, lock, m.OPEN, OPEN7)
    assert r.kind == NAK and r.nak_code == NAK_INTERNAL and lock.calls == []
    assert board.broken
    r = _exchange(host, board, lock, m.REBOOT, {"delay_ms": 0}, now=1.0)
    assert r.kind == NAK and r.nak_code == NAK_INTERNAL and lock.calls == []
    assert _exchange(host, board, lock, m.TIME_GET, None, now=2.0).ok   # reads still work


def test_host_counter_store_failure_breaks_board_entry():
    host = HostSession()
    host.add_board(7, KEY, store=FailingStore())
    raises(LocalProtocolError, host.request, 7, m.OPEN, OPEN7)
    assert host.outstanding is None
    e = raises(LocalProtocolError, host.request, 7, m.OPEN, OPEN7)
    assert "counter store failed" in str(e)


def test_counter_exhaustion_breaks_board_entry():
    host = HostSession()
    host.add_board(7, KEY, counter=0xFFFFFFFF)
    e = raises(LocalProtocolError, host.request, 7, m.OPEN, OPEN7)
    assert "re-keyed" in str(e)


def test_authenticated_read():
    host, board, lock = _pair()
    r = _exchange(host, board, lock, m.TIME_GET, None, auth=True)
    assert r.ok and r.counter == 1 and board.last_counter == 1


def test_seq_wraps():
    host, board, lock = _pair()
    seqs = []
    for i in range(300):
        r = _exchange(host, board, lock, m.TIME_GET, None, now=float(i))
        seqs.append(r.seq)
    assert seqs[255] == 255 and seqs[256] == 0


def test_noise_before_a_request_does_not_cost_the_attempt():
    host, board, lock = _pair()
    assert board.receive(b"\x42\x17\xff", lock) == []      # a glitch with no delimiter after it
    wire = host.request(7, m.OPEN, OPEN7, now=0.0)
    assert wire[0] == 0                                      # the leading 0x00 flushes the glitch
    (reply,) = board.receive(wire, lock)
    assert len(lock.calls) == 1
    (r,) = host.receive(b"\x99" + reply, 0.1)                # turnaround glitch before the reply
    assert r.ok and r.attempts == 1 and host.noise == 1     # the glitch alone is dropped
