"""The web pages in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against
the real WSGI app on 127.0.0.1 and a real SQLite file.

Door events: until the locker link (issue 5) drives simulated lockers here, the tests report doors
opening and closing through the backend's door-event service, exactly the call the link makes
(server.services.door_reports.door_event). Screenshots of every page at 360 px and 1280 px go to
test-artifacts/screenshots/.
"""
import re

import pytest
from sqlalchemy import select
from support.browser import MARKS, SHOTS, WIDTHS, shoot
from support.web_world import PASSWORDS, LiveServer, built_copy, make_app

from server.models import Compartment, LockerCommand, Notification, Parcel
from server.services import deposits, door_reports, qr

pytestmark = MARKS


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    db, world = built_copy(tmp_path_factory.mktemp("web-browser"))
    app = make_app(db)
    with LiveServer(app) as server:
        server.db, server.world = db, world
        yield server
    db.dispose()


@pytest.fixture
def page_for(browser, live):
    """page_for(login or None, width) -> a page in a fresh browser context (its own cookies)."""
    contexts = []

    def make(login=None, width=1280):
        ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
        ctx.set_default_timeout(10000)
        contexts.append(ctx)
        page = ctx.new_page()
        if login:
            path = "/courier/login" if login.startswith("courier") else "/login"
            page.goto(live.url + path)
            page.fill("#f-login", login)
            page.fill("#f-password", PASSWORDS[login])
            page.click("button[type=submit]")
            page.wait_for_load_state()
            assert "/login" not in page.url, page.content()
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def notification_link(db, parcel_id):
    with db.reading() as s:
        body = s.scalars(select(Notification.body).where(Notification.parcel_id == parcel_id,
                                                         Notification.kind == "pickup_code")
                         .order_by(Notification.id.desc())).first()
    token, code = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", body).groups()
    return token, code


def parcel_state(db, parcel_id):
    with db.reading() as s:
        return s.get(Parcel, parcel_id).state


def test_courier_deposit_then_villager_pickup_end_to_end(page_for, live):
    db, w = live.db, live.world
    courier = page_for("courier-post", width=360)
    assert courier.url.endswith("/courier/")
    shoot(courier, "courier-deposit")
    courier.select_option("#f-locker_id", str(w.locker_id))
    courier.fill("#f-tracking_number", "PN-BROWSER-01")
    courier.fill("#f-phone", "138 0000 0001")
    courier.select_option("#f-size", "S")
    courier.click("#deposit-form button[type=submit]")
    courier.wait_for_selector("#door-label")
    first_door = courier.inner_text("#door-label")
    parcel_id = int(re.search(r"/courier/parcel/(\d+)", courier.url).group(1))
    assert parcel_state(db, parcel_id) == "reserved"
    shoot(courier, "courier-door")

    # The parcel does not fit: the courier gets the next size up, a different door.
    courier.click("text=放不下，换大格口")
    courier.wait_for_selector("#door-label")
    second_door = courier.inner_text("#door-label")
    assert second_door != first_door
    with db.reading() as s:
        comp = s.get(Compartment, s.get(Parcel, parcel_id).active_compartment_id)
        assert comp.size == "M" and comp.state == "reserved"
        comp_id = comp.id

    # The link sends the open command and the board answers "opened": the page shows it by itself.
    assert "正在通知柜机开门" in courier.inner_text("#door-command")
    with db.reading() as s:
        cmd_id = s.scalars(select(LockerCommand.id).where(LockerCommand.parcel_id == parcel_id,
                                                          LockerCommand.compartment_id == comp_id,
                                                          LockerCommand.kind == "open")).one()
    door_reports.mark_command(db, cmd_id, "sent")
    door_reports.mark_command(db, cmd_id, "done", result="opened")
    courier.wait_for_selector("#door-command[data-outcome=opened]", timeout=15000)
    assert "柜机已确认开门" in courier.inner_text("#door-command")
    # The locker reports the door opened and closed with the parcel inside (as the link would).
    door_reports.door_event(db, comp_id, "opened")
    door_reports.door_event(db, comp_id, "closed", occupied=True)
    # The door page notices by itself (reload.js polls) and shows the deposit confirmed.
    courier.wait_for_selector("text=投递成功", timeout=15000)
    assert parcel_state(db, parcel_id) == "in_locker"
    shoot(courier, "courier-deposited")

    # The villager opens the link from the SMS on a phone.
    token, code = notification_link(db, parcel_id)
    villager = page_for(None, width=360)
    villager.goto("%s/p/%s?c=%s" % (live.url, token, code))
    assert villager.inner_text("#pickup-code").replace(" ", "") == code
    assert "东村主街1号" in villager.content() and "东村1号柜" in villager.content()
    assert villager.inner_text("#pickup-deadline")
    shoot(villager, "villager-pickup")
    # The QR code on the screen decodes (real decoder) to the locker and the code with its check digit.
    import zxingcpp
    from PIL import Image
    villager.set_viewport_size({"width": 360, "height": 900})
    png = SHOTS / "villager-qr-element.png"
    villager.locator("#pickup-qr").screenshot(path=str(png))
    box = villager.locator("#pickup-qr").bounding_box()
    assert box["width"] >= 250, "the QR code must be big enough to scan at the locker"
    decoded = zxingcpp.read_barcodes(Image.open(png))
    assert [d.text for d in decoded] == [qr.payload(w.locker_id, code)]

    # Open the door from the phone, standing at the locker; then the door closes empty.
    villager.click("text=我在柜机前，开门")
    # Until the locker answers the page says it is opening, never that it is open.
    villager.wait_for_selector("#pickup-opening")
    assert "已打开" not in villager.inner_text("#pickup")
    assert parcel_state(db, parcel_id) == "opening"
    with db.reading() as s:
        open_id = s.scalars(select(LockerCommand.id).where(LockerCommand.parcel_id == parcel_id,
                                                           LockerCommand.kind == "open")
                            .order_by(LockerCommand.id.desc())).first()
    door_reports.mark_command(db, open_id, "sent")
    door_reports.mark_command(db, open_id, "done", result="opened")
    villager.wait_for_selector("#pickup-opened", timeout=15000)   # reload.js noticed the locker's answer
    assert "号格口已打开" in villager.inner_text("#pickup-opened")
    door_reports.door_event(db, comp_id, "opened")
    door_reports.door_event(db, comp_id, "closed", occupied=False)
    villager.goto("%s/p/%s?c=%s" % (live.url, token, code))
    villager.wait_for_selector("#pickup-done")
    assert parcel_state(db, parcel_id) == "picked_up"
    shoot(villager, "villager-picked-up")


