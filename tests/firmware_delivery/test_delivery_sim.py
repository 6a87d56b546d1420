"""Over-the-link updates against the simulated board (hardware_sim/fw_sim_board.py: the real firmware,
updater and boot selector on a directory, behind a TCP serial bridge), driven by the real host side
(server/firmware_delivery/flasher.py, protocol.session) and `cunbox flash`."""
import json

import pytest
from click.testing import CliRunner

from firmware import ed25519, update_image
from hardware_sim.fw_sim_board import BridgedBoard, provision_dir
from protocol import messages as m
from server.cli import main as cunbox
from server.firmware_delivery import build as builder
from server.firmware_delivery.flasher import Flasher, FlashError
from server.firmware_delivery.link import Link

FLEET = bytes(range(32))  # the maintainers' signing key (seed); boards hold FLEET_PUB only
FLEET_PUB = ed25519.public_key(FLEET)
OTHER = bytes(range(100, 132))
BOARD_KEY = b"\x11" * 32
ADDR = 5
FAMILY = builder.DEFAULT_FAMILY
SMALL = ("firmware/__init__.mpy", "firmware/boot_select.mpy", "firmware/update_image.mpy", "firmware/updater.mpy",
         "protocol/__init__.mpy")


@pytest.fixture(scope="module")
def compiled():
    return builder.compile_tree(builder.pathlib.Path(__file__).resolve().parents[2])


def image(compiled, version, family=FAMILY, key=FLEET, small=True):
    files = [(p, d) for p, d in compiled if not small or p in SMALL]
    manifest = builder.make_manifest(files, version, family, 1, mpy=6)
    return builder.pack(files, manifest, key)


@pytest.fixture
def board(tmp_path, compiled):
    root = str(tmp_path / "board")
    (tmp_path / "board").mkdir()
    provision_dir(root, image(compiled, "1.0.0"), [FLEET_PUB])
    b = BridgedBoard(root, ADDR, BOARD_KEY.hex(), [FLEET_PUB.hex()], FAMILY)
    yield b
    b.close()


def _link(b):
    return Link(b.url, ADDR, BOARD_KEY, baud=115200)


def _version(b):
    link = _link(b)
    try:
        return link.call(m.HELLO)["fw_version"]
    finally:
        link.close()


def test_fwupd_sim_full_update_with_cunbox_flash(board, compiled, tmp_path):
    img = tmp_path / "fw.cbfw"
    img.write_bytes(image(compiled, "1.1.0", small=False))
    (tmp_path / "board.key").write_text(BOARD_KEY.hex() + "\n")
    (tmp_path / "fleet.pub").write_text(FLEET_PUB.hex() + "\n")
    link = _link(board)
    assert link.call(m.HELLO)["capabilities"] & m.CAP_FW_UPDATE
    link.call(m.SET_CODE, {"compartment": 2, "kind": m.CODE_PICKUP, "salt": b"s" * 8, "code_hash": b"h" * 16,
                           "expiry": 0xFFFFFFF0})
    events_before = link.call(m.EVENTS, {"cursor": 0, "max_count": 16})["events"]
    link.close()
    res = CliRunner().invoke(cunbox, ["flash", board.url, "--address", str(ADDR), "--image", str(img),
                                      "--board-key", str(tmp_path / "board.key"), "--pubkey",
                                      str(tmp_path / "fleet.pub"), "--baud", "115200"])
    assert res.exit_code == 0, res.output
    assert "board 5 now runs 1.1.0" in res.output
    assert "kB/s" in res.output and "left" in res.output and "[###" in res.output
    assert board.boots == [("a", "1.0.0"), ("b", "1.1.0")]
    pointer, _slot = board.status()
    assert pointer["active"] == "b" and not pointer["trial"]
    link = _link(board)
    status = link.call(m.STATUS)
    assert status["compartments"][1] & m.ST_CODE_SET if hasattr(m, "ST_CODE_SET") else status["compartments"][1] & 8
    events = link.call(m.EVENTS, {"cursor": 0, "max_count": 16})["events"]
    assert [e["seq"] for e in events[:len(events_before)]] == [e["seq"] for e in events_before]
    updated = [e for e in events if e["kind"] == m.EV_FW_UPDATED]
    assert [m.decode_event_data(m.EV_FW_UPDATED, e["data"]) for e in updated] == [{"version": "1.1.0"}]
    link.close()


def _flash(b, img, **kwargs):
    link = _link(b)
    try:
        f = Flasher(link, img, boot_wait_s=15, **kwargs)
        return f, f.run()
    finally:
        link.close()


def _slot_b(kind, rel, n):
    return rel.startswith("fw/slot_b")


def _nth(pred, k):
    seen = [0]

    def cut(kind, rel, n):
        if pred(kind, rel):
            seen[0] += 1
            return seen[0] == k
        return False
    return cut


