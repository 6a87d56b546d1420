"""Ed25519 signatures (RFC 8032) in pure Python: verification on the boards, signing on the host.

Written for MicroPython 1.27 (arbitrary-precision ints, `pow(a, b, m)`, no hashlib.sha512: see
sha512.py) and CPython alike. Points are kept in extended coordinates (X, Y, Z, T), x = X/Z,
y = Y/Z, xy = T/Z, with the complete addition and doubling formulas of RFC 8032 5.1.4; scalars are
taken as signed 4-bit digits (-8..7) against tables of 1..8 times the point, a negative digit adding
the negated entry (the same formula with two of its coordinates swapped), so each table holds 8 points
rather than 15 (about 2.3 KB each on a 32-bit board).

Verification is strict where RFC 8032 lets it be: S must be below L, the public key must decode
(canonical y < p, a point on the curve, no negative zero), and R is compared by its encoding, so a
non-canonical R never matches; the check is cofactorless, [S]B == R + [k]A. `verify_steps` yields
between units of work (at most about 10 KB of short-lived ints each, mostly 3 KB) so a board can feed its watchdog.

Signing is not constant-time: it belongs on a maintainer's build machine, never on a board (a board
holds only public keys, so this code there can sign nothing).
"""
try:
    from firmware.sha512 import sha512, sha512_steps
except ImportError:  # copied flat onto a board's root for recovery tools
    from sha512 import sha512, sha512_steps

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493  # order of the base point
D = -121665 * pow(121666, P - 2, P) % P
D2 = 2 * D % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENT = (0, 1, 1, 0)


