"""The one blocking exchange loop of every host that talks to a board (PROTOCOL.md 3.1, 3.3 and 6).

    ex = Exchange(HostSession(baud=19200), serial.serial_for_url(url, baudrate=19200, timeout=0))
    r = ex.call(address, m.STATUS)          # a protocol.session.Result: REPLY, NAK, TIMEOUT, BAD_REPLY
    fields = result_fields(r)               # or LinkError / MaybeExecuted / NakReply

Exchange drives a protocol.session.HostSession over an open port (pyserial, or anything with
read/write/flush; reads must not block: timeout=0). The locker link's bus master, `cunbox flash`
and the simulator's test client all talk through it, so they keep the same rules:

- the inter-frame gap before every transmission, counted from the last byte sent or heard;
- bytes left waiting before a request (a late reply to a request given up on) are dropped unread;
- one request in flight; a reply is awaited in one blocking wait up to the session's deadline
  (select() on the port's descriptor; a port without one is read every `poll_s`);
- retries are the session's: the very same bytes (seq, counter, tag) on its deadline, so a board
  that already ran the request answers from its reply cache and never runs it twice;
- NAK REPLAY to a *first* transmission (our counter is behind the board's; the board did nothing):
  the counter is moved up to the board's and the request goes out again as a new one, once.
  NAK REPLAY to a *retry* (maybe executed) and a timeout are returned as they are: a state-changing
  request is never sent again with a new counter after its reply was lost;
- a port error ends the exchange (the session forgets the request) and propagates to the caller.

result_fields() is the strict reading for callers that want reply fields or an exception: a NAK is
NakReply; a lost reply (timeout, REPLAY to a retry, an authentic reply that did not parse) is
MaybeExecuted for a state-changing request and LinkError for a read-only one.
"""
import select
import time

from protocol import messages as m
from protocol import timing
from protocol.errors import NAK_REPLAY, LocalProtocolError
from protocol.session import NAK, REPLY, TIMEOUT

POLL_S = 0.002  # how often a port without a descriptor (rfc2217://, loop://) is read while waiting
_STALE_READS = 16  # reads that drop what waits before a request (bounded: a babbling line never stops)


class LinkError(Exception):
    """The board did not answer (timeout after the retries, a reply that did not parse, or the port
    failed): a read-only request did not happen, or did without effect."""


class MaybeExecuted(LinkError):
    """A state-changing request whose reply was lost: the board may or may not have run it (a timeout,
    a REPLAY to a retry: it took an earlier copy and then lost its reply cache, the port failing after
    it went out). Do not send it again blindly; ask the board where it stands."""


class NakReply(Exception):
    """The board refused the request and did nothing (PROTOCOL.md 5): code and detail of its NAK."""

    def __init__(self, result):
        super().__init__("NAK %d detail %d to %s" % (result.nak_code, result.nak_detail, m.type_name(result.msg_type)))
        self.code = result.nak_code
        self.detail = result.nak_detail


def changes_state(msg_type):
    """Whether a request changes the board's state (PROTOCOL.md 3.2: exactly the types that need AUTH)."""
    return m.requires_auth(msg_type)


def result_fields(result):
    """The reply's fields, or the exception that says how the request ended (see the module's text)."""
    if result.kind == REPLY:
        return result.fields
    name = m.type_name(result.msg_type)
    if result.kind == NAK and not result.maybe_executed:
        raise NakReply(result)
    if result.kind == NAK:
        raise MaybeExecuted("board %d restarted during %s: it may have run it" % (result.address, name))
    if result.kind == TIMEOUT:
        what = "no reply to %s from board %d after %d tries" % (name, result.address, result.attempts)
    else:
        what = "bad reply to %s from board %d: %s" % (name, result.address, result.error)
    if changes_state(result.msg_type):
        raise MaybeExecuted(what + " (it may have run)")
    raise LinkError(what)


def selectable(port):
    """The descriptor select() can wait on for a port's incoming bytes, or None (rfc2217://, loop://:
    their bytes come through a reader thread or a buffer)."""
    try:
        return port.fileno()  # a tty or pty
    except (AttributeError, NotImplementedError, OSError, ValueError):
        pass
    if type(port).__module__.endswith("protocol_socket"):
        return port._socket  # socket://host:port: the socket itself
    return None


