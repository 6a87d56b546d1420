"""SHA-512 (FIPS 180-4) for Ed25519 on MicroPython, whose hashlib has sha256 but no sha512.

`sha512(data)` returns the 64-byte digest: CPython's hashlib when it has one, else the pure-Python
compression below (Python ints as 64-bit words, masked). Ed25519 verification of a firmware image
hashes one 128-byte block (signature R, public key, 32-byte image digest), so speed hardly matters;
the round constants are bytes literals, checked by the tests against their definition (cube and
square roots of the first primes). Tests: tests/portable/test_signing_sha512.py.
"""
try:
    import hashlib
    _native = getattr(hashlib, "sha512", None)
except ImportError:  # pragma: no cover
    _native = None

_M = 0xFFFFFFFFFFFFFFFF
# The round constants and the initial hash as 8-byte big-endian words in bytes literals: frozen into a
# board's flash they take no heap at all (from a .mpy, 704 bytes), and each is read when a round uses it.
# They are the first 64 bits of the fractional parts of the cube roots of the first 80 primes and of the
# square roots of the first 8 (FIPS 180-4 4.2.3, 5.3.5); tests/portable/test_signing_sha512.py derives them
# from that definition and compares. (Deriving them on the board instead took 160 KB of short-lived ints
# in the middle of the first verification after boot.)
_K = (  # 80 round constants
    b"\x42\x8a\x2f\x98\xd7\x28\xae\x22\x71\x37\x44\x91\x23\xef\x65\xcd\xb5\xc0\xfb\xcf\xec\x4d\x3b\x2f"
    b"\xe9\xb5\xdb\xa5\x81\x89\xdb\xbc\x39\x56\xc2\x5b\xf3\x48\xb5\x38\x59\xf1\x11\xf1\xb6\x05\xd0\x19"
    b"\x92\x3f\x82\xa4\xaf\x19\x4f\x9b\xab\x1c\x5e\xd5\xda\x6d\x81\x18\xd8\x07\xaa\x98\xa3\x03\x02\x42"
    b"\x12\x83\x5b\x01\x45\x70\x6f\xbe\x24\x31\x85\xbe\x4e\xe4\xb2\x8c\x55\x0c\x7d\xc3\xd5\xff\xb4\xe2"
    b"\x72\xbe\x5d\x74\xf2\x7b\x89\x6f\x80\xde\xb1\xfe\x3b\x16\x96\xb1\x9b\xdc\x06\xa7\x25\xc7\x12\x35"
    b"\xc1\x9b\xf1\x74\xcf\x69\x26\x94\xe4\x9b\x69\xc1\x9e\xf1\x4a\xd2\xef\xbe\x47\x86\x38\x4f\x25\xe3"
    b"\x0f\xc1\x9d\xc6\x8b\x8c\xd5\xb5\x24\x0c\xa1\xcc\x77\xac\x9c\x65\x2d\xe9\x2c\x6f\x59\x2b\x02\x75"
    b"\x4a\x74\x84\xaa\x6e\xa6\xe4\x83\x5c\xb0\xa9\xdc\xbd\x41\xfb\xd4\x76\xf9\x88\xda\x83\x11\x53\xb5"
    b"\x98\x3e\x51\x52\xee\x66\xdf\xab\xa8\x31\xc6\x6d\x2d\xb4\x32\x10\xb0\x03\x27\xc8\x98\xfb\x21\x3f"
    b"\xbf\x59\x7f\xc7\xbe\xef\x0e\xe4\xc6\xe0\x0b\xf3\x3d\xa8\x8f\xc2\xd5\xa7\x91\x47\x93\x0a\xa7\x25"
    b"\x06\xca\x63\x51\xe0\x03\x82\x6f\x14\x29\x29\x67\x0a\x0e\x6e\x70\x27\xb7\x0a\x85\x46\xd2\x2f\xfc"
    b"\x2e\x1b\x21\x38\x5c\x26\xc9\x26\x4d\x2c\x6d\xfc\x5a\xc4\x2a\xed\x53\x38\x0d\x13\x9d\x95\xb3\xdf"
    b"\x65\x0a\x73\x54\x8b\xaf\x63\xde\x76\x6a\x0a\xbb\x3c\x77\xb2\xa8\x81\xc2\xc9\x2e\x47\xed\xae\xe6"
    b"\x92\x72\x2c\x85\x14\x82\x35\x3b\xa2\xbf\xe8\xa1\x4c\xf1\x03\x64\xa8\x1a\x66\x4b\xbc\x42\x30\x01"
    b"\xc2\x4b\x8b\x70\xd0\xf8\x97\x91\xc7\x6c\x51\xa3\x06\x54\xbe\x30\xd1\x92\xe8\x19\xd6\xef\x52\x18"
    b"\xd6\x99\x06\x24\x55\x65\xa9\x10\xf4\x0e\x35\x85\x57\x71\x20\x2a\x10\x6a\xa0\x70\x32\xbb\xd1\xb8"
    b"\x19\xa4\xc1\x16\xb8\xd2\xd0\xc8\x1e\x37\x6c\x08\x51\x41\xab\x53\x27\x48\x77\x4c\xdf\x8e\xeb\x99"
    b"\x34\xb0\xbc\xb5\xe1\x9b\x48\xa8\x39\x1c\x0c\xb3\xc5\xc9\x5a\x63\x4e\xd8\xaa\x4a\xe3\x41\x8a\xcb"
    b"\x5b\x9c\xca\x4f\x77\x63\xe3\x73\x68\x2e\x6f\xf3\xd6\xb2\xb8\xa3\x74\x8f\x82\xee\x5d\xef\xb2\xfc"
    b"\x78\xa5\x63\x6f\x43\x17\x2f\x60\x84\xc8\x78\x14\xa1\xf0\xab\x72\x8c\xc7\x02\x08\x1a\x64\x39\xec"
    b"\x90\xbe\xff\xfa\x23\x63\x1e\x28\xa4\x50\x6c\xeb\xde\x82\xbd\xe9\xbe\xf9\xa3\xf7\xb2\xc6\x79\x15"
    b"\xc6\x71\x78\xf2\xe3\x72\x53\x2b\xca\x27\x3e\xce\xea\x26\x61\x9c\xd1\x86\xb8\xc7\x21\xc0\xc2\x07"
    b"\xea\xda\x7d\xd6\xcd\xe0\xeb\x1e\xf5\x7d\x4f\x7f\xee\x6e\xd1\x78\x06\xf0\x67\xaa\x72\x17\x6f\xba"
    b"\x0a\x63\x7d\xc5\xa2\xc8\x98\xa6\x11\x3f\x98\x04\xbe\xf9\x0d\xae\x1b\x71\x0b\x35\x13\x1c\x47\x1b"
    b"\x28\xdb\x77\xf5\x23\x04\x7d\x84\x32\xca\xab\x7b\x40\xc7\x24\x93\x3c\x9e\xbe\x0a\x15\xc9\xbe\xbc"
    b"\x43\x1d\x67\xc4\x9c\x10\x0d\x4c\x4c\xc5\xd4\xbe\xcb\x3e\x42\xb6\x59\x7f\x29\x9c\xfc\x65\x7e\x2a"
    b"\x5f\xcb\x6f\xab\x3a\xd6\xfa\xec\x6c\x44\x19\x8c\x4a\x47\x58\x17")