def test_courier_form_shows_errors_next_to_fields_in_the_browser(page_for, live):
    courier = page_for("courier-post", width=360)
    courier.fill("#f-tracking_number", "PN-BROWSER-02")
    courier.fill("#f-phone", "12345")
    courier.click("#deposit-form button[type=submit]")
    err = courier.locator("#e-phone")
    assert err.is_visible() and "11位手机号" in err.inner_text()
    # Right under its own input, not somewhere else on the page.
    inp, msg = courier.locator("#f-phone").bounding_box(), err.bounding_box()
    assert 0 <= msg["y"] - (inp["y"] + inp["height"]) < 40
    assert courier.input_value("#f-tracking_number") == "PN-BROWSER-02"    # the rest is kept
    shoot(courier, "courier-deposit-errors")


def test_operator_sees_live_colours_and_retrieves_an_overdue_parcel(page_for, live):
    db, w = live.db, live.world
    op = page_for("op-dongcun")
    assert op.url.endswith("/station/")
    overdue_cpt = w.overdue["compartment"]["id"]
    assert op.get_attribute("#cpt-%d" % overdue_cpt, "data-state") == "overdue"
    shoot(op, "station-lockers")

    def count(state):
        return int(op.inner_text("#count-" + state))

    # A courier reserves a compartment elsewhere: the operator's page repaints it without a reload,
    # and the legend's counters follow the tiles.
    free, reserved, occupied = count("free"), count("reserved"), count("occupied")
    out = deposits.start_deposit(db, w.courier, w.locker_id, "PN-LIVE-01", w.consenting_phone, "L")
    cid = out["compartment"]["id"]
    op.wait_for_selector("#cpt-%d[data-state=reserved]" % cid, timeout=15000)
    assert (count("free"), count("reserved")) == (free - 1, reserved + 1)
    door_reports.door_event(db, cid, "closed", occupied=True)
    op.wait_for_selector("#cpt-%d[data-state=occupied]" % cid, timeout=15000)
    assert (count("free"), count("reserved"), count("occupied")) == (free - 1, reserved, occupied + 1)
    tiles = op.eval_on_selector_all("[data-state]", "els => els.map(e => e.getAttribute('data-state'))")
    for state in ("free", "reserved", "occupied", "overdue"):
        assert count(state) == tiles.count(state), state

    op.goto(live.url + "/station/overdue")
    shoot(op, "station-overdue")
    row = op.locator("tr[data-parcel='%d']" % w.overdue["parcel"]["id"])
    row.locator("text=取回柜台").click()
    op.wait_for_selector("text=已通知柜机打开")
    pid = w.overdue["parcel"]["id"]
    assert parcel_state(db, pid) == "opening"
    door_reports.door_event(db, overdue_cpt, "opened")
    door_reports.door_event(db, overdue_cpt, "closed", occupied=False)
    assert parcel_state(db, pid) == "at_counter"
    op.goto(live.url + "/station/overdue")
    assert op.locator("tr[data-parcel='%d']" % pid).count() == 0
    op.goto(live.url + "/station/parcels?state=at_counter")
    assert "PN-OLD-0002" in op.content()


