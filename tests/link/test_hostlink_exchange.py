"""hostlink.exchange: the host's one exchange loop (the bus master, `cunbox flash` and the simulator's
client all talk through it), against a protocol.session.BoardSession at the far end of a port in
memory that can lose replies, reboot the board (its reply cache gone) and fail."""
import time

import pytest

from hostlink.exchange import Exchange, LinkError, MaybeExecuted, NakReply, result_fields
from protocol import messages as m
from protocol import timing
from protocol.errors import NAK_BAD_PAYLOAD, NAK_REPLAY, NakError
from protocol.session import NAK, REPLY, TIMEOUT, BoardSession, HostSession, MemoryCounterStore

KEY = b"k" * 16
BAUD = 115200


class BoardPort:
    """A port without a descriptor whose far end is one board: what is written is answered at once,
    unless the next `lose` replies are lost on the line. `before_write` runs before the board hears."""

    def __init__(self, last_counter=0):
        self.store = MemoryCounterStore(last_counter)
        self.board = BoardSession(1, KEY, store=self.store)
        self.ran = []
        self.inbox = bytearray()
        self.writes = []
        self.lose = 0
        self.before_write = None
        self.fail = None
        self.fail_read = None

    def handler(self, msg_type, fields):
        self.ran.append(msg_type)
        if msg_type == m.TIME_SET and fields["time"] == 0:
            raise NakError(NAK_BAD_PAYLOAD, 7)
        if msg_type == m.TIME_SET:
            return {"previous": 1}
        return {"time": 1, "uptime_s": 2}

    def reboot(self):
        """Power cycle: the counter survives on flash, the reply cache does not."""
        self.board = BoardSession(1, KEY, store=self.store)

    def write(self, data):
        if self.fail is not None:
            raise self.fail
        self.writes.append((time.monotonic(), bytes(data)))
        if self.before_write is not None:
            self.before_write(self)
        for reply in self.board.receive(bytes(data), self.handler):
            if self.lose:
                self.lose -= 1
                continue
            self.inbox += reply

    def flush(self):
        pass

    def close(self):
        pass

    def read(self, n):
        if self.fail_read is not None:
            raise self.fail_read
        out = bytes(self.inbox[:n])
        del self.inbox[:n]
        return out


def _exchange(port, counter=0):
    s = HostSession(baud=BAUD)
    s.add_board(1, KEY, counter=counter)
    return Exchange(s, port)


def test_a_lost_reply_is_retried_with_the_same_bytes_and_answered_from_the_reply_cache():
    port = BoardPort()
    ex = _exchange(port)
    port.lose = 1
    r = ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert r.kind == REPLY and r.attempts == 2 and r.fields == {"previous": 1}
    assert port.writes[0][1] == port.writes[1][1]  # the very same seq, counter and tag
    assert port.ran == [m.TIME_SET] and port.board.cache_hits == 1
    assert ex.stats == {"requests": 1}


def test_replay_to_a_first_transmission_moves_the_counter_up_and_sends_it_again_once():
    port = BoardPort(last_counter=50)  # the board accepted counters we never used (another host)
    ex = _exchange(port)
    r = ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert r.kind == REPLY and r.counter == 51
    assert port.ran == [m.TIME_SET]
    assert ex.stats == {"requests": 2, "resyncs": 1}


def test_a_second_replay_is_returned_as_the_nak_it_is_not_chased():
    port = BoardPort(last_counter=50)

    def another_host(p):  # keeps moving the board's counter ahead of ours
        p.store.value += 100
        p.board.last_counter = p.store.value
    port.before_write = another_host
    ex = _exchange(port)
    r = ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert r.kind == NAK and r.nak_code == NAK_REPLAY and not r.maybe_executed
    assert len(port.writes) == 2 and port.ran == []
    with pytest.raises(NakReply) as info:
        result_fields(r)
    assert not isinstance(info.value, LinkError) and info.value.code == NAK_REPLAY