_H0 = (  # initial hash value
    b"\x6a\x09\xe6\x67\xf3\xbc\xc9\x08\xbb\x67\xae\x85\x84\xca\xa7\x3b\x3c\x6e\xf3\x72\xfe\x94\xf8\x2b"
    b"\xa5\x4f\xf5\x3a\x5f\x1d\x36\xf1\x51\x0e\x52\x7f\xad\xe6\x82\xd1\x9b\x05\x68\x8c\x2b\x3e\x6c\x1f"
    b"\x1f\x83\xd9\xab\xfb\x41\xbd\x6b\x5b\xe0\xcd\x19\x13\x7e\x21\x79")


def _compress_steps(h, block):
    """Generator: one compression of a 128-byte block into the list h (in place), yielding every 8 rounds
    (ten units per block), so a caller can split the work and a board feed its watchdog.

    Each unit allocates a few kilobytes of short-lived ints (64-bit words are heap ints on a 32-bit
    board): the message schedule is computed round by round into a ring of 16 words instead of all 80
    up front, and a rotation is a shift of the word doubled into 128 bits (x | x << 64), so a sigma is
    three shifts and two xors. Bits above 64 are left in the sigmas: only additions read them, and every
    sum is masked before it becomes a word."""
    w = [int.from_bytes(block[i:i + 8], "big") for i in range(0, 128, 8)]
    a, b, c, d, e, f, g, hh = h
    k = memoryview(_K)
    for t in range(80):
        j = t & 15
        if t >= 16:
            x = w[(t - 15) & 15]
            y = w[(t - 2) & 15]
            x2 = x | x << 64
            y2 = y | y << 64
            w[j] = (w[j] + ((x2 >> 1) ^ (x2 >> 8) ^ (x >> 7)) + w[(t - 7) & 15]
                    + ((y2 >> 19) ^ (y2 >> 61) ^ (y >> 6))) & _M
        e2 = e | e << 64
        t1 = (hh + ((e2 >> 14) ^ (e2 >> 18) ^ (e2 >> 41)) + (g ^ (e & (f ^ g)))
              + int.from_bytes(k[8 * t:8 * t + 8], "big") + w[j])
        a2 = a | a << 64
        t2 = ((a2 >> 28) ^ (a2 >> 34) ^ (a2 >> 39)) + ((a & b) | (c & (a | b)))
        hh = g
        g = f
        f = e
        e = (d + t1) & _M
        d = c
        c = b
        b = a
        a = (t1 + t2) & _M
        if t & 7 == 7:
            yield
    out = (a, b, c, d, e, f, g, hh)
    for i in range(8):
        h[i] = (h[i] + out[i]) & _M


def sha512_steps(data, out, pure=False):
    """Generator: appends SHA-512(data) to the list `out`, yielding between units of work (none when
    hashlib's is used)."""
    if _native is not None and not pure:
        out.append(_native(data).digest())
        return
    data = bytes(data)
    n = len(data)
    full = n - n % 128
    tail = data[full:] + b"\x80" + bytes((111 - n) % 128) + (n * 8).to_bytes(16, "big")
    h = [int.from_bytes(_H0[i:i + 8], "big") for i in range(0, 64, 8)]
    for i in range(0, full, 128):
        yield from _compress_steps(h, data[i:i + 128])
    for i in range(0, len(tail), 128):
        yield from _compress_steps(h, tail[i:i + 128])
    out.append(b"".join(x.to_bytes(8, "big") for x in h))


def _run(gen):
    for _ in gen:
        pass


def sha512_pure(data):
    out = []
    _run(sha512_steps(data, out, pure=True))
    return out[0]


def sha512(data):
    if _native is not None:
        return _native(data).digest()
    return sha512_pure(data)
