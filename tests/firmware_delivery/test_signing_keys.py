"""Firmware signing keys against OpenSSL, an independent Ed25519 implementation: the key files `cunbox
firmware keygen` writes are OpenSSL's PEM, OpenSSL's keys work for `cunbox firmware build`, OpenSSL signs the
RFC 8032 vectors exactly as the host (cryptography) and firmware/ed25519.py do, and it verifies an image's
signature. The cryptography side is checked against the boards' verifier in test_signing_cryptography.py."""
import os
import shutil
import subprocess
import sys

import pytest
from support import ROOT

from firmware import ed25519, update_image
from server.firmware_delivery import build as builder
from server.firmware_delivery import keys as keyfiles

sys.path.insert(0, str(ROOT / "tests" / "portable"))
from _ed25519_vectors import VECTORS  # noqa: E402

OPENSSL = shutil.which("openssl")


def _openssl(*args, data=None):
    return subprocess.run([OPENSSL, *map(str, args)], input=data, capture_output=True, timeout=60)


def _has_ed25519():
    return OPENSSL is not None and _openssl("genpkey", "-algorithm", "ed25519").returncode == 0


needs_openssl = pytest.mark.skipif(not _has_ed25519(), reason="no openssl command with Ed25519 on this machine")


@needs_openssl
def test_signing_keygen_files_are_openssl_pem(tmp_path):
    key = tmp_path / "signing.pem"
    seed, public, pub_path = keyfiles.write_new_keypair(str(key))
    out = _openssl("pkey", "-in", key, "-pubout")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() in open(pub_path).read()
    assert _openssl("pkey", "-pubin", "-in", pub_path, "-noout").returncode == 0
    assert keyfiles.read_public_key(pub_path) == public == ed25519.public_key(seed)


@needs_openssl
def test_signing_openssl_key_signs_an_image_cunbox_accepts(tmp_path):
    key, pub = tmp_path / "ossl.pem", tmp_path / "ossl.pub"
    assert _openssl("genpkey", "-algorithm", "ed25519", "-out", key).returncode == 0
    os.chmod(key, 0o600)
    assert _openssl("pkey", "-in", key, "-pubout", "-out", pub).returncode == 0
    seed = keyfiles.read_private_key(str(key))
    public = keyfiles.read_public_key(str(pub))
    assert ed25519.public_key(seed) == public
    files = [("firmware/a.mpy", b"M\x06\x00\x1f" + b"a" * 100)]
    image = builder.pack(files, builder.make_manifest(files, "1.0.0", "fam", 1), seed)
    # OpenSSL checks the image's signature over SHA-256(header + manifest) with the public key file
    mlen = int.from_bytes(image[8:12], "big")
    signed_end = update_image.HEADER_SIZE + mlen
    (tmp_path / "digest").write_bytes(update_image.signed_digest(image[:signed_end]))
    (tmp_path / "sig").write_bytes(image[signed_end:signed_end + update_image.SIG_SIZE])
    out = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", tmp_path / "digest",
                   "-sigfile", tmp_path / "sig")
    assert out.returncode == 0 and b"Success" in out.stdout, out.stdout + out.stderr
    (tmp_path / "digest").write_bytes(bytes(32))
    out = _openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", tmp_path / "digest",
                   "-sigfile", tmp_path / "sig")
    assert out.returncode != 0


@needs_openssl
def test_signing_openssl_signs_the_rfc8032_vectors_as_we_do(tmp_path):
    import base64
    for name, sk, pk, msg, sig in VECTORS:
        if not msg:
            continue  # OpenSSL's -rawin reads no empty input
        der = bytes.fromhex("302e020100300506032b657004220420") + bytes.fromhex(sk)
        key = tmp_path / "k.pem"
        key.write_text("-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % base64.b64encode(der).decode())
        (tmp_path / "m").write_bytes(bytes.fromhex(msg))
        out = _openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", tmp_path / "m")
        assert out.returncode == 0, out.stderr
        assert out.stdout.hex() == sig, name
        assert keyfiles.sign(bytes.fromhex(sk), bytes.fromhex(msg)).hex() == sig, name  # the host's signer
        assert ed25519.sign(bytes.fromhex(sk), bytes.fromhex(msg)).hex() == sig, name  # the boards' code
        assert ed25519.public_key(bytes.fromhex(sk)).hex() == pk, name


def test_signing_server_takes_public_keys_only(tmp_path, monkeypatch):
    key = tmp_path / "signing.pem"
    _seed, public, pub_path = keyfiles.write_new_keypair(str(key))
    monkeypatch.setenv(keyfiles.PUBKEYS_ENV, "%s:%s" % (pub_path, pub_path))
    assert keyfiles.load_public_keys() == [public, public]
    monkeypatch.setenv(keyfiles.PUBKEYS_ENV, str(key))
    with pytest.raises(keyfiles.KeyFileError, match="private key"):
        keyfiles.load_public_keys()
    monkeypatch.delenv(keyfiles.PUBKEYS_ENV)
    monkeypatch.setenv(keyfiles.RETIRED_ENV, "/somewhere/fleet.key")
    with pytest.raises(keyfiles.KeyFileError) as info:
        keyfiles.load_public_keys()
    assert keyfiles.PUBKEYS_ENV in str(info.value) and keyfiles.RETIRED_ENV in str(info.value)