class Exchange:
    """Requests to the boards of one bus, one at a time, over one open port and one HostSession.

    stats: a dict it counts into ("requests" sent as new requests, "timeouts", "resyncs"); pass your
    own to keep totals over several ports. last_wire / last_rx: the bytes of the last request sent and
    the bytes heard while awaiting its reply; on_wire: whether the last request reached the port."""

    def __init__(self, session, port, poll_s=POLL_S, stats=None):
        self.session = session
        self.port = port
        self.poll_s = poll_s
        self.stats = stats if stats is not None else {}
        self._fd = selectable(port)
        self._gap = timing.inter_frame_gap_us(session.baud) / 1e6
        self._quiet_since = 0.0  # monotonic time of the last byte sent or heard
        self.last_wire = b""
        self.last_rx = 0
        self.on_wire = False
        self.stale = 0  # bytes dropped before requests

    def call(self, address, msg_type, fields=None, auth=None):
        """One request, with the session's retries and at most one REPLAY resync; its Result.

        A NAK REPLAY to a first transmission means our counter is behind the board's (a restored
        database, another host used the board): the board did nothing, so the counter moves up to
        what it last accepted and the request goes out again as a new request (PROTOCOL.md 3.3).
        A second REPLAY, or a resync the session refuses (a jump beyond its window, a counter store
        that failed), is returned as the NAK it is."""
        r = self.once(address, msg_type, fields, auth)
        if r is not None and r.kind == NAK and r.nak_code == NAK_REPLAY and not r.maybe_executed \
                and r.counter is not None:
            try:
                self.session.resync_counter(address, r.nak_detail)
            except LocalProtocolError:
                return r
            self._count("resyncs")
            r = self.once(address, msg_type, fields, auth)
        return r

    def once(self, address, msg_type, fields=None, auth=None):
        """One request and its retries, no resync: its Result (None for a broadcast, which has no reply).
        Raises what the port raises (the session forgets the request) and the session's
        LocalProtocolError (nothing was sent)."""
        s = self.session
        self.on_wire = False
        self._drop_stale()
        wire = s.request(address, msg_type, fields, now=time.monotonic(), auth=auth)
        self.last_wire = wire
        self.last_rx = 0
        try:
            self.on_wire = True
            self.send(wire)
            if s.outstanding is None:
                return None  # a broadcast: nobody answers
            self._count("requests")
            while True:
                data = self.read(s.next_deadline() - time.monotonic())
                now = time.monotonic()
                if data:
                    self.last_rx += len(data)
                    self._quiet_since = now  # the bus was busy: the gap counts from the last byte heard
                    results = s.receive(data, now)
                    if results:
                        return results[0]
                again = s.poll(now)
                if isinstance(again, (bytes, bytearray)):
                    self.send(again)
                elif again is not None:
                    self._count("timeouts")
                    return again
        except BaseException:
            s.cancel()  # the request is given up: the session is ready for the next one
            raise

    def send(self, wire):
        """Bytes onto the bus once it has been quiet for the inter-frame gap."""
        wait = self._quiet_since + self._gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.port.write(wire)
        self.port.flush()
        self._quiet_since = time.monotonic()

    def read(self, wait_s):
        """Whatever bytes arrive within wait_s: one blocking wait for the first bytes, then all that is
        there. A port without a descriptor is read every poll_s."""
        if wait_s > 0:
            if self._fd is not None:
                select.select([self._fd], [], [], wait_s)
            else:
                data = self.port.read(4096)
                if data:
                    return data
                time.sleep(min(wait_s, self.poll_s))
        return self.port.read(4096)

    def _drop_stale(self):
        for _ in range(_STALE_READS):
            data = self.port.read(4096)
            if not data:
                return
            self.stale += len(data)
            self._quiet_since = time.monotonic()

    def _count(self, key):
        self.stats[key] = self.stats.get(key, 0) + 1
