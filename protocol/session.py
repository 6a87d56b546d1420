"""Session layer: the host's request/retry/timeout bookkeeping and the board's auth + reply cache.

No I/O and no clocks: bytes go in and come out, and the caller passes the time (`now`, seconds as a
float from any monotonic clock). See PROTOCOL.md, "Sessions".
"""
from protocol import messages as m
from protocol import timing
from protocol.auth import Hmac, equal
from protocol.errors import (
    NAK_AUTH_REQUIRED,
    NAK_BAD_AUTH,
    NAK_INTERNAL,
    NAK_NOT_PROVISIONED,
    NAK_REPLAY,
    NAK_UNKNOWN_TYPE,
    LocalProtocolError,
    NakError,
    RemoteProtocolError,
)
from protocol.frame import BROADCAST, FLAG_REPLY, MAX_ADDRESS, FrameDecoder, encode_frame

COUNTER_MAX = 0xFFFFFFFF
# Sessions send a 0x00 before every frame: it ends whatever a line-turnaround glitch or noise left
# in the receiver's decoder, so the frame itself is decoded cleanly on the first attempt.
_LEAD = b"\x00"
RESYNC_WINDOW = 1 << 20          # largest forward jump resync_counter() accepts
# NAKs a board sends before it has accepted the counter; these replies are never authenticated
# (INTERNAL only in its "counter store failed" form, detail 1).
PRE_AUTH_NAKS = (NAK_BAD_AUTH, NAK_REPLAY, NAK_AUTH_REQUIRED, NAK_NOT_PROVISIONED, NAK_UNKNOWN_TYPE,
                 NAK_INTERNAL)


class MemoryCounterStore:
    """A counter store kept in RAM (tests, simulator). Real ones persist to flash or a database.

    The interface is load() -> int and save(int); save must not return before the value is durable.
    """

    def __init__(self, value=0):
        self.value = value
        self.saves = 0

    def load(self):
        return self.value

    def save(self, value):
        self.value = value
        self.saves += 1


# ---- host side ------------------------------------------------------------------------------------
REPLY = "reply"
NAK = "nak"
TIMEOUT = "timeout"
BAD_REPLY = "bad_reply"


class Result:
    """How a request ended. kind: REPLY (fields), NAK (nak_code, nak_detail), TIMEOUT, or BAD_REPLY
    (an authentic reply whose payload did not parse: `error` is the RemoteProtocolError).

    authenticated: the reply carried a valid tag (always False for TIMEOUT and for unauthenticated
    requests). An unauthenticated NAK to an AUTH request is advisory: it cannot be told from a forgery.
    maybe_executed: for a NAK REPLAY to a retry — the board accepted an earlier copy (then lost its
    reply cache, e.g. rebooted), so the command may have run; look for its event before redoing it.
    """

    def __init__(self, kind, req, fields=None, nak_code=0, nak_detail=0, error=None, now=0.0,
                 authenticated=False):
        self.kind = kind
        self.authenticated = authenticated
        self.address = req.address
        self.seq = req.seq
        self.msg_type = req.msg_type
        self.counter = req.counter
        self.attempts = req.attempts
        self.elapsed = now - req.first_sent
        self.fields = fields
        self.nak_code = nak_code
        self.nak_detail = nak_detail
        self.error = error
        self.maybe_executed = kind == NAK and nak_code == NAK_REPLAY and req.attempts > 1

    @property
    def ok(self):
        return self.kind == REPLY

    def __repr__(self):
        return "Result(%s %s addr=%d seq=%d attempts=%d fields=%r nak=%d/%d)" % (
            self.kind, m.type_name(self.msg_type), self.address, self.seq, self.attempts, self.fields,
            self.nak_code, self.nak_detail)


class _Request:
    def __init__(self, address, seq, msg_type, counter, wire, now, deadline):
        self.address = address
        self.seq = seq
        self.msg_type = msg_type
        self.counter = counter       # None if not authenticated
        self.wire = wire
        self.first_sent = now
        self.deadline = deadline
        self.attempts = 1


