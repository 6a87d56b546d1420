"""Frames: the body layout, its COBS wire form, and a streaming decoder that never allocates per byte.

Body (before COBS):
    version(1) address(1) flags(1) seq(1) type(1) payload(N) [counter(4) tag(8) if AUTH] crc(2)
The CRC (CRC-16/CCITT-FALSE, big-endian) covers every body byte before it. On the wire the body is
COBS-encoded and followed by one 0x00 delimiter.
"""
from binascii import hexlify

from protocol import PROTOCOL_VERSION
from protocol._compat import const
from protocol.auth import COUNTER_LEN, TAG_LEN, counter_bytes, make_tag
from protocol.cobs import encode as cobs_encode
from protocol.cobs import max_encoded_len
from protocol.crc import crc16
from protocol.errors import LocalProtocolError

HEADER_LEN = const(5)
CRC_LEN = const(2)
AUTH_LEN = const(12)            # counter(4) + tag(8)
MAX_BODY = const(256)           # largest body a decoder must accept
MAX_PAYLOAD = const(237)        # MAX_BODY - HEADER_LEN - AUTH_LEN - CRC_LEN
MIN_BODY = const(7)             # header + crc, empty payload, no auth
MAX_WIRE = max_encoded_len(MAX_BODY) + 1  # 259: COBS body + delimiter

BROADCAST = const(0)
MAX_ADDRESS = const(247)

FLAG_REPLY = const(0x01)        # sent by a board in answer to a request
FLAG_AUTH = const(0x02)         # counter and tag present
FLAGS_KNOWN = const(0x03)       # any other bit set: frame rejected (BAD_FLAGS)

# Frame-level errors reported by the decoder (no NAK is ever sent for these: the address of a
# damaged frame cannot be trusted).
ERR_BAD_CRC = const(1)
ERR_TRUNCATED = const(2)
ERR_OVERSIZE = const(3)
ERR_BAD_VERSION = const(4)
ERR_BAD_FLAGS = const(5)
ERR_BAD_ADDRESS = const(6)
ERR_BAD_COUNTER = const(7)      # AUTH set with counter 0: no sender may use it (1..2**32-1)

ERROR_NAMES = {
    ERR_BAD_CRC: "BAD_CRC",
    ERR_TRUNCATED: "TRUNCATED",
    ERR_OVERSIZE: "OVERSIZE",
    ERR_BAD_VERSION: "BAD_VERSION",
    ERR_BAD_FLAGS: "BAD_FLAGS",
    ERR_BAD_ADDRESS: "BAD_ADDRESS",
    ERR_BAD_COUNTER: "BAD_COUNTER",
}


class Frame:
    """One decoded (or to-be-encoded) frame. payload/tag are bytes; counter/tag are None without AUTH."""

    is_error = False

    def __init__(self, address, seq, msg_type, payload=b"", flags=0, counter=None, tag=None,
                 version=PROTOCOL_VERSION):
        self.version = version
        self.address = address
        self.flags = flags
        self.seq = seq
        self.type = msg_type
        self.payload = payload
        self.counter = counter
        self.tag = tag

    @property
    def is_reply(self):
        return bool(self.flags & FLAG_REPLY)

    @property
    def is_auth(self):
        return bool(self.flags & FLAG_AUTH)

    def signed_bytes(self):
        """The bytes the tag covers: version..payload followed by the counter."""
        return header_bytes(self.version, self.address, self.flags, self.seq, self.type) + \
            bytes(self.payload) + counter_bytes(self.counter or 0)

    def encode(self, key=None):
        return encode_frame(self.address, self.seq, self.type, self.payload, self.flags,
                            self.counter, key, self.tag, self.version)

    def __repr__(self):
        return "Frame(addr=%d seq=%d type=0x%02x flags=0x%02x payload=%s counter=%r)" % (
            self.address, self.seq, self.type, self.flags, _hex(self.payload), self.counter)


class FrameError:
    """A frame the decoder had to drop. `code` is one of ERR_*; `length` the body bytes seen."""

    is_error = True

    def __init__(self, code, length):
        self.code = code
        self.length = length

    @property
    def name(self):
        return ERROR_NAMES.get(self.code, "ERR_%d" % self.code)

    def __repr__(self):
        return "FrameError(%s, length=%d)" % (self.name, self.length)


def _hex(b):
    return hexlify(bytes(b)).decode()


def header_bytes(version, address, flags, seq, msg_type):
    return bytes((version, address, flags, seq, msg_type))


def _check_u8(name, v, lo=0, hi=255):
    if not isinstance(v, int) or v < lo or v > hi:
        raise LocalProtocolError("%s must be an int in %d..%d, got %r" % (name, lo, hi, v))


