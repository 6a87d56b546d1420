"""Fuzz targets for the wire protocol and the board's command handler.

Each target takes one byte string and raises AssertionError (or anything else) on a finding; it
returns normally otherwise. The same bytes drive every engine: atheris (coverage-guided, `make
fuzz`), hypothesis (pytest), the plain mutation fuzzer, and the saved corpus in tests/fuzz_corpus/.

Structured targets read their input through `Reader`, which turns the bytes into choices (which
operation, which message type, which mutation), so coverage guidance steers the structure too.

What "a finding" is:
- decoder: any exception; a result that depends on how the stream was chunked; a Frame whose
  re-encoding differs from the body it was decoded from; a frame with an out-of-range field.
- payloads: decode_payload raising anything but RemoteProtocolError; a payload that decodes but does
  not re-encode to the very same bytes (two encodings of one message).
- board: any exception out of the session; a firmware handler exception (turned into NAK INTERNAL by
  the session, kept in last_exception); a state-changing command executed that was not authentic
  and fresh; an authentic fresh command not executed; a lock pulse without an executed OPEN; a
  replayed or forged frame executed; a reply that is not a valid reply frame from the board.
- host: any exception; a Result for a reply that was not authentic for the outstanding request.
"""
from protocol import messages as m
from protocol.auth import Hmac
from protocol.errors import RemoteProtocolError
from protocol.frame import (
    BROADCAST,
    FLAG_AUTH,
    FLAG_REPLY,
    MAX_ADDRESS,
    MAX_PAYLOAD,
    FrameDecoder,
    decode_wire,
    encode_body,
    encode_frame,
)
from protocol.session import HostSession

REQUEST_TYPES = sorted(t for t in m.TYPE_NAMES if m.is_request_type(t))
ALL_TYPES = REQUEST_TYPES + [m.NAK]
OTHER_KEY = bytes(range(0xA0, 0xC0))


class Reader:
    """Draw choices from fuzz bytes; once they run out every draw is 0 / empty (finite inputs)."""

    def __init__(self, data):
        self.data = bytes(data)
        self.i = 0

    def left(self):
        return len(self.data) - self.i

    def u8(self):
        if self.i >= len(self.data):
            return 0
        self.i += 1
        return self.data[self.i - 1]

    def uint(self, n):
        v = 0
        for _ in range(n):
            v = (v << 8) | self.u8()
        return v

    def pick(self, seq):
        return seq[self.u8() % len(seq)]

    def bytes(self, max_len):
        n = self.u8() % (max_len + 1)
        out = self.data[self.i:self.i + n]
        self.i += len(out)
        return out


# ---- decoder ---------------------------------------------------------------------------------------

def _summary(items):
    out = []
    for it in items:
        if it.is_error:
            out.append(("err", it.code, it.length))
        else:
            out.append(("frame", it.version, it.address, it.flags, it.seq, it.type, bytes(it.payload),
                        it.counter, it.tag))
    return out


def target_decoder(data):
    data = bytes(data)
    whole = FrameDecoder().feed(data)
    # The same bytes cut at points taken from the data itself must decode identically.
    dec = FrameDecoder()
    pieces = []
    i = 0
    step = 1
    while i < len(data):
        step = (data[i] % 7) + 1 if data else 1
        pieces.extend(dec.feed(data[i:i + step]))
        i += step
    assert _summary(whole) == _summary(pieces), "decoding depends on chunking"
    assert dec.frames + dec.errors == len(whole)
    for f in whole:
        if f.is_error:
            continue
        assert f.version == 1 and f.address <= MAX_ADDRESS and not f.flags & ~(FLAG_AUTH | FLAG_REPLY)
        assert len(f.payload) <= MAX_PAYLOAD
        assert (f.counter is not None) == bool(f.flags & FLAG_AUTH)
        # Re-encoding the accepted frame gives a wire form that decodes to the very same frame.
        wire = encode_frame(f.address, f.seq, f.type, f.payload, f.flags, f.counter, None, f.tag)
        again = decode_wire(wire)
        assert _summary(again) == _summary([f]), "re-encoded frame decodes differently"


# ---- payloads --------------------------------------------------------------------------------------

