"""Per-board keys at rest: sealed with the server secret, opened only in the link worker's memory.

Sealing is AES-256-GCM from the `cryptography` package: version byte 0x02 | a random 12-byte nonce |
ciphertext | 16-byte GCM tag, the version byte authenticated as associated data. The AES key derives
from the server secret (server/secret.py: CUNBOX_SECRET, or instance/link-secret created on first
use) by HMAC-SHA256 with its own label, like every other server-side key.

Keys sealed before issue 14 are version 0x01, a hand-written encrypt-then-MAC (a keystream of
HMAC-SHA256(enc_key, nonce | block counter) XORed over the key, HMAC-SHA256 tag over version | nonce
| ciphertext). They still open (`_open_v1`, read only: nothing seals version 1 any more), so existing
databases keep working; a board's key is stored as version 2 when it is next provisioned.
tests/link/test_link_keys_sealing.py opens values the old code sealed.

A sealed key that was tampered with, or sealed under another secret, is refused, never guessed at.
"""
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.secret import (
    derive,
    load_secret,  # noqa: F401 - the link loads the server secret from here
)

VERSION = b"\x02"     # AES-256-GCM
NONCE_LEN = 12
TAG_LEN = 16
KEY_MIN, KEY_MAX = 16, 64
SEAL_LABEL = "cunbox link key sealing, AES-256-GCM"  # server.secret.derive label of the AES key

V1 = b"\x01"          # the old encrypt-then-MAC: read only
V1_NONCE_LEN = 16
V1_TAG_LEN = 16


class SealError(ValueError):
    """A sealed key that does not open with this server's secret."""


class Sealer:
    def __init__(self, secret):
        if not secret or len(secret) < 16:
            raise ValueError("the server secret must be at least 16 bytes")
        self._aead = AESGCM(derive(secret, SEAL_LABEL))
        # version 1's keys, for opening what was sealed before
        self._enc = hmac.new(secret, b"cunbox link key encryption", hashlib.sha256).digest()
        self._mac = hmac.new(secret, b"cunbox link key authentication", hashlib.sha256).digest()

    def seal(self, key):
        if not KEY_MIN <= len(key) <= KEY_MAX:
            raise ValueError("a board key is %d..%d bytes, got %d" % (KEY_MIN, KEY_MAX, len(key)))
        nonce = secrets.token_bytes(NONCE_LEN)
        return VERSION + nonce + self._aead.encrypt(nonce, bytes(key), VERSION)

    def open(self, sealed):
        sealed = bytes(sealed or b"")
        if sealed[:1] == V1:
            return self._open_v1(sealed)
        if sealed[:1] != VERSION or not KEY_MIN <= len(sealed) - 1 - NONCE_LEN - TAG_LEN <= KEY_MAX:
            raise SealError("not a sealed board key")
        nonce = sealed[1:1 + NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, sealed[1 + NONCE_LEN:], VERSION)
        except InvalidTag:
            raise SealError("sealed board key fails its check: tampered, or sealed under another server secret") \
                from None

    def _open_v1(self, sealed):
        if len(sealed) < 1 + V1_NONCE_LEN + KEY_MIN + V1_TAG_LEN:
            raise SealError("not a sealed board key")
        body, tag = sealed[:-V1_TAG_LEN], sealed[-V1_TAG_LEN:]
        if not hmac.compare_digest(hmac.new(self._mac, body, hashlib.sha256).digest()[:V1_TAG_LEN], tag):
            raise SealError("sealed board key fails its check: tampered, or sealed under another server secret")
        nonce, ct = body[1:1 + V1_NONCE_LEN], body[1 + V1_NONCE_LEN:]
        stream = bytearray()
        block = 0
        while len(stream) < len(ct):
            stream += hmac.new(self._enc, nonce + block.to_bytes(4, "big"), hashlib.sha256).digest()
            block += 1
        return bytes(a ^ b for a, b in zip(ct, stream, strict=False))
