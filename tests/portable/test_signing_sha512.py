# SHA-512 for Ed25519 on the boards (firmware/sha512.py): FIPS 180-4 / NIST example vectors on both
# runtimes, and the pure-Python compression equal to hashlib's on CPython at every padding boundary.
from firmware import sha512

NIST = (
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    # the two-block (896-bit) example of FIPS 180-2 appendix C.2
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrst"
     b"nopqrstu", "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                  "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
)


def _hex(b):
    return "".join("%02x" % x for x in b)


def test_signing_sha512_nist_vectors_pure():
    for msg, want in NIST:
        assert _hex(sha512.sha512_pure(msg)) == want, msg


def test_signing_sha512_nist_vectors_default():
    # hashlib's on CPython, the pure one on MicroPython: the same digests either way
    for msg, want in NIST:
        assert _hex(sha512.sha512(msg)) == want, msg


def test_signing_sha512_padding_boundaries_agree():
    data = bytes(range(256)) * 2
    for n in (1, 55, 111, 112, 113, 127, 128, 129, 239, 240, 256, 257, 383, 384):
        pure = sha512.sha512_pure(data[:n])
        assert len(pure) == 64
        assert sha512.sha512(data[:n]) == pure, n
        assert sha512.sha512_pure(bytearray(data[:n])) == pure, n
    if sha512._native is not None:  # CPython: an independent implementation to compare with
        for n in range(0, 300, 7):
            assert sha512.sha512_pure(data[:n]) == sha512._native(data[:n]).digest(), n


def _root(n, k):
    """floor(n ** (1/k)) for k in (2, 3), by Newton's method from above."""
    x = 1 << ((len("%x" % n) * 4 + k - 1) // k)  # above the root (MicroPython ints lack bit_length)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def _primes(count):
    primes = []
    n = 2
    while len(primes) < count:
        if all(n % q for q in primes if q * q <= n):
            primes.append(n)
        n += 1
    return primes


def test_signing_sha512_constants_are_their_definition():
    # FIPS 180-4 4.2.3 and 5.3.5: the first 64 bits of the fractional parts of the cube roots of the first
    # 80 primes (K) and of the square roots of the first 8 (H0); the module holds them as bytes literals
    m = 0xFFFFFFFFFFFFFFFF
    primes = _primes(80)
    k = b"".join((_root(p << 192, 3) & m).to_bytes(8, "big") for p in primes)
    h0 = b"".join((_root(p << 128, 2) & m).to_bytes(8, "big") for p in primes[:8])
    assert len(sha512._K) == 640 and sha512._K == k
    assert len(sha512._H0) == 64 and sha512._H0 == h0
