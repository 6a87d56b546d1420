# Ed25519 (firmware/ed25519.py), the firmware signature: RFC 8032 section 7.1 vectors and strict
# rejection (S >= L, keys that are not canonical points, any changed bit) on CPython and MicroPython.
from _ed25519_vectors import VECTORS

from firmware import ed25519


def _b(h):
    return bytes(int(h[i:i + 2], 16) for i in range(0, len(h), 2))


def _le(n):
    return n.to_bytes(32, "little")


def test_signing_rfc8032_public_keys_and_signatures():
    for name, sk, pk, msg, sig in VECTORS:
        assert ed25519.public_key(_b(sk)) == _b(pk), name
        assert ed25519.sign(_b(sk), _b(msg)) == _b(sig), name


def test_signing_rfc8032_signatures_verify():
    for name, _sk, pk, msg, sig in VECTORS:
        assert ed25519.verify(_b(pk), _b(msg), _b(sig)) is True, name


def test_signing_any_changed_bit_is_refused():
    _name, _sk, pk, msg, sig = VECTORS[2]
    pk, msg, sig = _b(pk), _b(msg), _b(sig)
    for i in (0, 13, 31, 32, 45, 63):
        for bit in (0x01, 0x80):
            bad = bytearray(sig)
            bad[i] ^= bit
            assert not ed25519.verify(pk, msg, bytes(bad)), (i, bit)
    for i in (0, 31):
        bad = bytearray(pk)
        bad[i] ^= 0x02
        assert not ed25519.verify(bytes(bad), msg, sig), i
    assert not ed25519.verify(pk, msg + b"\x00", sig)
    assert not ed25519.verify(pk, b"\xaf\x83", sig)
    other = _b(VECTORS[1][2])
    assert not ed25519.verify(other, msg, sig)


def test_signing_non_canonical_s_refused():
    # S + L satisfies the verification equation just as S does: RFC 8032 5.1.7 requires S < L
    _name, _sk, pk, msg, sig = VECTORS[0]
    pk, msg, sig = _b(pk), _b(msg), _b(sig)
    s = int.from_bytes(sig[32:], "little")
    assert s < ed25519.L
    for bad_s in (s + ed25519.L, ed25519.L, 2 ** 256 - 1):
        if bad_s < 2 ** 256:
            assert not ed25519.verify(pk, msg, sig[:32] + _le(bad_s)), bad_s


def test_signing_bad_public_keys_refused():
    _name, _sk, pk, msg, sig = VECTORS[0]
    msg, sig = _b(msg), _b(sig)
    p = ed25519.P
    bad_keys = (
        _le(p + 1),                # y = p + 1 >= p: a non-canonical encoding of y = 1
        _le(p),                    # y = p, non-canonical 0
        _le(1 | 1 << 255),         # y = 1 means x = 0, and "negative zero" is not an encoding
        _le(2),                    # y = 2: no x on the curve
        b"\xff" * 32,              # y = 2^255 - 1 >= p
        _b(pk)[:31],               # short
        b"",
    )
    for key in bad_keys:
        assert ed25519.decode_point(key) is None, key
        assert not ed25519.verify(key, msg, sig), key


def test_signing_malformed_signatures_refused():
    _name, _sk, pk, msg, sig = VECTORS[1]
    pk, msg, sig = _b(pk), _b(msg), _b(sig)
    for bad in (sig[:63], sig + b"\x00", b"", bytes(64)):
        assert not ed25519.verify(pk, msg, bad), len(bad)
    # R replaced by the encoding of the base point: a valid point, the wrong one
    assert not ed25519.verify(pk, msg, ed25519.encode_point(ed25519.B) + sig[32:])


def test_signing_points_encode_and_decode():
    b = ed25519.encode_point(ed25519.B)
    assert b == _b("5866666666666666666666666666666666666666666666666666666666666666")
    x, y, z, t = ed25519.decode_point(b)
    assert (x, y) == (ed25519.B[0], ed25519.B[1]) and z == 1 and t == x * y % ed25519.P


def _times_bitwise(n, pt):
    """n * pt by plain double-and-add over n's bits: the reference the windowed code is checked against."""
    acc = ed25519.IDENT
    for i in range(255, -1, -1):
        acc = ed25519._double(acc, True)
        if (n >> i) & 1:
            acc = ed25519._add(acc, ed25519._cached(pt))
    return ed25519.encode_point(acc)


def test_signing_signed_digits_rebuild_the_scalar():
    order = ed25519.L
    for n in (0, 1, 7, 8, 9, 15, 16, 0x88, int("8" * 64, 16), int("7" * 64, 16), order - 1, order, 2 ** 255 - 1,
              2 ** 256 - 1, (1 << 254) | 0x123456789abcdef):
        digits = ed25519._digits(n)
        assert len(digits) == ed25519.DIGITS and all(0 <= d <= 15 for d in digits), n
        assert sum((d - 8) * 16 ** i for i, d in enumerate(digits)) == n, n
    for bad in (-1, 2 ** 256):
        try:
            ed25519._digits(bad)
        except ValueError:
            pass
        else:
            raise AssertionError("scalar %d taken" % bad)


def test_signing_scalar_multiplication_matches_double_and_add():
    # scalars whose signed digits carry (8..15 nibbles), end in a carry (top nibble 8..15), or are
    # all -8 or all 7; both table points, and a sum of two terms as verification computes it
    a = ed25519.decode_point(ed25519.public_key(bytes(range(32))))
    base = ed25519._table(ed25519.B)
    table_a = ed25519._table(a)
    for n in (1, 8, 9, 15, 0x88, int("8" * 64, 16), int("7" * 64, 16), ed25519.L - 1, 2 ** 256 - 1):
        assert ed25519.encode_point(ed25519._run(ed25519._combine(((n, base),)))) == _times_bitwise(n, ed25519.B), n
        assert ed25519.encode_point(ed25519._run(ed25519._combine(((n, table_a),)))) == _times_bitwise(n, a), n
    s, k = int("9" * 63, 16), 2 ** 255 - 19
    both = ed25519._run(ed25519._combine(((s, base), (k, table_a))))
    ref = ed25519._add(ed25519.decode_point(_times_bitwise(s, ed25519.B)), ed25519._cached(
        ed25519.decode_point(_times_bitwise(k, a))))
    assert ed25519.encode_point(both) == ed25519.encode_point(ref)


def test_signing_verify_steps_and_tick():
    _name, sk, pk, msg, sig = VECTORS[2]
    ticks = []
    assert ed25519.verify(_b(pk), _b(msg), _b(sig), tick=lambda: ticks.append(1))
    assert len(ticks) >= 60  # one per 4-bit window at least: a board feeds its watchdog that often
    steps = list(ed25519.verify_steps(_b(pk), _b(msg), _b(sig)))
    assert steps[-1] is True and all(s is None for s in steps[:-1])
    steps = list(ed25519.verify_steps(_b(pk), _b(msg) + b"!", _b(sig)))
    assert steps[-1] is False


def test_signing_sign_then_verify_round_trip():
    seed = bytes(range(100, 132))
    pub = ed25519.public_key(seed)
    for msg in (b"", b"x", bytes(range(200))):
        sig = ed25519.sign(seed, msg)
        assert len(sig) == 64 and ed25519.verify(pub, msg, sig)
    try:
        ed25519.sign(seed[:31], b"")
    except ValueError:
        pass
    else:
        raise AssertionError("a 31-byte seed was taken")
