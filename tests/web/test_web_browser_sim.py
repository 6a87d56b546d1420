"""A courier deposit and a villager pickup end to end in headless Chromium against the whole stack:
server/demo/stack.Stack (a real SQLite file, simulated lockers on TCP running the real firmware, the locker
link and waitress). Nothing reports doors on the locker's behalf: the simulated door opens because the
link sent the command, and it closes because the person at the locker closes it (the simulator API).
Screenshots go to test-artifacts/screenshots/ like tests/web/test_web_browser.py.
"""
import re

import pytest
from support.browser import MARKS, SHOTS, shoot
from support.link_stack import (
    clear_code,
    online_stack,
    parcel_state,
    pulses,
    put_and_close,
    take_and_close,
    wait_for,
    where,
)

pytestmark = MARKS + [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from online_stack(tmp_path_factory.mktemp("web-sim") / "stack", transport="tcp")


def _page(browser, width):  # noqa: F811
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    ctx.set_default_timeout(15000)
    return ctx, ctx.new_page()


def _all_pulses(sim, addrs):
    return {(a, n): pulses(sim, a, n) for a, n in addrs}


def test_courier_deposit_and_villager_pickup_with_the_simulated_locker(browser, stack):  # noqa: F811
    lid = stack.locker_ids[0]
    sim = stack.sim_for(lid)
    doors = [(b, n) for b in range(1, stack.n_boards + 1) for n in range(1, stack.per_board + 1)]
    assert set(_all_pulses(sim, doors).values()) == {0}
    courier = stack.tokens["couriers"][0]["login"]  # "post-1", seeded with password "demo-post-1"
    phone = stack.accounts[0]["phone"]  # a consenting villager of the station

    cctx, page = _page(browser, 360)
    try:
        page.goto(stack.url + "/courier/login")
        page.fill("#f-login", courier)
        page.fill("#f-password", "demo-%s" % courier)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.url.endswith("/courier/"), page.url
        page.select_option("#f-locker_id", str(lid))
        page.fill("#f-tracking_number", "SF-BROWSER-SIM-1")
        page.fill("#f-phone", phone)
        page.select_option("#f-size", "S")
        page.click("#deposit-form button[type=submit]")
        page.wait_for_selector("#door-label")
        pid = int(re.search(r"/courier/parcel/(\d+)", page.url).group(1))
        addr, number = where(stack.db, pid)
        assert page.inner_text("#door-label").strip() == "%d-%d" % (addr, number)
        # The link really opened that door on the simulated board, with one lock pulse and no other.
        wait_for(lambda: sim.compartment(addr, number).door_open, what="the simulated door open")
        expected = {d: 0 for d in doors}
        expected[(addr, number)] = 1
        assert _all_pulses(sim, doors) == expected
        page.wait_for_selector("#door-command[data-outcome=opened]")
        shoot(page, "sim-courier-door")

        # The courier puts the parcel in and closes the door at the locker; the page notices by itself.
        put_and_close(sim, addr, number)
        page.set_viewport_size({"width": 360, "height": 900})
        page.wait_for_selector("text=投递成功")
        assert parcel_state(stack.db, pid) == "in_locker"
        shoot(page, "sim-courier-deposited")
    finally:
        cctx.close()

    # The villager follows the link from the SMS on a 360 px phone.
    with stack.db.reading() as s:
        from sqlalchemy import select

        from server.models import Notification
        body = s.scalars(select(Notification.body).where(Notification.parcel_id == pid,
                                                         Notification.kind == "pickup_code")
                         .order_by(Notification.id.desc())).first()
    token = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=", body).group(1)
    code = clear_code(stack.db, pid)
    vctx, page = _page(browser, 360)
    try:
        page.goto("%s/p/%s?c=%s" % (stack.url, token, code))
        assert page.inner_text("#pickup-code").replace(" ", "") == code
        content = page.content()
        assert "东村1号柜" in content and "东村 主街1号" in content
        assert page.inner_text("#pickup-deadline").strip()
        qr_box = page.locator("#pickup-qr").bounding_box()
        assert qr_box and qr_box["width"] >= 200, qr_box
        shoot(page, "sim-villager-pickup")
        page.set_viewport_size({"width": 360, "height": 900})
        # The QR code on the screen decodes (real decoder) to this locker and the code with its check digit.
        import zxingcpp
        from PIL import Image

        from server.services import qr
        png = SHOTS / "sim-villager-qr-element.png"
        page.locator("#pickup-qr").screenshot(path=str(png))
        assert [d.text for d in zxingcpp.read_barcodes(Image.open(png))] == [qr.payload(lid, code)]

        page.click("text=我在柜机前，开门")
        page.wait_for_selector("#pickup-opened", timeout=15000)   # the locker said it opened
        assert "号格口已打开" in page.inner_text("#pickup-opened")
        wait_for(lambda: sim.compartment(addr, number).door_open, what="the door opened for the villager")
        expected[(addr, number)] = 2  # one more pulse, on that compartment only
        assert _all_pulses(sim, doors) == expected
        take_and_close(sim, addr, number)
        wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="the parcel picked up")
        assert not sim.compartment(addr, number).door_open
        assert _all_pulses(sim, doors) == expected
        page.goto("%s/p/%s?c=%s" % (stack.url, token, code))
        page.wait_for_selector("#pickup-done")
        shoot(page, "sim-villager-picked-up")
    finally:
        vctx.close()
