"""HMAC-SHA256 (RFC 2104) on hashlib.sha256 alone, since MicroPython ports may lack `hmac`.

A frame's tag is the first TAG_LEN bytes of HMAC-SHA256(key, version..payload || counter), where
counter is the 4-byte big-endian field that follows the payload on the wire.
"""
import hashlib

from protocol._compat import const

TAG_LEN = const(8)
COUNTER_LEN = const(4)
_BLOCK = const(64)


def _pads(key):
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        k = key[i] if i < len(key) else 0
        ipad[i] = k ^ 0x36
        opad[i] = k ^ 0x5C
    return bytes(ipad), bytes(opad)


class Hmac:
    """A key prepared once (its inner and outer pads), reused for every frame of one board."""

    def __init__(self, key):
        if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
            from protocol.errors import LocalProtocolError
            raise LocalProtocolError("auth key must be bytes of at least 16 bytes")
        self._ipad, self._opad = _pads(bytes(key))

    def digest(self, msg):
        inner = hashlib.sha256(self._ipad)
        inner.update(msg)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()

    def tag(self, signed):
        return self.digest(signed)[:TAG_LEN]


def hmac_sha256(key, msg):
    """Full 32-byte HMAC-SHA256 of msg under key (any key length, as RFC 2104)."""
    ipad, opad = _pads(bytes(key))
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


def counter_bytes(counter):
    return bytes(((counter >> 24) & 0xFF, (counter >> 16) & 0xFF, (counter >> 8) & 0xFF, counter & 0xFF))


def make_tag(key, body, counter):
    """Tag for `body` (version..payload bytes) with `counter`. key: bytes or a prepared Hmac."""
    h = key if isinstance(key, Hmac) else None
    msg = bytes(body) + counter_bytes(counter)
    if h is not None:
        return h.tag(msg)
    return hmac_sha256(key, msg)[:TAG_LEN]


def equal(a, b):
    """Constant-time comparison (time depends on the length only, never on where bytes differ)."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def verify(key, body, counter, tag):
    """True if `tag` is the right tag for body+counter under key (constant-time compare)."""
    return equal(make_tag(key, body, counter), tag)


def code_hash(salt, code):
    """The 16-byte hash a SET_CODE carries: sha256(salt || code as ASCII)[:16]."""
    if isinstance(code, str):
        code = code.encode()
    h = hashlib.sha256(bytes(salt))
    h.update(code)
    return h.digest()[:16]
