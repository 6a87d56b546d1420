"""`cunbox firmware provision` against a simulated USB board: a pty speaking the MicroPython raw REPL,
running what it receives in the real MicroPython 1.27 interpreter (hardware_sim/usb_repl_board.py)."""
import base64
import hashlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from support import ROOT

from firmware import update_image
from hardware_sim.usb_repl_board import UsbReplBoard
from server.cli import main as cunbox
from server.firmware_delivery import build as builder
from server.firmware_delivery import keys as keyfiles
from server.firmware_delivery import provision as prov

MPREMOTE = str(pathlib.Path(sys.executable).with_name("mpremote"))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    d = tmp_path_factory.mktemp("prov")
    signing, board_key, other = d / "signing.pem", d / "board.key", d / "other.pem"
    for p in (signing, other):
        keyfiles.write_new_keypair(str(p))
    board_key.write_text(os.urandom(32).hex() + "\n")  # the board's link key (protocol HMAC), not a firmware key
    fleet = pathlib.Path(str(signing) + ".pub")
    image, manifest = builder.build_image(ROOT, "1.0.0", builder.DEFAULT_FAMILY, 1, keyfiles.read_private_key(signing))
    path = d / "fw.cbfw"
    path.write_bytes(image)
    foreign = d / "foreign.cbfw"
    foreign.write_bytes(builder.build_image(ROOT, "1.0.0", builder.DEFAULT_FAMILY, 1,
                                            keyfiles.read_private_key(other))[0])
    wiring = d / "wiring.json"
    wiring.write_text(json.dumps({"locks": {"type": "kerong", "pins": [4, 5]}, "doors": {"pins": [12, 13]},
                                  "address": 99}))
    return {"fleet": fleet, "signing": signing, "board_key": board_key, "image": path, "foreign": foreign,
            "manifest": manifest, "wiring": wiring}


@pytest.fixture
def board():
    b = UsbReplBoard(unique_id=b"\x24\x0a\xc4\x00\x00\x07")
    yield b
    b.close()


def _provision(board, release, *extra, address="7", image=None):
    args = ["firmware", "provision", board.port, "--image", str(image or release["image"]), "--pubkey",
            str(release["fleet"]), "--address", address, "--compartments", "24", "--lock-type", "gpio",
            "--board-key", str(release["board_key"]), *extra]
    return CliRunner().invoke(cunbox, args)


def _board_files(board):
    out = board.run("import os\nprint(sorted(os.listdir('/fw/slot_a/firmware')))")
    return out


