"""Board keys sealed at rest (server/link/keys.py): AES-256-GCM from `cryptography` (version 2), and
keys sealed by the old hand-written encrypt-then-MAC (version 1) still open, so databases written
before issue 14 (the demo's under instance/demo among them) keep their boards' keys."""
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.link.keys import NONCE_LEN, SEAL_LABEL, TAG_LEN, VERSION, Sealer, SealError
from server.secret import derive

# Sealed by the version-1 code (commit d4ae4fc, before issue 14), with its random nonces:
# (secret, clear key hex, sealed hex)
OLD_SECRET = b"an old server secret from before issue 14"
LINK_SECRET_FILE = b"5f" * 32  # instance/link-secret holds 64 hex digits, used as they are
V1_SEALED = (
    (OLD_SECRET, "000102030405060708090a0b0c0d0e0f",
     "01c62ddc963b455df60ee706e8704650413aa1bfdf53366fa63dff2a8a563322d3911d64e2eb391d681a6fb47460fa358e"),
    (OLD_SECRET, "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
     "01be8c80e2d4fc54091c0fe5e742c30e7ad15ccfcd64be97cb9e62e08ee54f6e56ccc1800a327cd1cf13d4e55678667052c262"
     "cd15e2f93039df81dd24e479c6c4"),
    (LINK_SECRET_FILE, "00112233445566778899aabbccddeeff",
     "012945ab38cad1ab2e90a53bf99c6bb4667a7cfe8c3f95474cddc34bb8e92a179571456a0308cc90bab26d9c635555a7c4"),
)


@pytest.mark.parametrize("secret,key,sealed", V1_SEALED)
def test_keys_sealed_by_the_old_code_still_open(secret, key, sealed):
    assert Sealer(secret).open(bytes.fromhex(sealed)) == bytes.fromhex(key)
    assert Sealer(secret).open(memoryview(bytes.fromhex(sealed))) == bytes.fromhex(key)  # as a driver may return it


@pytest.mark.parametrize("secret,_key,sealed", V1_SEALED)
def test_old_sealed_keys_tampered_or_under_another_secret_are_refused(secret, _key, sealed):
    raw = bytes.fromhex(sealed)
    with pytest.raises(SealError):
        Sealer(b"another server's secret, 32 bytes").open(raw)
    for i in (1, 17, len(raw) - 17, len(raw) - 1):  # nonce, ciphertext, last ciphertext byte, tag
        bad = bytearray(raw)
        bad[i] ^= 1
        with pytest.raises(SealError):
            Sealer(secret).open(bytes(bad))
    with pytest.raises(SealError):
        Sealer(secret).open(raw[:-1])


def test_new_seals_are_aes_gcm_version_2():
    sealer = Sealer(OLD_SECRET)
    key = bytes(range(16))
    sealed = sealer.seal(key)
    assert sealed[:1] == VERSION == b"\x02" and len(sealed) == 1 + NONCE_LEN + len(key) + TAG_LEN
    assert sealer.open(sealed) == key
    assert sealer.seal(key) != sealed  # a fresh nonce each time
    # standard AES-256-GCM: opens with the derived key alone, the version byte as associated data
    aead = AESGCM(derive(OLD_SECRET, SEAL_LABEL))
    assert aead.decrypt(sealed[1:1 + NONCE_LEN], sealed[1 + NONCE_LEN:], VERSION) == key
    # the key sealed again is version 2, whatever it was sealed as before
    _secret, old_key, old_sealed = V1_SEALED[0]
    assert sealer.seal(sealer.open(bytes.fromhex(old_sealed)))[:1] == VERSION


def test_new_seals_refused_when_tampered_truncated_or_under_another_secret():
    sealer = Sealer(OLD_SECRET)
    sealed = sealer.seal(bytes(range(32)))
    with pytest.raises(SealError):
        Sealer(b"another server's secret, 32 bytes").open(sealed)
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 0x80
        with pytest.raises(SealError):
            sealer.open(bytes(bad))
    for bad in (b"", None, sealed[:-1], sealed[:1 + NONCE_LEN + TAG_LEN], b"\x03" + sealed[1:]):
        with pytest.raises(SealError):
            sealer.open(bad)


def test_sealing_takes_board_keys_and_a_real_secret_only():
    with pytest.raises(ValueError):
        Sealer(b"short")
    sealer = Sealer(OLD_SECRET)
    for n in (15, 65):
        with pytest.raises(ValueError):
            sealer.seal(bytes(n))
    for n in (16, 32, 64):
        assert sealer.open(sealer.seal(bytes(range(n)))) == bytes(range(n))