class _Board:
    def __init__(self, address, key, counter, store):
        self.address = address
        self.hmac = Hmac(key) if key is not None else None
        self.counter = counter       # last counter used towards this board
        self.store = store
        self.broken = None           # reason string once the counter can no longer be trusted


class HostSession:
    """The bus master's side of one bus: one request in flight at a time (RS-485 is half duplex).

    request() returns the bytes to send; receive() takes bytes read from the bus and returns the
    Results they complete; poll(now) returns bytes to send again (a retry, byte-identical, so the
    board answers it from its reply cache), a TIMEOUT Result once attempts are used up, or None.
    """

    def __init__(self, baud=9600, max_attempts=timing.MAX_ATTEMPTS, first_seq=0):
        if max_attempts < 1:
            raise LocalProtocolError("max_attempts must be >= 1")
        self.baud = baud
        self.max_attempts = max_attempts
        self.decoder = FrameDecoder()
        self._boards = {}
        self._seq = first_seq & 0xFF
        self._req = None
        self.noise = 0          # damaged frames (CRC, COBS, ...)
        self.stray = 0          # valid frames that answer nothing outstanding
        self.forged = 0         # replies to an AUTH request with a missing or wrong tag/counter
        self.retries = 0
        self.timeouts = 0

    # -- boards
    def add_board(self, address, key=None, counter=None, store=None):
        """Register a board. counter: last counter used (default: store.load(), else 0)."""
        if not isinstance(address, int) or address < 1 or address > MAX_ADDRESS:
            raise LocalProtocolError("board address must be 1..%d, got %r" % (MAX_ADDRESS, address))
        if counter is None:
            counter = store.load() if store is not None else 0
        self._boards[address] = _Board(address, key, counter, store)

    def board_counter(self, address):
        return self._board(address).counter

    def resync_counter(self, address, last_accepted):
        """Move our counter up to a board's last accepted counter (from a NAK REPLAY detail).

        Never moves backwards, and refuses jumps beyond RESYNC_WINDOW (a forged NAK could otherwise
        exhaust the counter space). Returns True if the counter moved.
        """
        b = self._board(address)
        if last_accepted <= b.counter:
            return False
        if last_accepted - b.counter > RESYNC_WINDOW:
            raise LocalProtocolError("refusing counter jump of %d for board %d" % (
                last_accepted - b.counter, address))
        self._save_counter(b, last_accepted)
        return True

    def _board(self, address):
        b = self._boards.get(address)
        if b is None:
            raise LocalProtocolError("unknown board address %r (add_board first)" % (address,))
        return b

    def _save_counter(self, b, counter):
        if b.store is not None:
            try:
                b.store.save(counter)
            except Exception as exc:  # the store is ours: a failure is local, and final
                b.broken = "counter store failed: %r" % (exc,)
            if b.broken:
                raise LocalProtocolError("board %d: %s" % (b.address, b.broken))
        b.counter = counter

    # -- requests
    @property
    def outstanding(self):
        return self._req

    def next_deadline(self):
        return self._req.deadline if self._req is not None else None

    def cancel(self):
        """Forget the outstanding request (e.g. the transport was reopened)."""
        self._req = None
        self.decoder.reset()

    def request(self, address, msg_type, fields=None, now=0.0, auth=None):
        """Build a request and return its wire bytes (send them at `now`).

        auth=None authenticates exactly the types that require it; auth=True authenticates any type
        (e.g. EVENTS, so the host can trust what it reads). Broadcasts (address 0) get no reply, are
        never authenticated, and leave nothing outstanding.
        """
        if self._req is not None:
            raise LocalProtocolError("request seq %d to board %d is still outstanding" % (
                self._req.seq, self._req.address))
        if not m.is_request_type(msg_type):
            raise LocalProtocolError("%s is not a request type" % m.type_name(msg_type), NAK_UNKNOWN_TYPE)
        if auth is None:
            auth = m.requires_auth(msg_type)
        elif not auth and m.requires_auth(msg_type):
            raise LocalProtocolError("%s requires AUTH" % m.type_name(msg_type), NAK_AUTH_REQUIRED)
        payload = m.encode_payload(msg_type, fields, False)
        seq = self._seq
        if address == BROADCAST:
            if auth:
                raise LocalProtocolError("%s cannot be broadcast: tags are per board" % m.type_name(msg_type))
            self._seq = (seq + 1) & 0xFF
            return _LEAD + encode_frame(BROADCAST, seq, msg_type, payload)
        b = self._board(address)
        counter = None
        key = None
        if auth:
            if b.hmac is None:
                raise LocalProtocolError("no key for board %d" % address, NAK_NOT_PROVISIONED)
            if b.broken:
                raise LocalProtocolError("board %d: %s" % (address, b.broken))
            if b.counter >= COUNTER_MAX:
                b.broken = "counter exhausted; the board must be re-keyed"
                raise LocalProtocolError("board %d: %s" % (address, b.broken))
            counter = b.counter + 1
            self._save_counter(b, counter)   # durable before the frame exists: never reuse a counter
            key = b.hmac
        wire = _LEAD + encode_frame(address, seq, msg_type, payload, 0, counter, key)
        self._seq = (seq + 1) & 0xFF
        self._req = _Request(address, seq, msg_type, counter, wire, now, self._deadline(msg_type, wire, now, auth))
        return wire

    def _deadline(self, msg_type, wire, now, auth):
        return now + timing.wire_time_s(len(wire), self.baud) + timing.reply_timeout_s(msg_type, self.baud, auth)

    def poll(self, now):
        """Retry bytes, a TIMEOUT Result, or None (nothing to do before next_deadline())."""
        req = self._req
        if req is None or now < req.deadline:
            return None
        if req.attempts < self.max_attempts:
            req.attempts += 1
            req.deadline = self._deadline(req.msg_type, req.wire, now, req.counter is not None)
            self.retries += 1
            return req.wire
        self._req = None
        self.timeouts += 1
        return Result(TIMEOUT, req, now=now)

    def receive(self, data, now=0.0):
        """Feed bytes read from the bus; returns the list of Results they complete (usually 0 or 1)."""
        results = []
        for item in self.decoder.feed(data):
            if item.is_error:
                self.noise += 1
                continue
            r = self._match(item, now)
            if r is not None:
                results.append(r)
        return results

    def _match(self, f, now):
        req = self._req
        if (req is None or not f.is_reply or f.address != req.address or f.seq != req.seq
                or (f.type != req.msg_type and f.type != m.NAK)):
            self.stray += 1
            return None
        b = self._boards[req.address]
        if req.counter is not None:
            if f.is_auth:
                if f.counter != req.counter or not equal(b.hmac.tag(f.signed_bytes()), f.tag):
                    self.forged += 1
                    return None
            elif f.type != m.NAK or len(f.payload) < 1 or f.payload[0] not in PRE_AUTH_NAKS:
                self.forged += 1
                return None
        elif f.is_auth:
            self.stray += 1
            return None
        self._req = None
        auth = f.is_auth
        try:
            fields = m.decode_payload(f.type, f.payload, True)
        except RemoteProtocolError as exc:
            return Result(BAD_REPLY, req, error=exc, now=now, authenticated=auth)
        if f.type == m.NAK:
            return Result(NAK, req, fields, fields["code"], fields["detail"], now=now, authenticated=auth)
        return Result(REPLY, req, fields, now=now, authenticated=auth)


