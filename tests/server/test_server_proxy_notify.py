"""Proxies from the station book (who may collect for an account) get the pickup notification too,
saying whom the parcel is for, and can collect with the code it carries."""
import re

from sqlalchemy import select
from support.server_world import build_world

from server.models import Account, Notification, Parcel
from server.services import deposits, door_reports, pickups
from server.services.principals import Principal
from server.station_sync import runner

BOOK = ("账户编号,姓名,手机号,住址,同意柜递,同意日期,同意方式,代取人,无障碍\n"
        "A9,孙奶奶,13800000007,东村2组,是,2024-03-05,纸质同意书,李四:139 0000 0000;王五:137-1111-2222,低位\n"
        "A10,周大爷,13800000008,东村4组,是,2024-03-05,纸质同意书,,\n"
        "A11,吴婶,13800000006,东村5组,是,2024-03-05,纸质同意书,自己:13800000006,\n")


def _import_book(db, station_id):
    result = runner.import_file(db, station_id, BOOK.encode("utf-8"), "book.csv")
    assert result.status == "ok", (result.status, result.error)


def _deposit_and_confirm(db, w, tracking, phone):
    r = deposits.start_deposit(db, w.courier, w.locker_id, tracking, phone, "S")
    door_reports.door_event(db, r["compartment"]["id"], "closed", occupied=True)
    return r["parcel"]["id"], r["compartment"]["id"]


def _notes(db, parcel_id):
    with db.reading() as s:
        return [(n.kind, n.phone, n.body) for n in s.scalars(select(Notification).where(
            Notification.parcel_id == parcel_id).order_by(Notification.id))]


def test_each_proxy_gets_the_pickup_code_saying_whom_it_is_for(db):
    w = build_world(db)
    _import_book(db, w.station_id)
    pid, cid = _deposit_and_confirm(db, w, "PN700001", "138 0000 0007")
    notes = _notes(db, pid)
    assert notes[0][:2] == ("pickup_code", "13800000007")
    assert sorted((k, p) for k, p, _ in notes[1:]) == [("proxy_code", "13711112222"), ("proxy_code", "13900000000")]
    code = re.search(r"取件码(\d{8})", notes[0][2]).group(1)
    link = re.search(r"取件链接：(\S+)", notes[0][2]).group(1)
    for _kind, _phone, body in notes[1:]:
        assert body.startswith("【村邮柜】代取通知：孙奶奶（138****0007）的")
        assert "取件码%s" % code in body and link in body and "Dongcun locker 1" in body
    # The neighbour types the code from their own SMS at the locker: the door opens for the pickup.
    locker = Principal("locker", locker_id=w.locker_id)
    out = pickups.verify_at_locker(db, locker, w.locker_id, code)
    assert out["action"] == "pickup" and out["parcel"]["id"] == pid


def test_a_resent_code_reaches_the_proxies_too(db):
    w = build_world(db)
    _import_book(db, w.station_id)
    pid, _cid = _deposit_and_confirm(db, w, "PN700002", "13800000007")
    pickups.resend(db, w.operator, pid)
    notes = _notes(db, pid)
    assert [k for k, _, _ in notes] == ["pickup_code", "proxy_code", "proxy_code"] * 2
    new_code = re.search(r"取件码(\d{8})", notes[3][2]).group(1)
    assert all("取件码%s" % new_code in body for _, _, body in notes[4:])


def test_no_proxies_no_extra_messages_and_the_recipient_is_not_told_twice(db):
    w = build_world(db)
    _import_book(db, w.station_id)
    for tracking, phone in (("PN700003", "13800000008"), ("PN700004", "13800000006"),
                            ("PN700005", w.consenting_phone)):          # not in the synced book at all
        pid, _cid = _deposit_and_confirm(db, w, tracking, phone)
        assert [(k, p) for k, p, _ in _notes(db, pid)] == [("pickup_code", phone)]


def test_an_account_deleted_in_the_station_book_has_no_proxies(db):
    w = build_world(db)
    _import_book(db, w.station_id)
    from server.models.station_sync import StationAccountState
    with db.transaction() as s:
        account = s.scalar(select(Account).where(Account.phone == "13800000007"))
        s.scalar(select(StationAccountState).where(StationAccountState.account_id == account.id)).deleted = True
    pid, _cid = _deposit_and_confirm(db, w, "PN700006", "13800000007")
    assert [k for k, _, _ in _notes(db, pid)] == ["pickup_code"]
    with db.reading() as s:
        assert s.get(Parcel, pid).state == "in_locker"
