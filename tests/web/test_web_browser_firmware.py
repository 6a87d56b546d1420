"""A firmware rollout started from the maintainer's page updates simulated boards end to end, and the
page follows it live in Chinese: the demo stack's boards are provisioned trusting the demo signing key
(server/firmware_delivery/factory.py), the release is built with server/firmware_delivery/build.py and signed with that
key, the locker link carries it over the bus, the board verifies the signature, reboots into it and
reports the new version. A small image (one file) keeps the transfer short."""
import re

import pytest
from sqlalchemy import select
from support import ROOT
from support.browser import MARKS, shoot
from support.link_stack import online_stack, wait_for

from server.demo.stack import demo_signing_key
from server.firmware_delivery import build, keys
from server.models import Board

pytestmark = MARKS + [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-fw")
    yield from online_stack(root / "stack", transport="tcp", fw_signing_key=demo_signing_key(root))


def _small_release(key_path, version):
    files = [f for f in build.compile_tree(ROOT) if f[0] == "firmware/boot_select.mpy"]
    manifest = build.make_manifest(files, version, build.DEFAULT_FAMILY, 1, mpy=build.mpy_abi(files[0][1]))
    return build.pack(files, manifest, keys.read_private_key(key_path))


def _versions(st):
    with st.db.reading() as s:
        return {b.id: b.firmware_version for b in s.scalars(select(Board).where(Board.locker_id == st.locker_ids[0]))}


def test_rollout_from_the_page_updates_both_boards_and_the_page_follows_live(browser, stack):  # noqa: F811
    wait_for(lambda: set(_versions(stack).values()) == {"1.0.0"}, what="boards report the factory version")
    ids = sorted(_versions(stack))
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    ctx.set_default_timeout(20000)
    try:
        m = ctx.new_page()
        m.goto(stack.url + "/login")
        m.fill("#f-login", "maint")
        m.fill("#f-password", "demo-maint")
        m.click("button[type=submit]")
        m.wait_for_load_state()
        m.goto(stack.url + "/fleet/releases")
        m.set_input_files("#f-image", files=[{"name": "fw.bin", "mimeType": "application/octet-stream",
                                              "buffer": _small_release(stack.fw_signing_key, "1.0.1")}])
        m.click("form[enctype] button[type=submit]")
        m.wait_for_selector("text=固件已上传并通过校验")
        m.fill("#f-board_ids", ",".join(map(str, ids)))
        m.click("#rollout-form button[type=submit]")
        m.wait_for_selector("#rollout")
        assert re.search(r"/fleet/rollouts/\d+$", m.url)
        assert "1.0.1" in m.inner_text("h1")
        # no reload from here on: the page repaints itself from its JSON feed
        m.wait_for_selector("#rollout[data-state=completed]")
        counts = m.locator("#rollout-counts")
        assert counts.get_attribute("data-done") == "2" and counts.get_attribute("data-failed") == "0"
        assert counts.get_attribute("data-total") == "2" and counts.get_attribute("data-active") == "0"
        assert "共 2 台：完成 2 台，失败 0 台" in counts.inner_text()
        assert m.inner_text("#rollout-state") == "已完成"
        for bid in ids:
            row = "#rb-%d" % bid
            assert m.get_attribute(row, "data-state") == "done"
            assert m.inner_text(row + " .rb-state") == "完成"
            assert m.inner_text(row + " .rb-version") == "1.0.0 → 1.0.1"
        assert m.locator("[data-when=running]").is_hidden()  # the pause button went with the running state
        shoot(m, "fleet-rollout-live-done")
    finally:
        ctx.close()
    # the boards really run the new slot, and said so to the link
    sim = stack.sim_for(stack.locker_ids[0])
    assert [sim.board(a).fw_version() for a in (1, 2)] == ["1.0.1", "1.0.1"]
    assert set(_versions(stack).values()) == {"1.0.1"}