# ---- board side -----------------------------------------------------------------------------------
class BoardSession:
    """A board's side: checks address, auth and counter, answers retries from the reply cache, and
    calls handler(msg_type, fields) only for new, authentic, non-replayed commands.

    handler returns the reply fields (dict, or None for an empty reply) or raises NakError. The
    counter is persisted through `store` (load()/save()) before the handler runs, so a replay is
    refused even after a reboot. If saving fails the session is broken for good (until restart):
    every later AUTH command gets NAK INTERNAL, since replay protection can no longer be promised.
    """

    def __init__(self, address, key, store=None, cache_size=8):
        if not isinstance(address, int) or address < 1 or address > MAX_ADDRESS:
            raise LocalProtocolError("board address must be 1..%d, got %r" % (MAX_ADDRESS, address))
        self.address = address
        self._hmac = Hmac(key) if key is not None else None
        self._store = store if store is not None else MemoryCounterStore()
        self.last_counter = self._store.load()
        self._cache = [None] * cache_size     # (seq, counter, tag, reply wire)
        self._slot = 0
        self.decoder = FrameDecoder()
        self.broken = None
        self.last_exception = None
        self.noise = 0
        self.ignored = 0
        self.executed = 0
        self.cache_hits = 0
        self.rejected = 0

    def receive(self, data, handler):
        """Feed bytes from the bus; returns the list of reply wire bytes to send, in order."""
        out = []
        for item in self.decoder.feed(data):
            if item.is_error:
                self.noise += 1
                continue
            reply = self.handle(item, handler)
            if reply is not None:
                out.append(reply)
        return out

    def handle(self, f, handler):
        """Reply wire bytes for frame f, or None (not for us, a reply, a broadcast, or a FrameError)."""
        if f.is_error:
            self.noise += 1
            return None
        if f.is_reply or (f.address != self.address and f.address != BROADCAST):
            self.ignored += 1
            return None
        if f.address == BROADCAST:
            # Everyone executes, nobody answers; tags are per board so AUTH types cannot be broadcast.
            if not f.is_auth and m.is_request_type(f.type) and not m.requires_auth(f.type):
                self._run(f, handler)
            else:
                self.ignored += 1
            return None
        if not m.is_request_type(f.type):
            return self._nak(f, NAK_UNKNOWN_TYPE, 0)
        if f.is_auth:
            if self._hmac is None:
                return self._nak(f, NAK_NOT_PROVISIONED, 0)
            if not equal(self._hmac.tag(f.signed_bytes()), f.tag):
                return self._nak(f, NAK_BAD_AUTH, 0)
            for entry in self._cache:
                if entry is not None and entry[0] == f.seq and entry[1] == f.counter and entry[2] == f.tag:
                    self.cache_hits += 1
                    return entry[3]
            if self.broken:
                return self._nak(f, NAK_INTERNAL, 1)
            if f.counter <= self.last_counter:
                return self._nak(f, NAK_REPLAY, self.last_counter)
            try:
                self._store.save(f.counter)
            except Exception as exc:
                self.broken = "counter store failed: %r" % (exc,)
                self.last_exception = exc
                return self._nak(f, NAK_INTERNAL, 1)
            self.last_counter = f.counter
        elif m.requires_auth(f.type):
            return self._nak(f, NAK_AUTH_REQUIRED, 0)
        reply_type, payload = self._run(f, handler)
        wire = _LEAD + encode_frame(self.address, f.seq, reply_type, payload, FLAG_REPLY, f.counter,
                            self._hmac if f.is_auth else None)
        if f.is_auth:
            self._cache[self._slot] = (f.seq, f.counter, f.tag, wire)
            self._slot = (self._slot + 1) % len(self._cache)
        return wire

    def _run(self, f, handler):
        """(reply type, reply payload) for an accepted command; NAK on any failure."""
        try:
            fields = m.decode_payload(f.type, f.payload, False)
        except RemoteProtocolError as exc:
            self.rejected += 1
            return m.NAK, _nak_payload(exc.code, f.type, 0)
        try:
            reply = handler(f.type, fields)
            self.executed += 1
            return f.type, m.encode_payload(f.type, reply, True)
        except NakError as exc:
            self.executed += 1
            return m.NAK, _nak_payload(exc.code, f.type, exc.detail)
        except Exception as exc:  # a firmware bug must not kill the bus; keep it for the log
            self.last_exception = exc
            return m.NAK, _nak_payload(NAK_INTERNAL, f.type, 0)

    def _nak(self, f, code, detail):
        self.rejected += 1
        return _LEAD + encode_frame(self.address, f.seq, m.NAK, _nak_payload(code, f.type, detail), FLAG_REPLY)


def _nak_payload(code, request_type, detail):
    return m.encode_payload(m.NAK, {"code": code, "request_type": request_type, "detail": detail}, True)