STAGES = {
    "during chunks": lambda: _nth(lambda kind, rel: kind == "append", 40),
    "after staging, at commit": lambda: _nth(lambda kind, rel: rel.startswith("fw/slot_b"), 1),
    "while installing": lambda: _nth(lambda kind, rel: rel.startswith("fw/slot_b") and kind == "write", 3),
    "at the switch": lambda: _nth(lambda kind, rel: kind == "rename" and rel == "fw/boot.json", 1),
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_fwupd_sim_power_cut_during_update(board, compiled, stage):
    board.fs.cut = STAGES[stage]()
    f, version = _flash(board, image(compiled, "1.1.0"))
    assert version == "1.1.0"
    assert f.after_hello["reset_cause"] == m.RESET_FW_UPDATE
    assert len(board.cuts) == 1, board.cuts
    assert all(v in ("1.0.0", "1.1.0") for _s, v in board.boots)
    assert _version(board) == "1.1.0"


def test_fwupd_sim_power_cut_during_first_boot_and_confirm(board, compiled):
    # armed for the next power-on: the first boot of the new version loses power at its pointer write
    board.cut_when = lambda kind, rel, n: rel.startswith("fw/boot.json")
    f, version = _flash(board, image(compiled, "1.1.0"))
    assert version == "1.1.0" and len(board.cuts) == 1 and "boot" in board.cuts[0]
    pointer, _ = board.status()
    assert not pointer["trial"]


def test_fwupd_sim_dropped_link_resumes(board, compiled):
    dropped = []

    def on_progress(p):
        if not dropped and p.done > p.total // 3:
            dropped.append(p.done)
            board.drop_link()

    img = image(compiled, "1.1.0", small=False)
    f, version = _flash(board, img, on_progress=on_progress)
    assert version == "1.1.0"
    assert f.resumes >= 1 and f.link.reconnects >= 1
    assert f.resume_offsets and f.resume_offsets[0] > 0  # resumed, not restarted


def _refused(board, img, word, **kwargs):
    with pytest.raises(FlashError) as info:
        _flash(board, img, **kwargs)
    assert word in str(info.value), str(info.value)
    assert _version(board) == "1.0.0"
    assert board.boots == [("a", "1.0.0")]
    link = _link(board)
    assert link.call(m.FW_STATUS)["state"] == m.FW_IDLE
    link.close()
    return str(info.value)


def test_fwupd_sim_untrusted_signer_refused(board, compiled):
    msg = _refused(board, image(compiled, "1.1.0", key=OTHER, small=False), "untrusted")
    assert "board runs 1.0.0" in msg


def test_fwupd_sim_tampered_signature_refused_at_commit(board, compiled):
    img = bytearray(image(compiled, "1.1.0", small=False))
    mlen = int.from_bytes(img[8:12], "big")
    img[update_image.HEADER_SIZE + mlen + 40] ^= 0x01  # one bit of S
    msg = _refused(board, bytes(img), "signature")
    assert "board runs 1.0.0" in msg


def test_fwupd_sim_wrong_family_refused(board, compiled):
    _refused(board, image(compiled, "1.1.0", family="cunbox-locker-v9"), "family")


def test_fwupd_sim_downgrade_refused_unless_allowed(board, compiled):
    _refused(board, image(compiled, "0.9.0"), "downgrade")
    f, version = _flash(board, image(compiled, "0.9.0"), allow_downgrade=True)
    assert version == "0.9.0"


def test_fwupd_sim_lying_version_caught_by_signed_manifest(board, compiled):
    class Liar(Flasher):
        """Claims 2.0.0 in FW_BEGIN; the signed manifest inside says 0.9.0."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.version = "2.0.0"

    link = _link(board)
    with pytest.raises(FlashError, match="downgrade"):
        Liar(link, image(compiled, "0.9.0")).run()
    link.close()
    assert _version(board) == "1.0.0"


def test_fwupd_sim_corrupted_chunk_refused(board, compiled):
    img = image(compiled, "1.1.0")

    class Corrupting(Link):
        def call(self, msg_type, fields=None, auth=None):
            if msg_type == m.FW_CHUNK and fields["offset"] == 2240:
                data = bytearray(fields["data"])
                data[7] ^= 0x55
                fields = dict(fields, data=bytes(data))
            return Link.call(self, msg_type, fields, auth)

    link = Corrupting(board.url, ADDR, BOARD_KEY, baud=115200)
    with pytest.raises(FlashError, match="hash mismatch"):
        Flasher(link, img).run()
    link.close()
    assert _version(board) == "1.0.0"
    assert board.boots == [("a", "1.0.0")]


def test_fwupd_sim_failed_self_test_rolls_back(board, compiled):
    board.selftest_fail = "locks"
    with pytest.raises(FlashError, match="self-test"):
        _flash(board, image(compiled, "1.1.0"))
    for _ in range(100):
        if len(board.boots) >= 3:
            break
        import time
        time.sleep(0.05)
    assert board.boots == [("a", "1.0.0"), ("b", "1.1.0"), ("a", "1.0.0")]
    assert _version(board) == "1.0.0"
    pointer, _ = board.status()
    assert "self-test failed: locks" in pointer["note"]
    link = _link(board)
    events = link.call(m.EVENTS, {"cursor": 0, "max_count": 16})["events"]
    link.close()
    rollbacks = [m.decode_event_data(m.EV_FW_ROLLBACK, e["data"]) for e in events if e["kind"] == m.EV_FW_ROLLBACK]
    assert rollbacks == [{"version": "1.1.0"}]


def test_fwupd_sim_manifest_json_is_what_board_reports(board):
    pointer, slot = board.status()
    assert slot["version"] == "1.0.0" and json.dumps(pointer)
    assert update_image.parse_version(slot["version"]) == (1, 0, 0)