def target_payloads(data):
    r = Reader(data)
    t = r.pick(ALL_TYPES + [0x00, 0x30, 0x7E])
    is_reply = bool(r.u8() & 1)
    payload = r.data[r.i:]
    try:
        fields = m.decode_payload(t, payload, is_reply)
    except RemoteProtocolError:
        return
    again = m.encode_payload(t, fields, is_reply)
    assert again == payload, "payload %s re-encodes differently" % payload.hex()


# ---- board -----------------------------------------------------------------------------------------

class _Recorder:
    """Wraps the firmware's handler: records what ran, so the target can check who got through."""

    def __init__(self, board):
        self.board = board
        self.calls = []

    def __call__(self, msg_type, fields):
        self.calls.append(msg_type)
        try:
            return self.board.server._handle(msg_type, fields)
        finally:
            # an OPEN waits for its door; close it again so later OPENs pulse the lock afresh
            if msg_type == m.OPEN:
                self.board.close_doors()


def _parses(t, payload):
    try:
        m.decode_payload(t, payload, False)
        return True
    except RemoteProtocolError:
        return False


def _check_reply(wire, address):
    for f in decode_wire(wire):
        assert not f.is_error, "board sent a damaged frame"
        assert f.is_reply and f.address == address, "board reply has wrong flags/address"


# Payloads that reach interesting firmware paths (valid layouts) for each state-changing type; the
# fuzzer mutates their bytes. Raw fuzz bytes alone rarely parse for the longer layouts.
def _seed_payload(t, r):
    if t == m.OPEN:
        return bytes((r.u8() % 6, r.u8() % 8)) + r.uint(4).to_bytes(4, "big")
    if t == m.SET_CODE:
        return bytes((r.u8() % 6, r.u8() % 3)) + bytes(r.u8() for _ in range(24)) + r.uint(4).to_bytes(4, "big")
    if t == m.CLEAR_CODE:
        return bytes((r.u8() % 6,))
    if t == m.EVENTS_ACK:
        return (r.u8() % 40).to_bytes(4, "big")
    if t == m.EVENTS:
        return r.uint(4).to_bytes(4, "big") + bytes((r.u8(),))
    if t == m.TIME_SET:
        return r.uint(4).to_bytes(4, "big")
    if t == m.REBOOT:
        return r.uint(2).to_bytes(2, "big")
    if t in (m.CONFIG_SET, m.CONFIG_GET):
        keys = [b"left_open_s", b"door_window_ms", b"disabled", b"address", b"journal", b"x"]
        n = r.u8() % 3
        out = bytearray((n,))
        for _ in range(n):
            k = r.pick(keys)
            out += bytes((len(k),)) + k
            if t == m.CONFIG_SET:
                v = r.bytes(8)
                out += bytes((len(v),)) + v
        return bytes(out)
    return b""


