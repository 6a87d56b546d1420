"""The pages through Flask's test client: nothing of another station shows, every form refuses bad
input with a message next to the field and changes nothing."""
import re
from urllib.parse import quote

import pytest
from support.server_world import snapshot
from support.web_world import LEAK_MARKERS, built_copy, client_as, csrf_of, field_error, make_app

from server.models import Alarm, Parcel


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db, world = built_copy(tmp_path_factory.mktemp("web-pages"))
    app = make_app(db)
    yield app, world, db
    db.dispose()


def assert_no_leak(body, where):
    found = [m for m in LEAK_MARKERS if m in body]
    assert found == [], "%s shows another station's data: %s" % (where, found)


def _ledger_months(db, station_id):
    """The Beijing months in which the station has ledger lines."""
    from server.clock import beijing_month
    from server.models import LedgerLine
    with db.reading() as s:
        return {beijing_month(ln.at) for ln in s.query(LedgerLine).filter(LedgerLine.station_id == station_id)}


def test_no_operator_page_shows_another_stations_data(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    # Both stations' overdue parcels went in at the same instant, so some month has lines of both
    # (the world is built "now", which may be a month's last minute: its lines can span two months).
    shared = _ledger_months(db, world.station_id) & _ledger_months(db, world.other_station_id)
    assert shared
    month = min(shared)
    urls = ["/station/", "/station/lockers.json", "/station/parcels", "/station/overdue", "/station/alarms",
            "/station/alarms?all=1", "/station/residents", "/station/residents?q=西村", "/station/residents?q=1390",
            "/station/parcels?q=XC-SECRET", "/station/parcels?q=13900000009", "/station/parcels?state=overdue",
            "/station/fees?month=" + month, "/station/fees.csv?month=" + month]
    for url in urls:
        r = c.get(url)
        assert r.status_code == 200, url
        body = r.get_data(as_text=True)
        if "?q=" in url:   # the search box shows back what was typed; that is not a leak
            typed = url.split("?q=")[1]
            body = body.replace(typed, "").replace(quote(typed), "")
        assert_no_leak(body, url)
    # ... while 东村's own data is there, so the pages are not simply empty.
    assert "PN-OLD-0002" in c.get("/station/overdue").get_data(as_text=True)
    assert "中国邮政" in c.get("/station/fees.csv?month=" + month).get_data(as_text=True)
    assert "温度超限" in c.get("/station/alarms").get_data(as_text=True)
    # The other station's operator sees its own.
    c2 = client_as(app, "op-xicun")
    assert "XC-SECRET-9" in c2.get("/station/overdue").get_data(as_text=True)
    assert "PN-OLD-0002" not in c2.get("/station/overdue").get_data(as_text=True)


def test_operator_actions_on_another_stations_parcel_or_alarm_are_refused_and_change_nothing(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    with db.reading() as s:
        other_alarm = s.query(Alarm).filter(Alarm.station_id == world.other_station_id).one().id
    before = snapshot(db)
    other_parcel = world.other_parcel["parcel"]["id"]
    for url in ("/station/overdue/%d/retrieve" % other_parcel, "/station/overdue/%d/return" % other_parcel,
                "/station/alarms/%d/ack" % other_alarm):
        r = c.post(url, data={"csrf_token": c.csrf}, follow_redirects=True)
        body = r.get_data(as_text=True)
        assert "找不到这条记录" in body, url
        assert_no_leak(body, url)
    assert snapshot(db) == before


def test_a_courier_sees_only_its_carriers_parcels(site):
    app, world, db = site
    c = client_as(app, "courier-sf", path="/courier/login")
    theirs = world.in_locker["parcel"]["id"]                      # China Post's parcel
    assert c.get("/courier/parcel/%d" % theirs).status_code == 404
    assert c.get("/courier/parcel/%d.json" % theirs).status_code == 404
    before = snapshot(db)
    for action in ("did_not_fit", "cancel"):
        r = c.post("/courier/parcel/%d/%s" % (theirs, action), data={"csrf_token": c.csrf}, follow_redirects=True)
        assert "PN-IN-0001" not in r.get_data(as_text=True)
    r = c.post("/courier/collect/%d" % theirs, data={"csrf_token": c.csrf}, follow_redirects=True)
    assert "PN-IN-0001" not in r.get_data(as_text=True)
    assert snapshot(db) == before


def test_signed_out_visitors_reach_no_staff_page(site):
    app, world, _ = site
    c = app.test_client()
    for url in ("/station/", "/station/lockers.json", "/station/fees.csv", "/fleet/", "/fleet/releases",
                "/courier/", "/courier/collect", "/courier/parcel/%d" % world.in_locker["parcel"]["id"]):
        r = c.get(url)
        assert r.status_code == 302 and "login" in r.location, url


def test_login_form_marks_each_empty_field(site):
    app, _, _ = site
    c = app.test_client()
    r = c.post("/login", data={"csrf_token": csrf_of(c.get("/login").get_data(as_text=True))})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert field_error(html, "login") == "请填写此项。" and field_error(html, "password") == "请填写此项。"


def test_deposit_form_rejects_bad_input_next_to_each_field_and_changes_nothing(site):
    app, world, db = site
    c = client_as(app, "courier-post", path="/courier/login")
    before = snapshot(db)
    r = c.post("/courier/", data={"csrf_token": c.csrf, "locker_id": "999999", "tracking_number": "x!",
                                  "phone": "12345", "size": "XXL"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert field_error(html, "locker_id") == "请从列表中选择。"
    assert field_error(html, "tracking_number").startswith("运单号应为")
    assert field_error(html, "phone").startswith("请输入11位手机号")
    assert field_error(html, "size") == "请从列表中选择。"
    # A recipient who has not agreed to locker delivery: refused next to the phone, with the alternative.
    r = c.post("/courier/", data={"csrf_token": c.csrf, "locker_id": str(world.locker_id),
                                  "tracking_number": "PN-NOCONSENT", "phone": world.refusing_phone, "size": "S"})
    assert r.status_code == 400 and "站点柜台" in field_error(r.get_data(as_text=True), "phone")
    # A phone not in this station's book (it is in 西村's): refused, and 西村's resident is not named.
    r = c.post("/courier/", data={"csrf_token": c.csrf, "locker_id": str(world.locker_id),
                                  "tracking_number": "PN-NOACC", "phone": world.other_phone, "size": "S"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "本站没有这个手机号" in field_error(html, "phone")
    assert "机密户" not in html
    assert snapshot(db) == before


def test_search_and_month_fields_reject_bad_input_next_to_the_field(site):
    app, _, _ = site
    c = client_as(app, "op-dongcun")
    r = c.get("/station/fees?month=2026-13")
    assert r.status_code == 400 and field_error(r.get_data(as_text=True), "month").startswith("月份格式")
    assert c.get("/station/fees.csv?month=garbage").status_code == 400
    r = c.get("/station/parcels?q=" + "1" * 60)
    assert field_error(r.get_data(as_text=True), "q") == "内容太长：最多40个字。"   # says the limit


def test_send_booking_form_rejects_bad_input_next_to_each_field(site):
    app, world, db = site
    c = app.test_client()
    token = csrf_of(c.get("/send").get_data(as_text=True))
    before = snapshot(db)
    r = c.post("/send", data={"csrf_token": token, "phone": "999", "locker_id": "x", "carrier_id": "",
                              "size": "S", "perishable": "on"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert field_error(html, "phone") and field_error(html, "locker_id") and field_error(html, "carrier_id")
    # Fresh produce without the chilled-storage agreement.
    r = c.post("/send", data={"csrf_token": token, "phone": world.consenting_phone, "locker_id": str(world.locker_id),
                              "carrier_id": str(world.carrier_id), "size": "S", "perishable": "on"})
    assert r.status_code == 400 and field_error(r.get_data(as_text=True), "chilled_agreed")
    # A phone that is not in the resident book of the locker's station.
    r = c.post("/send", data={"csrf_token": token, "phone": world.other_phone, "locker_id": str(world.locker_id),
                              "carrier_id": str(world.carrier_id), "size": "S"})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and field_error(html, "phone") and "机密户" not in html
    assert snapshot(db) == before
    # A good request books nothing yet: a one-time number goes to the phone, the page asks for it.
    r = c.post("/send", data={"csrf_token": token, "phone": world.consenting_phone, "locker_id": str(world.locker_id),
                              "carrier_id": str(world.carrier_id), "size": "M", "nonce": "n1"})
    assert r.status_code == 303 and "/send/check/" in r.headers["Location"]
    check_url = r.headers["Location"]
    # The same form sent twice (a double tap) texts the phone once.
    r2 = c.post("/send", data={"csrf_token": token, "phone": world.consenting_phone,
                               "locker_id": str(world.locker_id), "carrier_id": str(world.carrier_id), "size": "M",
                               "nonce": "n1"})
    assert r2.status_code == 303 and r2.headers["Location"] == check_url
    from server.models import Notification
    with db.reading() as s:
        assert s.query(Parcel).filter(Parcel.direction == "out").count() == 0
        bodies = [n.body for n in s.query(Notification).filter(Notification.kind == "phone_check")]
    assert len(bodies) == 1
    number = re.search(r"验证码(\d{6})", bodies[0]).group(1)
    html = c.get(check_url).get_data(as_text=True)
    assert "138****0001" in html and number not in html
    # A wrong number says how many tries are left and books nothing.
    wrong = "%06d" % ((int(number) + 1) % 10 ** 6)
    r = c.post(check_url, data={"csrf_token": token, "number": wrong})
    assert r.status_code == 400 and field_error(r.get_data(as_text=True), "number") == "验证码不对，还可以再试4次。"
    r = c.post(check_url, data={"csrf_token": token, "number": "12ab"})
    assert r.status_code == 400 and field_error(r.get_data(as_text=True), "number") == "验证码是短信里的6位数字。"
    # The right number books the send; the booking page (a GET) shows the drop-off code and the locker.
    r = c.post(check_url, data={"csrf_token": token, "number": number})
    assert r.status_code == 303 and "/send/booked/" in r.headers["Location"]
    for _ in range(2):   # a reload books nothing more
        html = c.get(r.headers["Location"]).get_data(as_text=True)
        assert "138****0001" in html and "任意一个键盘" in html
    with db.reading() as s:
        sent = s.query(Parcel).filter(Parcel.direction == "out").one()
        assert sent.state == "booked" and sent.account_id is not None
        body = s.query(Notification).filter(Notification.parcel_id == sent.id).one().body
    code = re.search(r"投递码(\d{8})", body).group(1)
    assert 'id="send-code" data-code="%s">%s %s<' % (code, code[:4], code[4:]) in html
    # Going back to the check page goes to the booking; another browser is told it was confirmed.
    assert c.get(check_url).status_code == 303
    other = app.test_client()
    assert "这次预约已经确认过了" in other.get(check_url).get_data(as_text=True)
    assert other.get("/send/check/unknown-check").status_code == 404


def test_import_form_refuses_a_missing_file_and_another_stations_rows(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    before = snapshot(db)
    r = c.post("/station/residents", data={"csrf_token": c.csrf}, content_type="multipart/form-data")
    assert r.status_code == 400 and field_error(r.get_data(as_text=True), "file") == "请填写此项。"
    # Rows that say they belong to 西村's book are refused: a keeper imports only into their own station.
    book = ("账户编号,姓名,手机号,同意柜递,站点编号\n"
            "XC-NEW-1,外站户,13811112222,是,%d\n" % world.other_station_id).encode("utf-8")
    from io import BytesIO
    for extra, status in (({}, 400), ({"apply_valid_rows": "on"}, 200)):
        r = c.post("/station/residents", data=dict(extra, csrf_token=c.csrf, file=(BytesIO(book), "book.csv")),
                   content_type="multipart/form-data")
        html = r.get_data(as_text=True)
        assert r.status_code == status and field_error(html, "file")
        assert 'class="rejected"' in html
        assert_no_leak(html.replace("XC-NEW-1", ""), "import report")
        assert snapshot(db)["accounts"] == before["accounts"]


def test_fee_export_sums_each_carrier_of_the_month(site):
    app, world, db = site
    import csv

    from server.clock import beijing_month
    from server.models import Carrier, LedgerLine
    c = client_as(app, "op-dongcun")
    for month in sorted(_ledger_months(db, world.station_id)):     # one, or two if "now" is a month's end
        r = c.get("/station/fees.csv?month=" + month)
        assert r.headers["Content-Type"].startswith("text/csv") and "attachment" in r.headers["Content-Disposition"]
        rows = list(csv.DictReader(r.get_data(as_text=True).lstrip("\ufeff").splitlines()))
        totals = {row["carrier"]: row["amount_yuan"] for row in rows
                  if row["kind"] == "total" and row["payer"] == "carrier"}
        with db.reading() as s:
            want = {}
            for line, name in s.query(LedgerLine, Carrier.name).join(Carrier, Carrier.id == LedgerLine.carrier_id) \
                    .filter(LedgerLine.station_id == world.station_id):
                if beijing_month(line.at) == month and line.payer == "carrier":
                    want[name] = want.get(name, 0) + line.amount_cents
        assert totals == {name: "%.2f" % (cents / 100) for name, cents in want.items()} and totals, month


def test_signing_out_ends_the_session(site):
    app, _, _ = site
    c = client_as(app, "op-dongcun")
    assert c.get("/station/").status_code == 200
    assert c.post("/logout", data={"csrf_token": c.csrf}).status_code == 302
    assert c.get("/station/").status_code == 302


def test_operators_and_couriers_cannot_reach_the_maintainer_pages_or_forms(site):
    app, world, db = site
    before = snapshot(db)
    for login, path in (("op-dongcun", "/login"), ("courier-post", "/courier/login")):
        c = client_as(app, login, path=path)
        for url in ("/fleet/", "/fleet/releases", "/fleet/rollouts/1"):
            r = c.get(url)       # signed in, wrong role: a page that says so, not the sign-in form again
            body = r.get_data(as_text=True)
            assert r.status_code == 403 and "没有权限" in body and "运维人员" in body, (login, url)
            assert 'class="button" href="/"' in body          # and a way back to their own start page
        r = c.post("/fleet/rollouts", data={"csrf_token": c.csrf, "release_id": "1", "percent": "100",
                                            "failure_percent": "20"})
        assert r.status_code == 403 and "没有权限" in r.get_data(as_text=True)
    assert snapshot(db) == before


def test_parcel_page_and_code_actions_stay_within_the_station(site):
    app, world, db = site
    from server.models import AccessCode, Notification
    c = client_as(app, "op-dongcun")
    theirs = world.other_parcel["parcel"]["id"]
    r = c.get("/station/parcels/%d" % theirs)
    assert r.status_code == 404
    assert_no_leak(r.get_data(as_text=True), "other station's parcel page")
    before = snapshot(db)
    for action in ("resend", "revoke", "extend"):
        r = c.post("/station/parcels/%d/%s" % (theirs, action), data={"csrf_token": c.csrf, "hours": "24"},
                   follow_redirects=True)
        assert_no_leak(r.get_data(as_text=True), action)
    assert snapshot(db) == before
    # A bad extension is refused next to its field and changes nothing.
    mine = world.chilled["parcel"]["id"]
    r = c.post("/station/parcels/%d/extend" % mine, data={"csrf_token": c.csrf, "hours": "999"})
    assert r.status_code == 400 and field_error(r.get_data(as_text=True), "hours") == "请从列表中选择。"
    assert snapshot(db) == before
    # The real actions: re-send issues a new code (a new SMS), extend moves the deadline, with history shown.
    with db.reading() as s:
        old = s.query(AccessCode).filter(AccessCode.parcel_id == mine, AccessCode.state == "live").one()
        old_id, old_expiry = old.id, old.expires_at
    r = c.post("/station/parcels/%d/resend" % mine, data={"csrf_token": c.csrf}, follow_redirects=True)
    assert "已发送新的取件码" in r.get_data(as_text=True)
    r = c.post("/station/parcels/%d/extend" % mine, data={"csrf_token": c.csrf, "hours": "48"},
               follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "取件期限已延长" in html and "deposit_confirmed" in html
    with db.reading() as s:
        live = s.query(AccessCode).filter(AccessCode.parcel_id == mine, AccessCode.state == "live").one()
        assert live.id != old_id and (live.expires_at - old_expiry).total_seconds() == 48 * 3600
        kinds = [n.kind for n in s.query(Notification).filter(Notification.parcel_id == mine)]
        assert kinds.count("pickup_code") == 2 and "extended" in kinds


def test_reloading_or_resubmitting_the_send_success_page_books_once(site):
    """A phone's pull-to-refresh on the success page, or the same form sent twice, is one booking."""
    app, world, db = site
    c = app.test_client()
    with db.reading() as s:
        before = {p.id for p in s.query(Parcel).filter(Parcel.direction == "out")}
        from server.models import Notification
        texted = s.query(Notification).filter(Notification.kind == "phone_check").count()
    page = c.get("/send").get_data(as_text=True)
    token = csrf_of(page)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "nonce": nonce, "phone": world.consenting_phone,
            "locker_id": str(world.locker_id), "carrier_id": str(world.carrier_id), "size": "M"}
    r = c.post("/send", data=form)
    assert r.status_code == 303 and "/send/check/" in r.location      # redirect after POST
    check_url = r.location
    with db.reading() as s:
        body = s.query(Notification).filter(Notification.kind == "phone_check").order_by(
            Notification.id.desc()).first().body
    number = re.search(r"验证码(\d{6})", body).group(1)
    r = c.post(check_url, data={"csrf_token": token, "number": number})
    assert r.status_code == 303 and "/send/booked/" in r.location     # redirect after POST
    r_again = c.post(check_url, data={"csrf_token": token, "number": number})   # a double tap
    assert r_again.status_code == 303 and r_again.location == r.location
    for _ in range(3):
        again = c.get(r.location)                                        # reloads
        assert again.status_code == 200 and "138****0001" in again.get_data(as_text=True)
    html = again.get_data(as_text=True)
    assert 'id="send-locker"' in html and "任意一个键盘" in html                # which locker, where to type
    r2 = c.post("/send", data=form)                                      # the same form again
    assert r2.status_code == 303 and r2.location == check_url
    assert c.get(check_url).location == r.location                       # which goes to the booking
    with db.reading() as s:
        assert s.query(Notification).filter(Notification.kind == "phone_check").count() == texted + 1
        sends = [p for p in s.query(Parcel).filter(Parcel.direction == "out") if p.id not in before]
        assert len(sends) == 1
        assert s.query(Notification).filter(Notification.parcel_id == sends[0].id).count() == 1


def test_the_courier_page_never_says_open_once_the_door_failed(site):
    """Waiting: 'opening', never 'open'; past the deadline or failed: the door did not open, why, and
    what to do; the page stops claiming the door is open the moment the deadline passes."""
    import datetime

    import time_machine

    from server.models import LockerCommand
    from server.services import deposits, link_commands
    app, world, db = site
    c = client_as(app, "courier-post", path="/courier/login")
    out = deposits.start_deposit(db, world.courier, world.locker_id, "PN-LATE-01", world.consenting_phone, "S")
    pid, cid = out["parcel"]["id"], out["command"]["id"]
    html = c.get("/courier/parcel/%d" % pid).get_data(as_text=True)
    assert "正在打开柜门" in html and "柜门已打开" not in html and "正在通知柜机开门" in html
    with db.reading() as s:
        deadline = s.get(LockerCommand, cid).deadline_at
    later = deadline.replace(tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=2)
    with time_machine.travel(later, tick=False):
        # not withdrawn yet (no link, no housekeeping): the page judges by the deadline already
        body = c.get("/courier/parcel/%d.json" % pid).get_json()
        assert body["command"]["outcome"] == "failed"
        html = c.get("/courier/parcel/%d" % pid).get_data(as_text=True)
        assert "柜门没有打开" in html and "柜门已打开" not in html and "驿站柜台" in html
        assert link_commands.withdraw_late_opens(db) >= 1  # this one and any the shared world left waiting
    html = c.get("/courier/parcel/%d" % pid).get_data(as_text=True)
    assert "柜门没有打开" in html and "柜机没有及时回应" in html and "柜门已打开" not in html
    with db.reading() as s:
        assert s.get(Parcel, pid).state == "cancelled"


def test_the_villagers_open_redirects_and_a_reload_opens_nothing_again(site):
    """开门 on the pickup link page: one open command, then a GET page; reloading it or sending the
    form again opens nothing more."""
    from support.web_world import deposit_confirmed

    from server.models import LockerCommand, Notification
    app, world, db = site
    out = deposit_confirmed(db, world.courier, world.locker_id, "PN-OPEN-PRG-1", world.consenting_phone, "S")
    pid = out["parcel"]["id"]
    with db.reading() as s:
        body = s.query(Notification).filter(Notification.parcel_id == pid,
                                            Notification.kind == "pickup_code").one().body
    token, code = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", body).groups()
    c = app.test_client()
    page = c.get("/p/%s?c=%s" % (token, code)).get_data(as_text=True)
    form = {"csrf_token": csrf_of(page)}
    r = c.post("/p/%s/open?c=%s" % (token, code), data=form)
    assert r.status_code == 303 and r.location.endswith("/p/%s?c=%s" % (token, code))
    for _ in range(2):
        assert c.get(r.location).status_code == 200  # reloads: GETs
    again = c.post("/p/%s/open?c=%s" % (token, code), data=form)  # the form sent twice: refused
    assert again.status_code >= 400
    with db.reading() as s:
        opens = s.query(LockerCommand).filter(LockerCommand.parcel_id == pid, LockerCommand.kind == "open",
                                              LockerCommand.purpose == "pickup").count()
        assert opens == 1
