"""Words that are true (issue 15), through Flask's test client on a fresh copy of the test county:
a parcel's history says who did what in words; a pickup link tells a wrong, a missing and an expired
code apart; a signed-in user of the wrong role is told so; the fee page says who pays what (and the
recipient really pays nothing within the free period); an opened door names its compartment; a
rollout without a scope asks for one; a too-long entry says the limit; the SMS reads in Chinese."""
import io
import math
import re

import pytest
from sqlalchemy import select
from support.page_words import english_words
from support.web_world import built_copy, client_as, field_error, firmware_image, make_app

from server.models import Board, Compartment, LedgerLine, Notification
from server.services import door_reports


@pytest.fixture
def site(tmp_path):
    db, world = built_copy(tmp_path)
    app = make_app(db)
    yield app, world, db
    db.dispose()


def link_of(db, parcel_id):
    with db.reading() as s:
        body = s.scalars(select(Notification.body).where(Notification.parcel_id == parcel_id,
                                                         Notification.kind == "pickup_code")
                         .order_by(Notification.id.desc())).first()
    return body, re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", body).groups()


def label_of(db, compartment_id):
    with db.reading() as s:
        comp = s.get(Compartment, compartment_id)
        return "%d-%d" % (s.get(Board, comp.board_id).address, comp.index)


def text_of(html):
    return re.sub(r"<[^>]+>", " ", html)