def _recover_x(y, sign):
    """x with the given sign bit for this y (RFC 8032 5.1.3), or None when y is not on the curve."""
    yy = y * y
    u = (yy - 1) % P
    v = (D * yy + 1) % P
    v3 = v * v % P * v % P
    x = u * v3 % P * pow(u * v3 % P * v3 % P * v % P, (P - 5) // 8, P) % P
    vxx = v * x % P * x % P
    if vxx != u:
        if vxx != P - u:
            return None
        x = x * SQRT_M1 % P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def decode_point(s):
    """32 bytes -> extended point, or None for an encoding that is not a point (or not canonical)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def encode_point(pt):
    x, y, z, _t = pt
    zi = pow(z, P - 2, P)
    x = x * zi % P
    y = y * zi % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


_BY = 4 * pow(5, P - 2, P) % P
_BX = _recover_x(_BY, 0)
B = (_BX, _BY, 1, _BX * _BY % P)


def _double(pt, with_t):
    x1, y1, z1, _t = pt
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    s = x1 + y1
    e = h - s * s % P
    g = a - b
    f = c + g
    # T is needed only by an addition; a doubling that is followed by another doubling skips it
    return (e * f % P, g * h % P, f * g % P, e * h % P if with_t else 0)


def _cached(pt):
    """A table entry: (Y+X, Y-X, 2Z, 2dT), what an addition needs of its second point."""
    x, y, z, t = pt
    return ((y + x) % P, (y - x) % P, 2 * z % P, t * D2 % P)


def _add(pt, c, neg=False):
    """pt + the cached entry c, or pt - c when neg: -(X, Y, Z, T) is (-X, Y, Z, -T), whose cached form
    is c with Y+X and Y-X swapped and 2dT negated (the negation moves into f and g below)."""
    x1, y1, z1, t1 = pt
    ypx, ymx, z2, t2d = c
    if neg:
        ypx, ymx = ymx, ypx
    a = (y1 - x1) * ymx % P
    b = (y1 + x1) * ypx % P
    cc = t1 * t2d % P
    d = z1 * z2 % P
    e = b - a
    if neg:
        f = d + cc
        g = d - cc
    else:
        f = d - cc
        g = d + cc
    h = b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


TABLE = 8  # entries 1..8 times the point: what signed 4-bit digits need


def _table_steps(pt, table):
    """Generator: fills `table` with [None, 1pt, 2pt, ..., 8pt] as cached entries, yielding every 2."""
    first = _cached(pt)
    table.append(None)
    table.append(first)
    acc = pt
    for i in range(TABLE - 1):
        acc = _add(acc, first)
        table.append(_cached(acc))
        if i & 1:
            yield


def _table(pt):
    table = []
    _run(_table_steps(pt, table))
    return table


DIGITS = 65  # signed 4-bit digits of a number below 2**256 (the top one is the last carry, 0 or 1)


def _digits(n):
    """n (0 <= n < 2**256) as 65 signed 4-bit digits d[i] in -8..7, sum d[i] * 16**i == n, least
    significant first, stored as d + 8 in a bytearray (no big int is made on the way)."""
    if n < 0 or n >> 256:
        raise ValueError("scalar out of range")
    raw = n.to_bytes(32, "little")
    out = bytearray(DIGITS)
    carry = 0
    for i in range(64):
        d = ((raw[i >> 1] >> ((i & 1) << 2)) & 15) + carry
        carry = 1 if d >= 8 else 0
        out[i] = d - (carry << 4) + 8
    out[64] = carry + 8
    return out


def _combine(terms):
    """Generator: the sum of n * point over terms [(n, table)] for 0 <= n < 2**256, a signed 4-bit digit
    at a time from the top; yields None after every two doublings and every addition (about 3 KB of
    short-lived ints each on a 32-bit board), then the resulting point."""
    terms = [(_digits(n), table) for n, table in terms]
    acc = IDENT
    started = False
    for i in range(DIGITS - 1, -1, -1):
        if started:
            acc = _double(acc, False)
            acc = _double(acc, False)
            yield None
            acc = _double(acc, False)
            acc = _double(acc, True)
            yield None
        for digits, table in terms:
            j = digits[i] - 8
            if j:
                acc = _add(acc, table[j] if j > 0 else table[-j], j < 0)
                started = True
                yield None
    yield acc


def _run(gen):
    last = None
    for step in gen:
        last = step
    return last


def _scalar(digest64):
    return int.from_bytes(digest64, "little") % L


def verify_steps(public, msg, sig):
    """Generator checking an Ed25519 signature: yields None between units of work, and finally True or
    False."""
    public = bytes(public)
    sig = bytes(sig)
    if len(sig) != 64:
        yield False
        return
    a = decode_point(public)
    if a is None:
        yield False
        return
    s = int.from_bytes(sig[32:], "little")
    if s >= L:  # non-canonical S: refused, so a signature cannot be made a second valid one
        yield False
        return
    yield None
    digest = []
    for _ in sha512_steps(sig[:32] + public + bytes(msg), digest):
        yield None
    k = _scalar(digest[0])
    x, y, z, t = a
    neg_a = []
    for _ in _table_steps((P - x, y, z, P - t), neg_a):
        yield None
    base = []
    for _ in _table_steps(B, base):
        yield None
    point = None
    for point in _combine(((s, base), (k, neg_a))):  # [S]B - [k]A, which must be R
        if point is None:
            yield None
    base = neg_a = None  # the tables are garbage before the last unit, not after the verification
    yield encode_point(point) == sig[:32]


def verify(public, msg, sig, tick=None):
    """True when sig is a valid Ed25519 signature of msg under the 32-byte public key. `tick` is called
    between units of work."""
    ok = False
    for ok in verify_steps(public, msg, sig):
        if ok is None and tick is not None:
            tick()
    return ok is True


def _expand(seed):
    if len(seed) != 32:
        raise ValueError("an Ed25519 private key (seed) is 32 bytes")
    h = sha512(bytes(seed))
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    return a, h[32:]


def _mul_base(n):
    return _run(_combine(((n, _table(B)),)))


def public_key(seed):
    """The 32-byte public key of a 32-byte private key (seed)."""
    a, _prefix = _expand(seed)
    return encode_point(_mul_base(a))


def sign(seed, msg):
    """The 64-byte Ed25519 signature of msg (RFC 8032 5.1.6)."""
    a, prefix = _expand(seed)
    msg = bytes(msg)
    pub = encode_point(_mul_base(a))
    r = _scalar(sha512(prefix + msg))
    big_r = encode_point(_mul_base(r))
    k = _scalar(sha512(big_r + pub + msg))
    return big_r + ((r + k * a) % L).to_bytes(32, "little")