def test_fwupd_provision_writes_and_verifies(board, release):
    res = _provision(board, release, "--expect-uid", "240ac4000007", "--wiring", str(release["wiring"]),
                     "--locker-id", "LK-0007")
    assert res.exit_code == 0, res.output
    assert "verified %d files by hash" % (len(release["manifest"]["files"]) + 5) in res.output
    cfg = json.loads(board.read_file("/config.json"))
    assert cfg == {"address": 7, "compartments": 24, "locks": {"type": "gpio", "pins": [4, 5]},
                   "doors": {"pins": [12, 13]}, "family": builder.DEFAULT_FAMILY, "locker_id": "LK-0007",
                   "key": release["board_key"].read_text().split()[-1],
                   "fw_pubkeys": [keyfiles.read_public_key(release["fleet"]).hex()]}
    # every image file landed in slot a byte for byte
    for entry in release["manifest"]["files"]:
        data = board.read_file("/fw/slot_a/" + entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert b"boot_select.boot" in board.read_file("/main.py")
    # the board's own boot selector (the compiled .mpy at its root) picks it
    out = board.run("import boot_select\ns, m, p = boot_select.select('/')\nprint(s, m['version'], p['trial'])")
    assert out.split() == ["a", "1.0.0", "False"]
    # and the maintainers' own tool sees the same bytes
    r = subprocess.run([MPREMOTE, "connect", board.port, "fs", "sha256sum", ":fw/slot_a/firmware/updater.mpy"],
                       capture_output=True, text=True, timeout=60)
    want = [e["sha256"] for e in release["manifest"]["files"] if e["path"] == "firmware/updater.mpy"][0]
    assert want in r.stdout, r.stdout + r.stderr


_WALK = """
import os
def _walk(d):
    for n in os.listdir(d):
        p = d.rstrip('/') + '/' + n
        if p in ('/dev', '/proc'):  # the interpreter's own, not the board's flash
            continue
        if os.stat(p)[0] & 0x4000:
            _walk(p)
        else:
            print(p)
_walk('/')
"""


def test_signing_provisioned_board_holds_no_secret_that_signs(board, release):
    """F3, on a board provisioned by the real tool: its whole flash holds public keys and its own link key, never
    the signing key in any form, and no secret read from it makes an image this board would install."""
    assert _provision(board, release).exit_code == 0
    seed = keyfiles.read_private_key(release["signing"])
    pem_body = "".join(release["signing"].read_text().splitlines()[1:-1]).encode()
    flash = {p: board.read_file(p) for p in board.run(_WALK).split()}
    assert "/config.json" in flash and len(flash) > 30
    for path, data in flash.items():
        for secret in (seed, seed.hex().encode(), base64.b64encode(seed), pem_body):
            assert secret not in data, path
    cfg = json.loads(flash["/config.json"])
    trusted = [update_image.parse_key(k) for k in cfg["fw_pubkeys"]]
    assert trusted == [keyfiles.read_public_key(release["fleet"])]
    found = {bytes.fromhex(h) for h in re.findall(r"\b[0-9a-f]{64}\b", flash["/config.json"].decode())}
    assert len(found) == 2  # the link key and the public key
    files = [("firmware/evil.mpy", b"M\x06\x00\x1f" + b"\x00" * 60)]
    manifest = builder.make_manifest(files, "9.9.9", builder.DEFAULT_FAMILY, 1)
    for secret in found:
        forged = builder.pack(files, manifest, secret)
        claimed = bytearray(forged)
        claimed[16:24] = update_image.key_id(trusted[0])
        for image, code in ((forged, "untrusted"), (bytes(claimed), "signature")):
            with pytest.raises(update_image.ImageError) as exc:
                update_image.verify_image(io.BytesIO(image), len(image), trusted)
            assert exc.value.code == code


def test_fwupd_provision_refuses_unexpected_identity(board, release):
    res = _provision(board, release, "--expect-uid", "240ac4999999")
    assert res.exit_code == 1 and "unique id is 240ac4000007" in res.output
    assert "fw" not in board.run("import os\nprint(os.listdir('/'))")
    assert _provision(board, release).exit_code == 0
    before = board.read_file("/config.json")
    res = _provision(board, release, address="9")
    assert res.exit_code == 1 and "address 7" in res.output and "--force" in res.output
    assert board.read_file("/config.json") == before
    assert _provision(board, release, address="7").exit_code == 0  # re-provisioning the same board is fine
    res = _provision(board, release, "--force", address="9")
    assert res.exit_code == 0, res.output
    assert json.loads(board.read_file("/config.json"))["address"] == 9


def test_fwupd_provision_refuses_bad_image_before_touching_board(board, release, tmp_path):
    res = _provision(board, release, image=release["foreign"])
    assert res.exit_code == 1 and "untrusted" in res.output
    bad = tmp_path / "bad.cbfw"
    data = bytearray(release["image"].read_bytes())
    data[-3] ^= 1
    bad.write_bytes(bytes(data))
    res = _provision(board, release, image=bad)
    assert res.exit_code == 1 and "hash" in res.output
    assert board.executed == []


def test_fwupd_provision_detects_read_back_mismatch(board, release):
    image = release["image"].read_bytes()
    fleet = keyfiles.read_public_key(release["fleet"])
    config = prov.BoardConfig(7, 24, "gpio", keyfiles.read_key_file(release["board_key"]), builder.DEFAULT_FAMILY)
    assert config.as_dict([fleet])["locks"] == {"type": "gpio"}
    t = prov.open_transport(board.port)

    class Flaky:
        """A USB link that flips one bit of one file on its way to the flash."""

        def exec(self, code):
            return t.exec(code)

        def fs_writefile(self, path, data):
            if path.endswith("update_image.mpy.tmp"):
                data = data[:10] + bytes([data[10] ^ 1]) + data[11:]
            return t.fs_writefile(path, data)

    try:
        with pytest.raises(prov.ProvisionError, match="update_image.mpy"):
            prov.Provisioner(Flaky()).provision(image, [fleet], config)
    finally:
        prov.close_transport(t)


def test_fwupd_identity_checks():
    manifest = {"mpy": 6}
    cfg = prov.BoardConfig(3, 8, "kerong", b"k" * 32, "fam")
    prov.check_identity({"impl": "micropython", "mpy": 774, "config": None}, manifest, cfg)
    with pytest.raises(prov.ProvisionError, match="not as a MicroPython"):
        prov.check_identity({"impl": "cpython"}, manifest, cfg)
    with pytest.raises(prov.ProvisionError, match="v5"):
        prov.check_identity({"impl": "micropython", "mpy": 5, "version": [1, 19, 1]}, manifest, cfg)
    with pytest.raises(prov.ProvisionError, match="family 'other'"):
        prov.check_identity({"impl": "micropython", "mpy": 6, "config": {"family": "other", "address": 3}},
                            manifest, cfg)
    for bad in ((0, 8, "gpio"), (3, 0, "gpio"), (3, 8, "GPIO!")):
        with pytest.raises(prov.ProvisionError):
            prov.BoardConfig(*bad, b"k" * 32, "fam")
    assert update_image.mpy_name(774) == "v6"


def test_fwupd_provisioned_board_boots_its_slot_on_micropython(board, release, tmp_path):
    """The two-line main.py and the compiled boot selector, on the real interpreter: the selector
    picks slot a and runs that slot's firmware.main.main() (a stand-in firmware that says where it is)."""
    signing = keyfiles.read_private_key(release["signing"])
    compiled = dict(builder.compile_tree(ROOT))
    files = [("firmware/__init__.py", b""),
             ("firmware/main.py", b"def main():\n    import firmware\n    print('RUNNING', firmware.__file__)\n"),
             ("firmware/boot_select.mpy", compiled["firmware/boot_select.mpy"])]
    image = builder.pack(files, builder.make_manifest(files, "3.0.0", builder.DEFAULT_FAMILY, 1), signing)
    img = tmp_path / "standin.cbfw"
    img.write_bytes(image)
    assert _provision(board, release, image=img).exit_code == 0
    out = board.run("exec(open('/main.py').read())")
    assert "RUNNING /fw/slot_a/firmware/__init__.py" in out, out