def test_a_parcels_history_says_who_did_what_in_words(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    html = c.get("/station/parcels/%d" % world.overdue["parcel"]["id"]).get_data(as_text=True)
    text = text_of(html)
    assert "快递员 李师傅" in text and "开始投递，已预留格口" in text      # the courier, by name
    assert "投递完成，包裹在柜" in text and "柜机" in text                  # the door report, from the locker
    assert "保管期满，转为滞留件" in text and "系统" in text                # the overdue sweep
    for raw in ("deposit_started", "courier:", "storage_period_ended", "link", "system"):
        assert raw not in text, raw
    assert 'data-action="deposit_started"' in html     # the machine-readable action stays for scripts and tests


def test_a_pickup_link_tells_a_wrong_a_missing_and_an_expired_code_apart(site):
    app, world, db = site
    c = app.test_client()
    _, (token, code) = link_of(db, world.in_locker["parcel"]["id"])
    wrong = "%08d" % ((int(code) + 1) % 10 ** 8)
    missing = c.get("/p/%s" % token).get_data(as_text=True)
    assert "没有取件码" in missing and "失效" not in missing and "过期" not in missing
    bad = c.get("/p/%s?c=%s" % (token, wrong)).get_data(as_text=True)
    assert "取件码不对" in bad and "过期" not in bad
    garbled = c.get("/p/%s?c=12ab" % token).get_data(as_text=True)
    assert "取件码不对" in garbled
    good = c.get("/p/%s?c=%s" % (token, code)).get_data(as_text=True)
    assert 'id="pickup-code"' in good and "取件码不对" not in good
    # The overdue parcel's code passed its 72 hours: that one has expired, and says so.
    _, (old_token, old_code) = link_of(db, world.overdue["parcel"]["id"])
    expired = c.get("/p/%s?c=%s" % (old_token, old_code)).get_data(as_text=True)
    assert "取件码已过期" in expired and "取件码不对" not in expired


def test_a_signed_in_user_of_the_wrong_role_is_told_so_with_a_way_back(site):
    app, world, db = site
    for login, path, url, page_for in (("op-dongcun", "/login", "/fleet/releases", "运维人员"),
                                       ("courier-post", "/courier/login", "/station/fees", "站点管理员"),
                                       ("maint", "/login", "/courier/", "快递员")):
        c = client_as(app, login, path=path)
        r = c.get(url)
        body = r.get_data(as_text=True)
        assert r.status_code == 403 and "没有权限：这个页面仅供%s使用。" % page_for in body, (login, url)
        assert english_words(body)[0] == []
    # Not signed in at all: still the sign-in page, with the way back to the page asked for.
    r = app.test_client().get("/fleet/releases")
    assert r.status_code == 302 and "/login" in r.location


def test_the_fee_page_says_what_the_recipient_pays_apart_from_the_carrier(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    # A parcel picked up a minute after deposit: the carrier pays for the compartment, the recipient nothing.
    pid = world.in_locker["parcel"]["id"]
    _, (token, code) = link_of(db, pid)
    assert c.post("/p/%s/open?c=%s" % (token, code), data={"csrf_token": c.csrf}).status_code == 303
    comp = world.in_locker["compartment"]["id"]
    door_reports.door_event(db, comp, "opened")
    door_reports.door_event(db, comp, "closed", occupied=False)
    # The overdue one (four days in, 72 free hours) goes to the counter: one day past the free period.
    oid = world.overdue["parcel"]["id"]
    c.post("/station/overdue/%d/retrieve" % oid, data={"csrf_token": c.csrf})
    ocomp = world.overdue["compartment"]["id"]
    door_reports.door_event(db, ocomp, "opened")
    door_reports.door_event(db, ocomp, "closed", occupied=False)
    with db.reading() as s:
        lines = {(ln.parcel_id, ln.kind): (ln.payer, ln.amount_cents, ln.compartment_hours)
                 for ln in s.scalars(select(LedgerLine))}
    assert lines[(pid, "storage")][0] == "carrier"
    assert (pid, "recipient_fee") not in lines                      # within the free period: nothing
    payer, cents, hours_over = lines[(oid, "recipient_fee")]       # four days in: a little over 24 h late
    assert payer == "recipient" and 24 <= hours_over < 25
    assert cents == math.ceil(hours_over / 24) * 50                 # each day begun past the free 72 h, 0.50 yuan
    html = c.get("/station/fees").get_data(as_text=True)
    assert "收件人在免费保管期（72小时）内不付任何费用；超过后每天0.50元（不满一天按一天计）" in html
    assert "快递公司按格口占用付费" in html
    assert html.count('data-payer="recipient"') == 1 and 'data-payer="carrier"' in html
    assert english_words(html)[0] == []


def test_an_opened_door_names_its_compartment_for_the_villager_and_the_keeper(site):
    app, world, db = site
    _, (token, code) = link_of(db, world.in_locker["parcel"]["id"])
    villager = app.test_client()
    page = villager.get("/p/%s?c=%s" % (token, code)).get_data(as_text=True)
    assert "号格口已打开" not in page                   # not before the door was asked to open
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = villager.post("/p/%s/open?c=%s" % (token, code), data={"csrf_token": csrf}, follow_redirects=True)
    label = label_of(db, world.in_locker["compartment"]["id"])
    assert r.status_code == 200
    # Asked, not yet answered: the page says it is opening that door, not that it is open ...
    assert "正在打开 东村1号柜 · %s 号格口柜门" % label in r.get_data(as_text=True)
    assert "已打开" not in r.get_data(as_text=True)
    from sqlalchemy import select

    from server.models import LockerCommand
    with db.reading() as s:
        open_id = s.scalars(select(LockerCommand.id).where(
            LockerCommand.parcel_id == world.in_locker["parcel"]["id"], LockerCommand.kind == "open")
            .order_by(LockerCommand.id.desc())).first()
    assert villager.get("/p/%s/state.json" % token).get_json()["command"]["outcome"] == "waiting"
    door_reports.mark_command(db, open_id, "sent")
    door_reports.mark_command(db, open_id, "done", result="opened")
    # ... and once the locker said it opened, which door to empty.
    assert villager.get("/p/%s/state.json" % token).get_json()["command"]["outcome"] == "opened"
    page = villager.get("/p/%s?c=%s" % (token, code)).get_data(as_text=True)
    assert "东村1号柜 · %s 号格口已打开，请取件，取完请关门。" % label in page
    c = client_as(app, "op-dongcun")
    r = c.post("/station/overdue/%d/retrieve" % world.overdue["parcel"]["id"], data={"csrf_token": c.csrf},
               follow_redirects=True)
    label = label_of(db, world.overdue["compartment"]["id"])
    assert "已通知柜机打开 东村1号柜 · %s 号格口：柜门打开后请取出包裹放到柜台" % label in r.get_data(as_text=True)


def test_a_rollout_without_a_scope_asks_for_one_and_starts_nothing(site):
    app, world, db = site
    from server.models.firmware_delivery import FwRelease, FwRollout
    c = client_as(app, "maint")
    r = c.post("/fleet/releases", data={"csrf_token": c.csrf, "notes": "",
                                        "image": (io.BytesIO(firmware_image("1.3.0")), "fw-1.3.0.cbfw")},
               content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    with db.reading() as s:
        release_id = str(s.query(FwRelease).one().id)
    r = c.post("/fleet/rollouts", data={"csrf_token": c.csrf, "release_id": release_id, "failure_percent": "20"})
    assert r.status_code == 400
    assert field_error(r.get_data(as_text=True), "station_id").startswith("请选择一个范围")
    r = c.post("/fleet/rollouts", data={"csrf_token": c.csrf, "release_id": release_id, "failure_percent": "20",
                                        "percent": "50", "station_id": str(world.station_id)})
    assert r.status_code == 400 and "只能选一个" in field_error(r.get_data(as_text=True), "station_id")
    with db.reading() as s:
        assert s.query(FwRollout).count() == 0


def test_the_pickup_sms_reads_in_chinese(site):
    app, world, db = site
    body, (token, code) = link_of(db, world.in_locker["parcel"]["id"])
    words = set(re.findall(r"[A-Za-z]{2,}", body.replace("PN-IN-0001", "").split("http")[0]))
    rest = body.split(" 。", 1)[1]          # after the link: the fee policy
    assert words == set() and re.findall(r"[A-Za-z]{2,}", rest) == [], body
    assert "免费保管72小时，超时每天收取0.50元（由收件人支付）。" in body


def test_a_villager_open_that_failed_says_so_and_the_code_still_works(site):
    """A jammed door: the page says the door did not open and why, and shows the code again."""
    from sqlalchemy import select

    from server.models import LockerCommand
    app, world, db = site
    _, (token, code) = link_of(db, world.in_locker["parcel"]["id"])
    villager = app.test_client()
    page = villager.get("/p/%s?c=%s" % (token, code)).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    villager.post("/p/%s/open?c=%s" % (token, code), data={"csrf_token": csrf})
    with db.reading() as s:
        open_id = s.scalars(select(LockerCommand.id).where(
            LockerCommand.parcel_id == world.in_locker["parcel"]["id"], LockerCommand.kind == "open")
            .order_by(LockerCommand.id.desc())).first()
    door_reports.mark_command(db, open_id, "sent")
    door_reports.mark_command(db, open_id, "failed", result="jammed")
    page = villager.get("/p/%s?c=%s" % (token, code)).get_data(as_text=True)
    assert "柜门没有打开：柜门卡住，没有打开" in page and "已打开" not in page
    assert 'id="pickup-code"' in page and "我在柜机前，开门" in page
