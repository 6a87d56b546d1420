"""Firmware updates through the locker link's durable queue: a rollout queues 'firmware' commands, the
locker's bus master runs them with the Flasher over the bus it already holds (a pty to a simulated
locker running the real firmware, updater and boot selector), a slice at a time between its other
work. Door opens still work meanwhile; a link restart mid-transfer resumes from the board's offset
instead of flashing again; a bad image is refused before anything is queued."""
import base64

import pytest
from sqlalchemy import select
from support import ROOT
from support.link_stack import call, deposit, wait_for

from firmware import ed25519, update_handler
from server.demo.stack import Stack
from server.firmware_delivery import build as builder
from server.models import Board, LockerCommand
from server.models.firmware_delivery import FwRolloutBoard

pytestmark = pytest.mark.timeout(180)

FLEET = bytes(range(32))  # the maintainers' Ed25519 signing key (seed); boards and server hold FLEET_PUB
FLEET_PUB = ed25519.public_key(FLEET)


@pytest.fixture(scope="module")
def files():
    return builder.compile_tree(ROOT)  # the whole firmware (~66 kB): a transfer long enough to interleave


def img(files, version):
    return builder.pack(files, builder.make_manifest(files, version, builder.DEFAULT_FAMILY, 1, mpy=6), FLEET)


@pytest.fixture
def begins(monkeypatch):
    """Board directory -> how many FW_BEGINs (transfers started from byte 0) it took."""
    counts = {}
    orig = update_handler.FwHandler._begin

    def counting(self, f):
        root = self.updater.fs.root
        counts[root] = counts.get(root, 0) + 1
        return orig(self, f)
    monkeypatch.setattr(update_handler.FwHandler, "_begin", counting)
    return counts


@pytest.fixture
def stack(tmp_path, files):
    st = Stack(root=str(tmp_path / "stack"), lockers=1, boards=2, per_board=4, transport="pty", baud=115200,
               status_period_s=0.2, wait_s=8,
               board_options={"fw_image": img(files, "1.0.0"), "fw_pubkeys": [FLEET_PUB]})
    st.start()
    st.app.config["FW_PUBKEYS"] = [FLEET_PUB]
    try:
        wait_for(lambda: _versions(st) == {1: "1.0.0", 2: "1.0.0"}, what="boards online, versions known")
        yield st
    finally:
        st.stop()


def _versions(st):
    with st.db.reading() as s:
        return {b.address: b.firmware_version for b in s.scalars(select(Board).where(
            Board.locker_id == st.locker_ids[0]))}


def _board_ids(st):
    with st.db.reading() as s:
        return {b.address: b.id for b in s.scalars(select(Board).where(Board.locker_id == st.locker_ids[0]))}


def _fw_commands(st):
    with st.db.reading() as s:
        return [(c.board_id, c.state, c.result) for c in s.scalars(
            select(LockerCommand).where(LockerCommand.kind == "firmware").order_by(LockerCommand.id))]


def _start_rollout(st, files, version, canary_address=1):
    h = st.tokens["maintainer"]
    status, rel = call("POST", st.url + "/api/v1/firmware/releases", h,
                       {"image_base64": base64.b64encode(img(files, version)).decode()})
    assert status == 201, rel
    ids = _board_ids(st)
    status, ro = call("POST", st.url + "/api/v1/firmware/rollouts", h,
                      {"release_id": rel["id"], "board_ids": sorted(ids.values()), "canaries": [ids[canary_address]]})
    assert status == 201, ro
    return ro


def _progress(st, ro):
    status, p = call("GET", st.url + ro["status_url"], st.tokens["maintainer"])
    assert status == 200, p
    return p


def _staged_bytes(st, address):
    """Bytes of the new image the board holds in its staging area (-1: none)."""
    from firmware import boot_select
    fs = boot_select.FlashFs(st.sims[st.locker_ids[0]].board(address).dir)
    return fs.size("fw/staging/image.bin")


