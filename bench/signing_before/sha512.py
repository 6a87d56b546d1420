"""SHA-512 (FIPS 180-4) for Ed25519 on MicroPython, whose hashlib has sha256 but no sha512.

`sha512(data)` returns the 64-byte digest: CPython's hashlib when it has one, else the pure-Python
compression below (Python ints as 64-bit words, masked). Ed25519 verification of a firmware image
hashes one 128-byte block (signature R, public key, 32-byte image digest), so speed hardly matters;
the round constants are derived at first use from their definition (cube and square roots of the
first primes) instead of being copied in as 88 literals. Tests: tests/portable/test_signing_sha512.py.
"""
try:
    import hashlib
    _native = getattr(hashlib, "sha512", None)
except ImportError:  # pragma: no cover
    _native = None

_M = 0xFFFFFFFFFFFFFFFF
_K = []   # 80 round constants: first 64 bits of the fractional parts of the cube roots of the first 80 primes
_H0 = []  # initial hash: the same from the square roots of the first 8 primes


def _root(n, k):
    """floor(n ** (1/k)) for k in (2, 3), by Newton's method from above."""
    x = 1 << ((len("%x" % n) * 4 + k - 1) // k)  # above the root (MicroPython ints lack bit_length)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _constants():
    primes = []
    n = 2
    while len(primes) < 80:
        for q in primes:
            if q * q > n:
                primes.append(n)
                break
            if n % q == 0:
                break
        else:
            primes.append(n)
        n += 1
    for p in primes:
        _K.append(_root(p << 192, 3) & _M)
    for p in primes[:8]:
        _H0.append(_root(p << 128, 2) & _M)


def _compress_steps(h, block):
    """Generator: one compression of a 128-byte block into the list h (in place), yielding after the message
    schedule and every 16 rounds, so a caller can split the work (and a board feed its watchdog)."""
    w = [int.from_bytes(block[i:i + 8], "big") for i in range(0, 128, 8)]
    for t in range(16, 80):
        x = w[t - 15]
        y = w[t - 2]
        s0 = (x >> 1 | x << 63) ^ (x >> 8 | x << 56) ^ (x >> 7)
        s1 = (y >> 19 | y << 45) ^ (y >> 61 | y << 3) ^ (y >> 6)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & _M)
    yield
    a, b, c, d, e, f, g, hh = h
    k = _K
    for t in range(80):
        s1 = (e >> 14 | e << 50) ^ (e >> 18 | e << 46) ^ (e >> 41 | e << 23)
        t1 = hh + (s1 & _M) + (g ^ (e & (f ^ g))) + k[t] + w[t]
        s0 = (a >> 28 | a << 36) ^ (a >> 34 | a << 30) ^ (a >> 39 | a << 25)
        t2 = (s0 & _M) + ((a & b) | (c & (a | b)))
        hh = g
        g = f
        f = e
        e = (d + t1) & _M
        d = c
        c = b
        b = a
        a = (t1 + t2) & _M
        if t % 16 == 15:
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
    if not _K:
        _constants()
    data = bytes(data)
    n = len(data)
    full = n - n % 128
    tail = data[full:] + b"\x80" + bytes((111 - n) % 128) + (n * 8).to_bytes(16, "big")
    h = list(_H0)
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