def test_operator_acknowledges_an_alarm(page_for, live):
    op = page_for("op-dongcun")
    op.goto(live.url + "/station/alarms")
    shoot(op, "station-alarms")
    op.locator("tr[data-alarm] >> text=确认").first.click()
    op.wait_for_selector("text=告警已确认")
    assert op.locator("tr[data-alarm]").count() == 0


def test_every_page_at_phone_and_desktop_width(page_for, live):
    db, w = live.db, live.world
    month = None
    from server.models import LedgerLine
    with db.reading() as s:
        month = s.scalars(select(LedgerLine.at).where(LedgerLine.station_id == w.station_id)).first().strftime("%Y-%m")
    anon = page_for(None)
    for name, path in (("home", "/"), ("login", "/login"), ("courier-login", "/courier/login"), ("send", "/send")):
        anon.goto(live.url + path)
        shoot(anon, name)
    anon.goto(live.url + "/login?lang=en")
    shoot(anon, "login-en")
    op = page_for("op-dongcun")
    for name, path in (("station-parcels", "/station/parcels"), ("station-residents", "/station/residents"),
                       ("station-fees", "/station/fees?month=" + month),
                       ("station-parcel", "/station/parcels/%d" % w.in_locker["parcel"]["id"])):
        op.goto(live.url + path)
        shoot(op, name)
    op.goto(live.url + "/station/?lang=en")
    shoot(op, "station-lockers-en")
    courier = page_for("courier-sf", width=360)
    courier.goto(live.url + "/courier/collect")
    shoot(courier, "courier-collect")
    maint = page_for("maint")
    for name, path in (("fleet-boards", "/fleet/"), ("fleet-releases", "/fleet/releases")):
        maint.goto(live.url + path)
        shoot(maint, name)
    for width in WIDTHS:
        assert (SHOTS / ("station-fees-%d.png" % width)).stat().st_size > 5000


BOOK = ("账户编号,姓名,手机号,住址,同意柜递,同意日期,同意方式,代取人,无障碍\n"
        "DC-101,孙丽,138 1111 0001,东村2组,是,2025年3月5日,纸质同意书,孙强:139 1111 0002,低位\n"
        "DC-102,周平,12345,东村3组,否,,,,\n"
        "DC-103,吴芳,+86 137-1111-0003,东村4组,同意,2025/6/1,电话,,\n")


