"""Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so 0x00 can delimit frames.

An encoded frame of n bytes is at most n + ceil(n / 254) bytes (plus the 0x00 delimiter on the wire).
The streaming decoder used on the wire lives in frame.FrameDecoder; these whole-buffer functions
serve encoding and tests.
"""
from protocol.errors import NAK_BAD_PAYLOAD, RemoteProtocolError


def max_encoded_len(n):
    return n + (n + 253) // 254 if n else 1


def encode(data):
    """COBS-encode `data`; the result contains no 0x00 byte (the delimiter is not appended)."""
    n = len(data)
    out = bytearray(max_encoded_len(n))
    code_at = 0
    code = 1
    o = 1
    for i in range(n):
        b = data[i]
        if b:
            out[o] = b
            o += 1
            code += 1
            if code == 0xFF and i + 1 < n:
                # A full block: close it; a following block starts here (no implied zero).
                out[code_at] = code
                code_at = o
                o += 1
                code = 1
        else:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
    out[code_at] = code
    return bytes(out[:o])


def decode(data):
    """Decode one COBS block (without its delimiter). Raises RemoteProtocolError if malformed."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise RemoteProtocolError("COBS: zero byte inside a frame", NAK_BAD_PAYLOAD)
        end = i + code
        if end > n:
            raise RemoteProtocolError("COBS: block runs past the end of the frame", NAK_BAD_PAYLOAD)
        for j in range(i + 1, end):
            b = data[j]
            if b == 0:
                raise RemoteProtocolError("COBS: zero byte inside a frame", NAK_BAD_PAYLOAD)
            out.append(b)
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)