def _slots(st, address):
    from firmware import boot_select
    b = st.sims[st.locker_ids[0]].board(address)
    return boot_select.read_pointer(boot_select.FlashFs(b.dir)), b.fw_version()


def test_rollout_to_two_boards_through_the_queue_while_a_door_opens(stack, files, begins):
    lid = stack.locker_ids[0]
    ro = _start_rollout(stack, files, "1.1.0")
    assert ro["state"] == "running" and ro["totals"]["updating"] == 1  # the canary's update queued at once
    # while the canary's image is crossing the bus, a courier deposits a parcel on the same locker
    wait_for(lambda: _staged_bytes(stack, 1) > 4000, what="transfer under way")
    status, out = deposit(stack, lid, "SF-FW-1", stack.accounts[0]["phone"])
    assert status in (200, 201), out
    assert out["command"]["state"] == "done" and out["command"]["result"] == "opened", out
    during = _fw_commands(stack)
    assert during[0][1] == "sent" and _staged_bytes(stack, 1) < len(img(files, "1.1.0"))  # it went first
    p = wait_for(lambda: (lambda p: p if p["state"] != "running" else None)(_progress(stack, ro)), timeout=120,
                 what="rollout finished")
    assert p["state"] == "completed", p
    assert {b["version"] for b in p["boards"]} == {"1.1.0"} and p["totals"]["done"] == 2
    ids = _board_ids(stack)
    assert _fw_commands(stack) == [(ids[1], "done", "version:1.1.0"), (ids[2], "done", "version:1.1.0")]
    for address in (1, 2):
        pointer, running = _slots(stack, address)
        assert running == "1.1.0" and pointer["active"] == "b" and not pointer["trial"]  # confirmed
        assert begins[stack.sims[lid].board(address).dir] == 1
    assert _versions(stack) == {1: "1.1.0", 2: "1.1.0"}


def test_link_restart_mid_transfer_resumes_instead_of_flashing_again(stack, files, begins):
    lid = stack.locker_ids[0]
    ro = _start_rollout(stack, files, "1.2.0", canary_address=2)
    wait_for(lambda: _staged_bytes(stack, 2) > 8000, what="transfer under way")
    stack.stop_linker()  # the link (or the whole server) goes away mid-transfer
    held = _staged_bytes(stack, 2)
    assert 0 < held < len(img(files, "1.2.0"))
    assert _fw_commands(stack)[0][1] == "sent"  # not lost, not finished: its outcome is unknown
    stack.start_linker()  # the server's link comes back
    p = wait_for(lambda: (lambda p: p if p["state"] != "running" else None)(_progress(stack, ro)),
                 timeout=120, what="rollout finished after the restart")
    assert p["state"] == "completed", p
    board_dir = stack.sims[lid].board(2).dir
    assert begins[board_dir] == 1  # resumed from the board's offset, never begun again
    assert [c[1:] for c in _fw_commands(stack)] == [("done", "version:1.2.0"), ("done", "version:1.2.0")]
    assert _slots(stack, 2)[1] == "1.2.0" and _slots(stack, 1)[1] == "1.2.0"
    with stack.db.reading() as s:
        assert all(r.attempts == 1 for r in s.scalars(select(FwRolloutBoard)))


def test_bad_image_is_refused_before_anything_is_queued(stack, files):
    bad = bytearray(img(files, "1.3.0"))
    bad[-10] ^= 0x01
    status, out = call("POST", stack.url + "/api/v1/firmware/releases", stack.tokens["maintainer"],
                       {"image_base64": base64.b64encode(bytes(bad)).decode()})
    assert status == 400 and out["error"]["code"] == "bad_image", out
    status, out = call("POST", stack.url + "/api/v1/firmware/releases", stack.tokens["maintainer"],
                       {"image_base64": base64.b64encode(img(files, "1.3.0")[:-1]).decode()})
    assert status == 400, out
    assert _fw_commands(stack) == []
    assert _versions(stack) == {1: "1.0.0", 2: "1.0.0"}
