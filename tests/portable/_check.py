"""Helpers shared by the portable protocol tests (CPython under pytest, and MicroPython).

Finds repository files the same way on both runtimes: from this file's own path, which is
<root>/tests/portable/_check.py on CPython and /tests/portable/_check.py in the MicroPython runner.
"""
import json
from binascii import hexlify, unhexlify


def repo_path(rel):
    here = __file__.replace("\\", "/")
    root = here.rsplit("/", 3)[0] if here.count("/") >= 3 else ""
    return root + "/" + rel


_vectors = None


def vectors():
    """protocol/test_vectors.json, parsed once."""
    global _vectors
    if _vectors is None:
        with open(repo_path("protocol/test_vectors.json")) as f:
            _vectors = json.load(f)
    return _vectors


def h(s):
    """bytes from a hex string."""
    return unhexlify(s)


def hx(b):
    return hexlify(bytes(b)).decode()


def to_json(v):
    """Decoded fields -> the JSON form used in the vectors (bytes become "hex:..")."""
    if isinstance(v, (bytes, bytearray)):
        return "hex:" + hx(v)
    if isinstance(v, dict):
        d = {}
        for k in v:
            d[k] = to_json(v[k])
        return d
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


def from_json(v):
    if isinstance(v, str) and v.startswith("hex:"):
        return unhexlify(v[4:])
    if isinstance(v, dict):
        d = {}
        for k in v:
            d[k] = from_json(v[k])
        return d
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


def raises(exc_type, fn, *args):
    """Call fn(*args); return the exception if it is an exc_type, fail otherwise."""
    try:
        fn(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised by %r" % (exc_type.__name__, fn))


class Rng:
    """A tiny deterministic PRNG (xorshift32) so both runtimes see the same 'random' data."""

    def __init__(self, seed=0x12345678):
        self.s = seed or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s

    def randbytes(self, n):
        return bytes([self.next() & 0xFF for _ in range(n)])

    def below(self, n):
        return self.next() % n