def target_board(data, board_factory=None):
    from harness.fuzz_rig import ADDRESS, KEY, FuzzBoard
    r = Reader(data)
    board = (board_factory or FuzzBoard)()
    rec = _Recorder(board)
    hm = Hmac(KEY)
    last = board.session.last_counter        # the model's "last accepted counter"
    sent = []                                # authentic frames already sent (for replays)
    seq = 0
    while r.left() > 0:
        op = r.u8() % 8
        before_calls = len(rec.calls)
        before_pulses = board.pulses()
        expect = None                        # None: must not run; else the type that must run
        if op == 0:                          # raw bytes off the wire (noise, garbage, half frames)
            wire = r.bytes(80) + b"\x00"
        else:
            t = r.pick(REQUEST_TYPES) if op != 7 else r.pick([0x00, 0x30, 0x7E, m.NAK, 0xFF])
            payload = _seed_payload(t, r) if r.u8() & 1 else r.bytes(40)
            if r.u8() & 3 == 0 and payload:    # flip a payload byte (still authentic: it is signed after)
                i = r.u8() % len(payload)
                payload = payload[:i] + bytes((payload[i] ^ (r.u8() | 1),)) + payload[i + 1:]
            seq = (seq + 1) & 0xFF
            address = ADDRESS
            if op == 1 or op == 7:           # authentic, fresh counter
                counter = last + 1 + (r.u8() % 3)
                wire = encode_frame(address, seq, t, payload, 0, counter, hm)
                if m.is_request_type(t) and _parses(t, payload):
                    expect = t
                if m.is_request_type(t):
                    last = counter           # accepted (persisted) even when the payload is refused
                    sent.append(wire)
            elif op == 2:                    # unauthenticated
                wire = encode_frame(address if r.u8() & 1 else BROADCAST, seq, t, payload)
                if not m.requires_auth(t) and _parses(t, payload):
                    expect = t
            elif op == 3:                    # forged: wrong key
                wire = encode_frame(address, seq, t, payload, 0, last + 1, OTHER_KEY)
            elif op == 4:                    # forged: authentic frame, then one byte changed, CRC fixed
                body = bytearray(encode_body(address, seq, t, payload, 0, last + 1, hm))
                pos = r.u8() % (len(body) - 2)
                body[pos] ^= r.u8() | 1
                wire = _rewrap(body)
            elif op == 5 and sent:           # replay of an earlier authentic frame
                wire = sent[r.u8() % len(sent)]
            elif op == 6:                    # line noise: authentic frame with bits flipped, CRC not fixed
                orig = encode_frame(address, seq, t, payload, 0, last + 1, hm)
                wire = bytearray(orig)
                for _ in range(1 + r.u8() % 3):
                    wire[r.u8() % (len(wire) - 1)] ^= 1 << (r.u8() % 8)
                wire = bytes(wire)
                if wire == orig:             # the flips cancelled out: this is the authentic frame
                    op = 1
                    if m.is_request_type(t) and _parses(t, payload):
                        expect = t
                    if m.is_request_type(t):
                        last += 1
                        sent.append(wire)
            else:
                continue
            wire = b"\x00" + wire
        replies = board.receive(wire, rec)
        assert board.session.last_exception is None, "firmware handler raised: %r" % (board.session.last_exception,)
        ran = rec.calls[before_calls:]
        if op in (0, 3, 4, 6):
            # Garbage, forgeries and noise may at most form a valid *unauthenticated* read-only frame
            # (anyone on the bus may read; CRC-16 lets 1 in 65536 random frames through); nothing
            # state-changing may run and the replay counter must not move.
            assert all(not m.requires_auth(t) for t in ran), "op %d executed %r" % (op, ran)
            assert board.session.last_counter == last, "op %d moved the replay counter" % op
        elif expect is None:
            assert ran == [], "op %d ran %r (replayed or unauthenticated)" % (op, ran)
        else:
            assert ran == [expect], "op %d: expected %s to run, ran %r" % (op, m.type_name(expect), ran)
        if m.OPEN not in ran:
            assert board.pulses() == before_pulses, "a lock pulsed without an executed OPEN"
        for reply in replies:
            _check_reply(reply, ADDRESS)
        assert board.session.last_counter == last, "counter model diverged"


def _rewrap(body):
    """COBS-wrap a body after recomputing its CRC (what an attacker with a wire tap can do)."""
    from protocol.cobs import encode
    from protocol.crc import crc16
    b = bytes(body[:-2])
    c = crc16(b)
    return encode(b + bytes((c >> 8, c & 0xFF))) + b"\x00"


# ---- host ------------------------------------------------------------------------------------------

def target_host(data):
    from harness.fuzz_rig import ADDRESS, KEY
    r = Reader(data)
    host = HostSession(baud=115200)
    host.add_board(ADDRESS, KEY)
    hm = Hmac(KEY)
    now = 0.0
    while r.left() > 0:
        t = r.pick(REQUEST_TYPES)
        try:
            host.request(ADDRESS, t, _fields_for(t), now=now, auth=True)
        except Exception as exc:  # our own request must always build
            raise AssertionError("host could not build %s: %r" % (m.type_name(t), exc)) from exc
        req = host.outstanding
        got = []
        genuine = 0
        for _ in range(1 + r.u8() % 4):
            op = r.u8() % 6
            payload = r.bytes(40)
            rtype = r.pick([t, m.NAK, r.pick(ALL_TYPES)])
            if op == 0:
                wire = r.bytes(60) + b"\x00"
            elif op == 1:                    # authentic reply for the outstanding request
                wire = encode_frame(ADDRESS, req.seq, rtype, payload, FLAG_REPLY, req.counter, hm)
                if rtype in (t, m.NAK):
                    genuine += 1
            elif op == 2:                    # wrong key
                wire = encode_frame(ADDRESS, req.seq, rtype, payload, FLAG_REPLY, req.counter, OTHER_KEY)
            elif op == 3:                    # right key, another counter (an old reply replayed)
                other = req.counter - 1 - r.u8()
                if other < 1:
                    other = req.counter + 1 + r.u8()
                wire = encode_frame(ADDRESS, req.seq, rtype, payload, FLAG_REPLY, other, hm)
            elif op == 4:                    # untagged reply (only a pre-auth NAK may be)
                wire = encode_frame(ADDRESS, req.seq, r.pick([t, m.NAK]), payload, FLAG_REPLY)
            else:                            # wrong address / seq
                wire = encode_frame((ADDRESS % MAX_ADDRESS) + 1, (req.seq + 1) & 0xFF, rtype, payload, FLAG_REPLY,
                                    req.counter, hm)
            for res in host.receive(wire, now=now):
                got.append((op, res))
            if got:
                break
        for op, res in got:
            assert op in (1, 4) or (op == 0 and not res.authenticated), "host accepted op %d: %r" % (op, res)
            if op == 4:
                # only a pre-auth NAK may be untagged, and it is never reported as authenticated
                assert res.kind in ("nak", "bad_reply") and not res.authenticated
            if op == 0:
                assert res.kind in ("nak", "bad_reply"), "garbage accepted as a reply: %r" % (res,)
        assert len(got) <= 1 and (not genuine or got), "an authentic reply was not delivered"
        host.cancel()
        now += 1.0