def test_operator_imports_a_resident_book_with_a_bad_row(page_for, live):
    db, w = live.db, live.world
    from server.models import Account

    def names():
        with db.reading() as s:
            return {a.name for a in s.scalars(select(Account).where(Account.station_id == w.station_id))}

    before = names()
    op = page_for("op-dongcun")
    op.goto(live.url + "/station/residents")
    op.set_input_files("#f-file", files=[{"name": "东村名册.csv", "mimeType": "text/csv",
                                          "buffer": BOOK.encode("gbk")}])
    op.click("form[enctype] button[type=submit]")
    op.wait_for_selector("#import-report")
    # Refused whole, with the bad row named in the report and the error next to the file field.
    assert "文件被拒绝" in op.inner_text("#import-status")
    rows = op.locator("#import-report tr.rejected")
    assert rows.count() == 1 and rows.first.locator("td").first.inner_text().strip() == "第 3 行"
    assert rows.first.locator("td").nth(1).inner_text().strip() == "手机号不是11位（12345，共5位）"
    assert "1处问题" in op.inner_text("#e-file")
    assert names() == before
    shoot(op, "station-import-rejected")

    # The keeper chooses to import the good rows and skip the bad one.
    op.set_input_files("#f-file", files=[{"name": "东村名册.csv", "mimeType": "text/csv",
                                          "buffer": BOOK.encode("gbk")}])
    op.check("#f-apply_valid_rows")
    op.click("form[enctype] button[type=submit]")
    op.wait_for_selector("#import-report")
    assert "导入完成" in op.inner_text("#import-status")
    assert names() == before | {"孙丽", "吴芳"}
    shoot(op, "station-import-applied")
    op.goto(live.url + "/station/residents?q=孙丽")
    row = op.locator("tr[data-account]")
    assert row.count() == 1 and "孙强" in row.inner_text() and "13811110001" in row.inner_text()


def test_maintainer_uploads_a_release_and_starts_a_rollout(page_for, live):
    from support.web_world import firmware_image

    from server.firmware_delivery import queue
    db, w = live.db, live.world
    m = page_for("maint")
    m.goto(live.url + "/fleet/releases")
    # A tampered image is refused next to the file field; nothing is stored.
    bad = bytearray(firmware_image("1.3.0"))
    bad[-5] ^= 0xFF
    m.set_input_files("#f-image", files=[{"name": "fw.bin", "mimeType": "application/octet-stream",
                                          "buffer": bytes(bad)}])
    m.click("form[enctype] button[type=submit]")
    assert "校验失败" in m.inner_text("#e-image")
    m.set_input_files("#f-image", files=[{"name": "fw.bin", "mimeType": "application/octet-stream",
                                          "buffer": firmware_image("1.3.0")}])
    m.fill("#f-notes", "修复冷藏格温度上报")
    m.click("form[enctype] button[type=submit]")
    m.wait_for_selector("text=固件已上传并通过校验")
    # Two scopes at once: refused next to the scope field.
    m.select_option("#f-station_id", str(w.station_id))
    m.fill("#f-percent", "50")
    m.click("#rollout-form button[type=submit]")
    assert "只能选一个" in m.inner_text("#e-station_id")
    # One station, with a canary board: the rollout starts and shows every board of 东村.
    with db.reading() as s:
        from server.models import Board
        board_ids = sorted(b.id for b in s.scalars(select(Board).join(Board.locker)
                                                   .where(Board.locker.has(station_id=w.station_id))))
        # The canary: 东村2号柜's board, which holds no parcels, so no door command waits for it (boards
        # with queued commands are not updated until the link has sent them).
        canary = s.scalars(select(Board.id).where(Board.locker_id == w.locker2_id)).first()
    m.fill("#f-percent", "")
    m.fill("#f-canaries", str(canary))
    m.click("#rollout-form button[type=submit]")
    m.wait_for_selector("#rollout")
    assert m.get_attribute("#rollout", "data-state") == "running"
    assert m.locator("tr[data-board]").count() == len(board_ids)
    rollout_id = int(re.search(r"/fleet/rollouts/(\d+)", m.url).group(1))
    # Starting it queued the canary's update for the locker link; the link reports it done (as its bus
    # master would); the page shows the progress.
    with db.reading() as s:
        from server.models.firmware_delivery import FwRolloutBoard
        updating = {r.board_id: r.command_id for r in s.scalars(select(FwRolloutBoard).where(
            FwRolloutBoard.rollout_id == rollout_id, FwRolloutBoard.state == "updating"))}
    assert list(updating) == [canary]
    assert queue.finished(db, updating[canary], True, "1.3.0")
    m.reload()
    assert m.get_attribute("tr[data-board='%d']" % canary, "data-state") == "done"
    shoot(m, "fleet-rollout")
    m.click("button:text-is('暂停')")
    m.wait_for_selector("#rollout[data-state=paused]")
    m.goto(live.url + "/fleet/releases")
    assert m.locator("tr[data-rollout='%d']" % rollout_id).count() == 1
    shoot(m, "fleet-releases-with-rollout")


