"""Per-board keys at rest: sealed with the server secret, opened only in the link worker's memory.

Sealing is encrypt-then-MAC from the standard library alone: a random 16-byte nonce, a keystream of
HMAC-SHA256(enc_key, nonce | block counter) XORed over the key, and an HMAC-SHA256 tag (first 16
bytes) over version | nonce | ciphertext with a separate MAC key. Both keys derive from the server
secret (server/secret.py: CUNBOX_SECRET, or instance/link-secret created on first use).
A sealed key that was tampered with, or sealed under another secret, is refused, never guessed at.
"""
import hashlib
import hmac
import secrets

from server.secret import load_secret  # noqa: F401 - the link loads the server secret from here

VERSION = b"\x01"
NONCE_LEN = 16
TAG_LEN = 16


class SealError(ValueError):
    """A sealed key that does not open with this server's secret."""


class Sealer:
    def __init__(self, secret):
        if not secret or len(secret) < 16:
            raise ValueError("the server secret must be at least 16 bytes")
        self._enc = hmac.new(secret, b"cunbox link key encryption", hashlib.sha256).digest()
        self._mac = hmac.new(secret, b"cunbox link key authentication", hashlib.sha256).digest()

    def _stream(self, nonce, n):
        out = bytearray()
        block = 0
        while len(out) < n:
            out += hmac.new(self._enc, nonce + block.to_bytes(4, "big"), hashlib.sha256).digest()
            block += 1
        return bytes(out[:n])

    def seal(self, key):
        if not 16 <= len(key) <= 64:
            raise ValueError("a board key is 16..64 bytes, got %d" % len(key))
        nonce = secrets.token_bytes(NONCE_LEN)
        ct = bytes(a ^ b for a, b in zip(key, self._stream(nonce, len(key)), strict=True))
        body = VERSION + nonce + ct
        return body + hmac.new(self._mac, body, hashlib.sha256).digest()[:TAG_LEN]

    def open(self, sealed):
        if not sealed or len(sealed) < 1 + NONCE_LEN + 16 + TAG_LEN or sealed[:1] != VERSION:
            raise SealError("not a sealed board key")
        body, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
        if not hmac.compare_digest(hmac.new(self._mac, body, hashlib.sha256).digest()[:TAG_LEN], tag):
            raise SealError("sealed board key fails its check: tampered, or sealed under another server secret")
        nonce, ct = body[1:1 + NONCE_LEN], body[1 + NONCE_LEN:]
        return bytes(a ^ b for a, b in zip(ct, self._stream(nonce, len(ct)), strict=True))
