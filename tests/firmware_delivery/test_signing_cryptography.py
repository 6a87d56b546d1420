"""The host signs firmware with `cryptography` (server/firmware_delivery/keys.py, build.py); the boards verify with
their own pure-Python Ed25519 (firmware/ed25519.py). The two are checked against each other here: the
RFC 8032 vectors (the file tests/portable/test_signing_ed25519.py checks on MicroPython too), signatures
cryptography makes verify on the board's verifier and tampered ones fail, an image is byte for byte
what the old pure-Python signer made, and key files written before issue 14 still load."""
import io
import os
import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from support import ROOT

from firmware import ed25519, update_image
from server.firmware_delivery import build as builder
from server.firmware_delivery import keys as keyfiles

sys.path.insert(0, str(ROOT / "tests" / "portable"))
from _ed25519_vectors import VECTORS  # noqa: E402

# Written by `cunbox firmware keygen` before issue 14 (the hand-written PEM code, commit d4ae4fc), for
# the private key (seed) 40 41 .. 5f.
OLD_SEED = bytes(range(0x40, 0x60))
OLD_PUBLIC = bytes.fromhex("2543b92ff1095511476adc8369db6ddc933665a11978dda1404ee1066ca9559d")
OLD_PRIVATE_PEM = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIEBBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f
-----END PRIVATE KEY-----
"""
OLD_PUBLIC_PEM = """# cunbox firmware signing key, public half, key id 03396219237f75a6
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJUO5L/EJVRFHatyDadtt3JM2ZaEZeN2hQE7hBmypVZ0=
-----END PUBLIC KEY-----
"""

FILES = [("firmware/a.mpy", b"M\x06\x00\x1f" + b"a" * 100), ("protocol/b.mpy", b"M\x06\x00\x1f" + bytes(range(256)))]


def _b(h):
    return bytes.fromhex(h)


def _write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_signing_cryptography_signs_and_verifies_the_rfc8032_vectors():
    for name, sk, pk, msg, sig in VECTORS:
        key = Ed25519PrivateKey.from_private_bytes(_b(sk))
        assert keyfiles.public_key(_b(sk)) == _b(pk), name
        assert key.sign(_b(msg)) == keyfiles.sign(_b(sk), _b(msg)) == _b(sig), name
        Ed25519PublicKey.from_public_bytes(_b(pk)).verify(_b(sig), _b(msg))  # raises if not
        assert ed25519.verify(_b(pk), _b(msg), key.sign(_b(msg))), name


def test_signing_what_cryptography_signs_verifies_on_the_board():
    for n in range(8):
        seed = os.urandom(32)
        public = keyfiles.public_key(seed)
        assert public == ed25519.public_key(seed)
        for msg in (b"", os.urandom(32), os.urandom(200 + n)):
            sig = keyfiles.sign(seed, msg)
            assert ed25519.verify(public, msg, sig), (seed.hex(), msg.hex())


def test_signing_a_tampered_cryptography_signature_fails_on_the_board_and_in_cryptography():
    seed = os.urandom(32)
    public, msg = keyfiles.public_key(seed), os.urandom(32)
    sig = keyfiles.sign(seed, msg)
    verifier = Ed25519PublicKey.from_public_bytes(public)
    for i in (0, 7, 31, 32, 50, 63):
        for bit in (0x01, 0x40):
            bad = bytearray(sig)
            bad[i] ^= bit
            assert not ed25519.verify(public, msg, bytes(bad)), (i, bit)
            with pytest.raises(InvalidSignature):
                verifier.verify(bytes(bad), msg)
    bad_msg = bytes([msg[0] ^ 1]) + msg[1:]
    assert not ed25519.verify(public, bad_msg, sig)
    assert not ed25519.verify(keyfiles.public_key(os.urandom(32)), msg, sig)
    # S + L: the same equation holds, both refuse it (RFC 8032 5.1.7)
    s = int.from_bytes(sig[32:], "little") + ed25519.L
    if s < 2 ** 256:
        high = sig[:32] + s.to_bytes(32, "little")
        assert not ed25519.verify(public, msg, high)
        with pytest.raises(InvalidSignature):
            verifier.verify(high, msg)


def test_signing_images_are_what_the_old_pure_python_signer_made_and_boards_accept_them():
    manifest = builder.make_manifest(FILES, "1.2.3", builder.DEFAULT_FAMILY, 1, mpy=6)
    image = builder.pack(FILES, manifest, OLD_SEED)
    old = update_image.pack_image(builder.json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(),
                             b"".join(d for _p, d in FILES), OLD_SEED)
    assert image == old  # Ed25519 is deterministic: an image signed before and after issue 14 is the same
    assert builder.pack(FILES, manifest, Ed25519PrivateKey.from_private_bytes(OLD_SEED)) == image
    got = update_image.verify_image(io.BytesIO(image), len(image), [OLD_PUBLIC])  # the board's verifier
    assert got["version"] == "1.2.3"
    mlen = int.from_bytes(image[8:12], "big")
    sig_at = update_image.HEADER_SIZE + mlen
    tampered = bytearray(image)
    tampered[sig_at + 5] ^= 1
    with pytest.raises(update_image.ImageError) as info:
        update_image.verify_image(io.BytesIO(bytes(tampered)), len(tampered), [OLD_PUBLIC])
    assert info.value.code == "signature"


def test_signing_key_files_written_before_issue_14_still_load(tmp_path):
    priv = _write(tmp_path / "old.pem", OLD_PRIVATE_PEM)
    pub = _write(tmp_path / "old.pem.pub", OLD_PUBLIC_PEM, 0o644)
    assert keyfiles.read_private_key(priv) == OLD_SEED
    assert keyfiles.read_public_key(pub) == OLD_PUBLIC == keyfiles.public_key(OLD_SEED)
    # and what is written now is the same standard PEM (PKCS#8, SubjectPublicKeyInfo)
    key = Ed25519PrivateKey.from_private_bytes(OLD_SEED)
    assert key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode() == OLD_PRIVATE_PEM
    assert keyfiles.public_key_text(OLD_PUBLIC, OLD_PUBLIC_PEM.splitlines()[0][2:]) == OLD_PUBLIC_PEM


def test_signing_keygen_files_load_in_cryptography(tmp_path):
    seed, public, pub_path = keyfiles.write_new_keypair(str(tmp_path / "k.pem"))
    assert os.stat(tmp_path / "k.pem").st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key((tmp_path / "k.pem").read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    assert key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption()) == seed
    loaded = serialization.load_pem_public_key(open(pub_path, "rb").read())
    assert loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == public
    assert keyfiles.read_private_key(str(tmp_path / "k.pem")) == seed
    assert keyfiles.read_public_key(pub_path) == public == ed25519.public_key(seed)


def test_signing_key_files_cunbox_refuses(tmp_path):
    ed25519_key = Ed25519PrivateKey.from_private_bytes(OLD_SEED)
    encrypted = ed25519_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"passphrase")).decode()
    with pytest.raises(keyfiles.KeyFileError, match="encrypted"):
        keyfiles.read_private_key(_write(tmp_path / "enc.pem", encrypted))
    ed448 = Ed448PrivateKey.generate()
    with pytest.raises(keyfiles.KeyFileError, match="not an Ed25519 private key"):
        keyfiles.read_private_key(_write(tmp_path / "ed448.pem", ed448.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()))
    with pytest.raises(keyfiles.KeyFileError, match="not an Ed25519 public key"):
        keyfiles.read_public_key(_write(tmp_path / "ed448.pub", ed448.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(), 0o644))
    with pytest.raises(keyfiles.KeyFileError, match="readable by others"):
        keyfiles.read_private_key(_write(tmp_path / "open.pem", OLD_PRIVATE_PEM, 0o644))
    with pytest.raises(keyfiles.KeyFileError, match="not a readable PEM private key"):
        keyfiles.read_private_key(_write(tmp_path / "garbled.pem", OLD_PRIVATE_PEM.replace("MC4C", "M!4C")))
    with pytest.raises(keyfiles.KeyFileError, match="not a readable PEM public key"):
        keyfiles.read_public_key(_write(tmp_path / "garbled.pub", OLD_PUBLIC_PEM.replace("MCow", "MCo!"), 0o644))
    with pytest.raises(keyfiles.KeyFileError, match="is a public key"):
        keyfiles.read_private_key(_write(tmp_path / "pub-as-private.pem", OLD_PUBLIC_PEM))
    # 32 bytes that are no point on the curve: cryptography takes them, a board could never use them
    not_a_point = Ed25519PublicKey.from_public_bytes((2).to_bytes(32, "little")).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(keyfiles.KeyFileError, match="not a point"):
        keyfiles.read_public_key(_write(tmp_path / "np.pub", not_a_point, 0o644))