def test_villager_books_a_send_and_the_courier_collects_it(page_for, live):
    from server.services import pickups
    from server.services.principals import Principal
    db, w = live.db, live.world
    villager = page_for(None, width=360)
    villager.goto(live.url + "/send")
    villager.fill("#f-phone", w.consenting_phone)
    villager.select_option("#f-locker_id", str(w.locker2_id))
    villager.select_option("#f-carrier_id", str(w.carrier_id))
    villager.select_option("#f-size", "M")
    villager.click("#send-form button[type=submit]")
    # Step 2: the one-time number texted to the phone proves it is the villager's own.
    villager.wait_for_selector("#check-form")
    shoot(villager, "villager-send-check")
    with db.reading() as s:
        texted = s.scalars(select(Notification.body).where(Notification.kind == "phone_check")
                           .order_by(Notification.id.desc())).first()
    villager.fill("#f-number", re.search(r"验证码(\d{6})", texted).group(1))
    villager.click("#check-form button[type=submit]")
    villager.wait_for_selector("#send-booked")
    shoot(villager, "villager-send-booked")
    with db.reading() as s:
        sent = s.scalars(select(Parcel).where(Parcel.direction == "out", Parcel.locker_id == w.locker2_id)).one()
        body = s.scalars(select(Notification.body).where(Notification.parcel_id == sent.id)).one()
    code = re.search(r"投递码(\d{8})", body).group(1)
    assert villager.get_attribute("#send-code", "data-code") == code
    assert "东村2号柜" in villager.inner_text("#send-locker")
    # the code fits the phone's width (8 big digits, in two groups of 4)
    assert villager.eval_on_selector("#send-code", "e => e.scrollWidth <= e.clientWidth")
    # At the locker the villager types the drop-off code (the board asks the server), puts it in, closes.
    out = pickups.verify_at_locker(db, Principal("locker", locker_id=w.locker2_id), w.locker2_id, code)
    cid = out["compartment"]["id"]
    door_reports.door_event(db, cid, "opened")
    door_reports.door_event(db, cid, "closed", occupied=True)
    assert parcel_state(db, sent.id) == "awaiting_collection"

    courier = page_for("courier-post", width=360)
    courier.goto(live.url + "/courier/collect")
    card = courier.locator("section[data-parcel='%d']" % sent.id)
    assert card.count() == 1 and "东村2号柜" in card.inner_text()
    shoot(courier, "courier-collect-waiting")
    card.locator("button").click()
    courier.wait_for_selector("text=柜门已打开，请取出寄件")
    door_reports.door_event(db, cid, "opened")
    door_reports.door_event(db, cid, "closed", occupied=False)
    assert parcel_state(db, sent.id) == "collected"
    courier.goto(live.url + "/courier/collect")
    assert courier.locator("section[data-parcel='%d']" % sent.id).count() == 0


def test_operator_cancels_a_booked_send(page_for, live):
    """The station cancels a send nobody dropped off: the compartment is free for others again and
    the drop-off code opens nothing any more."""
    from server.errors import ApiError
    from server.models import AccessCode, Account
    from server.services import pickups, sends
    from server.services.principals import Principal
    db, w = live.db, live.world
    with db.reading() as s:
        account_id = s.scalars(select(Account.id).where(Account.phone == w.consenting_phone)).one()
    booked = sends.book_send(db, w.operator, account_id, w.locker_id, w.carrier_id, "S")
    pid, code = booked["parcel"]["id"], booked["dropoff_code"]
    with db.reading() as s:
        cid = s.get(Parcel, pid).active_compartment_id
        assert s.get(Compartment, cid).state == "reserved"

    op = page_for("op-dongcun", width=360)
    op.goto(live.url + "/station/parcels/%d" % pid)
    shoot(op, "station-send-booked")
    op.click("text=取消寄件预约")
    op.wait_for_selector("text=寄件预约已取消")
    assert parcel_state(db, pid) == "cancelled"
    with db.reading() as s:
        assert s.get(Compartment, cid).state == "free"
        assert s.scalars(select(AccessCode.state).where(AccessCode.parcel_id == pid)).all() == ["revoked"]
    assert op.locator("button:has-text(\"取消寄件预约\")").count() == 0  # no button for a send that is over
    with pytest.raises(ApiError) as refused:
        pickups.verify_at_locker(db, Principal("locker", locker_id=w.locker_id), w.locker_id, code)
    assert refused.value.code == "wrong_code"