def encode_body(address, seq, msg_type, payload=b"", flags=0, counter=None, key=None, tag=None,
                version=PROTOCOL_VERSION):
    """The body (with CRC, before COBS). With `key` (bytes or auth.Hmac) the AUTH flag is set and the
    tag computed over the body and `counter`; `tag` given explicitly is used as is (test vectors)."""
    _check_u8("address", address)
    _check_u8("seq", seq)
    _check_u8("type", msg_type)
    _check_u8("flags", flags)
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise LocalProtocolError("payload of %d bytes exceeds MAX_PAYLOAD %d" % (len(payload), MAX_PAYLOAD))
    if key is not None or tag is not None:
        flags |= FLAG_AUTH
    auth = flags & FLAG_AUTH
    if auth:
        if not isinstance(counter, int) or counter < 1 or counter > 0xFFFFFFFF:
            raise LocalProtocolError("an AUTH frame needs a counter in 1..2**32-1, got %r" % (counter,))
        if tag is None:
            if key is None:
                raise LocalProtocolError("an AUTH frame needs a key or a tag")
            tag = make_tag(key, header_bytes(version, address, flags, seq, msg_type) + payload, counter)
        if len(tag) != TAG_LEN:
            raise LocalProtocolError("tag must be %d bytes" % TAG_LEN)
    body = bytearray(header_bytes(version, address, flags, seq, msg_type))
    body.extend(payload)
    if auth:
        body.extend(counter_bytes(counter))
        body.extend(tag)
    c = crc16(body)
    body.append(c >> 8)
    body.append(c & 0xFF)
    return bytes(body)


def encode_frame(address, seq, msg_type, payload=b"", flags=0, counter=None, key=None, tag=None,
                 version=PROTOCOL_VERSION):
    """Bytes ready for the wire: COBS(body) + 0x00."""
    return cobs_encode(encode_body(address, seq, msg_type, payload, flags, counter, key, tag, version)) + b"\x00"


def parse_body(buf, n):
    """Check and split the body held in buf[0:n]. Returns a Frame or a FrameError; never raises."""
    if n < MIN_BODY:
        return FrameError(ERR_TRUNCATED, n)
    mv = memoryview(buf)
    if crc16(mv[:n - CRC_LEN]) != ((buf[n - 2] << 8) | buf[n - 1]):
        return FrameError(ERR_BAD_CRC, n)
    if buf[0] != PROTOCOL_VERSION:
        return FrameError(ERR_BAD_VERSION, n)
    flags = buf[2]
    if flags & ~FLAGS_KNOWN:
        return FrameError(ERR_BAD_FLAGS, n)
    if buf[1] > MAX_ADDRESS:
        return FrameError(ERR_BAD_ADDRESS, n)
    end = n - CRC_LEN
    counter = None
    tag = None
    if flags & FLAG_AUTH:
        if n < MIN_BODY + AUTH_LEN:
            return FrameError(ERR_TRUNCATED, n)
        end -= AUTH_LEN
        counter = (buf[end] << 24) | (buf[end + 1] << 16) | (buf[end + 2] << 8) | buf[end + 3]
        if counter == 0:
            return FrameError(ERR_BAD_COUNTER, n)
        tag = bytes(mv[end + COUNTER_LEN:end + AUTH_LEN])
    if end - HEADER_LEN > MAX_PAYLOAD:
        return FrameError(ERR_OVERSIZE, n)
    return Frame(buf[1], buf[3], buf[4], bytes(mv[HEADER_LEN:end]), flags, counter, tag, buf[0])


_NOTHING = ()


class FrameDecoder:
    """Streaming decoder: feed() any chunk of wire bytes, get back the frames/errors it completed.

    COBS is undone byte by byte into one bytearray allocated here, so feeding bytes allocates
    nothing until a frame completes (then only the Frame object and its payload). A 0x00 always ends
    the current frame, which is how the decoder resynchronises after noise or a cut-off frame.
    Counters: frames, errors, dropped_bytes (bytes discarded in bad frames).
    """

    def __init__(self, max_size=MAX_BODY):
        self._buf = bytearray(max_size)
        self._max = max_size
        self._n = 0          # body bytes decoded so far
        self._left = 0       # data bytes still expected in the current COBS block
        self._code = 0xFF    # code of the current block (0xFF: no implied zero follows it)
        self._started = False
        self._overflow = False
        self.frames = 0
        self.errors = 0
        self.dropped_bytes = 0

    def reset(self):
        """Forget a partial frame (e.g. after the transport was reopened)."""
        self._n = 0
        self._left = 0
        self._code = 0xFF
        self._started = False
        self._overflow = False

    def feed(self, data):
        """Decode `data`; returns a list of Frame/FrameError in arrival order (an empty tuple if none).

        data: bytes, bytearray or memoryview; None (what a UART read returns when idle) is no data.
        """
        out = _NOTHING
        if data is None:
            return out
        buf = self._buf
        size = self._max
        n = self._n
        left = self._left
        code = self._code
        for b in data:
            if b == 0:
                if self._started:
                    if out is _NOTHING:
                        out = []
                    if self._overflow:
                        item = FrameError(ERR_OVERSIZE, n)
                    elif left:
                        item = FrameError(ERR_TRUNCATED, n)
                    else:
                        item = parse_body(buf, n)
                    if item.is_error:
                        self.errors += 1
                        self.dropped_bytes += n
                    else:
                        self.frames += 1
                    out.append(item)
                n = 0
                left = 0
                code = 0xFF
                self._started = False
                self._overflow = False
                continue
            self._started = True
            if self._overflow:
                continue
            if left == 0:
                # b is a COBS code byte; the block before it implies a zero unless it was full.
                if code != 0xFF:
                    if n >= size:
                        self._overflow = True
                        continue
                    buf[n] = 0
                    n += 1
                code = b
                left = b - 1
            else:
                if n >= size:
                    self._overflow = True
                    continue
                buf[n] = b
                n += 1
                left -= 1
        self._n = n
        self._left = left
        self._code = code
        return out


def decode_wire(data, max_size=MAX_BODY):
    """Decode a complete byte string with a fresh decoder (tests, tools)."""
    return FrameDecoder(max_size).feed(data)