def test_replay_to_a_retry_may_have_run_and_is_never_sent_again_with_a_new_counter():
    port = BoardPort()
    ex = _exchange(port)
    port.lose = 1  # the board runs it, its reply is lost, and it reboots before the retry
    sent = []

    def reboot_after_first(p):
        sent.append(1)
        if len(sent) == 2:
            p.reboot()
    port.before_write = reboot_after_first
    r = ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert r.kind == NAK and r.nak_code == NAK_REPLAY and r.maybe_executed
    assert len(port.writes) == 2 and port.writes[0][1] == port.writes[1][1]
    assert port.ran == [m.TIME_SET]
    assert "resyncs" not in ex.stats
    with pytest.raises(MaybeExecuted, match="restarted during TIME_SET"):
        result_fields(r)


def test_a_timeout_of_a_state_changing_request_may_have_run_a_read_only_one_is_a_link_error():
    port = BoardPort()
    ex = _exchange(port)
    port.lose = 3
    r = ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert r.kind == TIMEOUT and r.attempts == 3 and len({w for _t, w in port.writes}) == 1
    assert port.ran == [m.TIME_SET]  # it did run: only its replies were lost
    with pytest.raises(MaybeExecuted, match="no reply to TIME_SET"):
        result_fields(r)
    port.lose = 3
    r = ex.call(1, m.TIME_GET)
    assert r.kind == TIMEOUT
    with pytest.raises(LinkError, match="no reply to TIME_GET") as info:
        result_fields(r)
    assert not isinstance(info.value, MaybeExecuted)
    assert ex.stats == {"requests": 2, "timeouts": 2}


def test_a_nak_is_surfaced_as_such():
    port = BoardPort()
    r = _exchange(port).call(1, m.TIME_SET, {"time": 0})
    assert r.kind == NAK and r.nak_code == NAK_BAD_PAYLOAD
    with pytest.raises(NakReply) as info:
        result_fields(r)
    assert (info.value.code, info.value.detail) == (NAK_BAD_PAYLOAD, 7)


def test_the_gap_is_kept_and_stale_bytes_are_dropped_before_a_request():
    port = BoardPort()
    ex = _exchange(port)
    assert ex.call(1, m.TIME_GET).ok
    port.inbox += b"\x00\x07late reply\x00"  # what a request given up on left on the line
    assert result_fields(ex.call(1, m.TIME_GET)) == {"time": 1, "uptime_s": 2}
    assert ex.stale == 13
    (t0, _), (t1, _) = port.writes
    assert t1 - t0 >= timing.inter_frame_gap_us(BAUD) / 1e6


def test_a_port_error_ends_the_exchange_and_the_session_takes_the_next_request():
    port = BoardPort()
    ex = _exchange(port)
    port.fail = OSError("adapter unplugged")
    with pytest.raises(OSError):
        ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert ex.session.outstanding is None and ex.on_wire
    port.fail = None
    assert ex.call(1, m.TIME_SET, {"time": 1800000001}).ok


def test_a_port_that_fails_before_the_request_went_out_says_so():
    port = BoardPort()
    ex = _exchange(port)
    port.fail = OSError("adapter unplugged")
    with pytest.raises(OSError):
        ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert ex.on_wire
    port.fail, port.fail_read = None, OSError("adapter unplugged")
    with pytest.raises(OSError):
        ex.call(1, m.TIME_SET, {"time": 1800000000})
    assert not ex.on_wire and port.writes == []


def test_cunbox_flashs_link_reads_a_port_failure_as_maybe_executed_only_once_a_change_went_out():
    from server.firmware_delivery.link import Link

    link = Link("loop://", 1, KEY, baud=BAUD)
    port = BoardPort()

    def attach():  # Link.open, on the board in memory instead of a pyserial URL
        link.port = port
        link.exchange = Exchange(link.session, port)
    link.open = attach
    port.fail = OSError("4G bridge gone")
    with pytest.raises(MaybeExecuted, match="it may have run"):
        link.call(m.TIME_SET, {"time": 1800000000})
    with pytest.raises(LinkError) as info:
        link.call(m.TIME_GET)
    assert not isinstance(info.value, MaybeExecuted)
    port.fail = None
    port.fail_read = OSError("4G bridge gone")
    with pytest.raises(LinkError) as info:
        link.call(m.TIME_SET, {"time": 1800000000})
    assert not isinstance(info.value, MaybeExecuted)  # nothing went out
    port.fail_read = None
    assert link.call(m.TIME_SET, {"time": 1800000001}) == {"previous": 1}