def _fields_for(t):
    lay = m.LAYOUTS[t][0]
    out = {}
    for name, kind, arg in lay or ():
        if kind in (m._U8, m._U16, m._U32):
            out[name] = 1
        elif kind == m._I16:
            out[name] = 0
        elif kind == m._BYTES:
            out[name] = b"\x01" * arg
        elif kind == m._STR:
            out[name] = "x"
        elif kind in (m._BLOB, m._REST):
            out[name] = b"\x01"
        else:
            out[name] = []
    return out


# ---- firmware images -------------------------------------------------------------------------------

FLEET_KEY = bytes(range(0x10, 0x30))  # the Ed25519 signing key (seed); the verifier gets its public key
_IMAGE = []


def _image():
    if not _IMAGE:
        from firmware import update_image
        from server.firmware_delivery.build import make_manifest, pack
        files = [("main.py", b"import app\napp.run()\n"), ("firmware/app.mpy", bytes(range(256)) * 3),
                 ("firmware/empty.py", b"")]
        manifest = make_manifest(files, "1.2.3", "esp32-locker", 1)
        _IMAGE.append(pack(files, manifest, FLEET_KEY))
        _IMAGE.append(update_image)
        from firmware import ed25519
        _IMAGE.append(ed25519)
        _IMAGE.append(ed25519.public_key(FLEET_KEY))
    return _IMAGE


def target_fwimage(data):
    """A tampered image is refused with ImageError (never another exception); only the original passes.

    With the first input bit set the tampered header and manifest are signed again with the signing
    key (a buggy build, not an attacker): then any outcome but a non-ImageError exception is fine,
    which fuzzes the manifest parser behind the signature check."""
    import io
    image, update_image, ed25519, public = _image()
    r = Reader(data)
    resign = r.u8() & 1
    bad = bytearray(image)
    for _ in range(1 + r.u8() % 4):
        op = r.u8() % 5
        if op == 0 and bad:
            bad[r.uint(2) % len(bad)] ^= r.u8() or 1
        elif op == 1:
            del bad[r.uint(2) % (len(bad) + 1):]
        elif op == 2:
            bad += r.bytes(32)
        elif op == 3 and bad:
            at = r.uint(2) % len(bad)
            chunk = r.bytes(16)
            bad[at:at + len(chunk)] = chunk
        elif op == 4 and bad:
            at = r.uint(2) % len(bad)
            bad[at:at] = r.bytes(16)
    bad = bytes(bad)
    if resign and len(bad) >= update_image.HEADER_SIZE:
        mlen = int.from_bytes(bad[8:12], "big")
        end = update_image.HEADER_SIZE + mlen
        if end <= len(bad):
            sig = ed25519.sign(FLEET_KEY, update_image.signed_digest(bad[:end]))
            bad = bad[:end] + sig + bad[end + update_image.SIG_SIZE:]
    try:
        manifest = update_image.verify_image(io.BytesIO(bad), len(bad), [public])
    except update_image.ImageError:
        return
    assert resign or bad == image, "a tampered image was accepted: %r" % (manifest,)


TARGETS = {
    "decoder": target_decoder,
    "payloads": target_payloads,
    "board": target_board,
    "host": target_host,
    "update_image": target_fwimage,
}

