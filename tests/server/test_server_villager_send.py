"""A villager books a send from the public page in two steps: sends.request_send checks everything and
texts a one-time number to the phone (nothing booked yet); sends.confirm_send with that number books
the send and returns the drop-off code, since the phone is now proven the villager's. The account is
found by phone at the locker's station and the audit trail names it."""
import datetime
import re

import pytest
from sqlalchemy import select
from support.server_world import build_world, snapshot

from server.errors import ApiError
from server.models import AccessCode, Compartment, Notification, Parcel, ParcelEvent, PhoneCheck
from server.services import notify, sends

T0 = datetime.datetime(2026, 12, 3, 4, 0)


def _number(db, phone):
    """The one-time number as the phone reads it: the latest phone_check SMS (the outbox is the only place)."""
    with db.reading() as s:
        body = s.scalars(select(Notification.body).where(Notification.phone == phone,
                                                         Notification.kind == "phone_check")
                         .order_by(Notification.id.desc())).first()
    return re.search(r"验证码(\d{6})", body).group(1)


def _ask(db, w, phone="+86 138-0000-0001", at=T0, **kw):
    args = {"size": "M"}
    args.update(kw)
    return sends.request_send(db, w.locker_id, w.carrier_id, args.pop("size"), phone=phone, source="ip:test",
                              now=at, **args)


def test_asking_books_nothing_and_texts_a_one_time_number(db):
    w = build_world(db)
    asked = _ask(db, w)
    assert asked["phone"] == "13800000001" and asked["check"]
    with db.reading() as s:
        assert s.scalars(select(Parcel)).all() == []
        assert s.scalars(select(Compartment).where(Compartment.state == "reserved")).all() == []
        note = s.scalars(select(Notification).where(Notification.kind == "phone_check")).one()
        assert note.parcel_id is None and note.phone == "13800000001" and len(note.body) <= 70
        check = s.scalars(select(PhoneCheck)).one()
        assert _number(db, "13800000001").encode() not in check.code_hash   # kept only as a hash


def test_the_number_typed_back_books_the_send_and_shows_the_code_once(db):
    w = build_world(db)
    asked = _ask(db, w)
    out = sends.confirm_send(db, asked["check"], _number(db, "13800000001"), now=T0 + datetime.timedelta(minutes=3))
    assert re.fullmatch(r"\d{8}", out["dropoff_code"]) and out["locker_id"] == w.locker_id
    with db.reading() as s:
        note = s.scalars(select(Notification).where(Notification.parcel_id == out["parcel_id"])).one()
        assert out["dropoff_code"] in note.body            # and by SMS, for later
        event = s.scalars(select(ParcelEvent).where(ParcelEvent.parcel_id == out["parcel_id"])).one()
        assert event.actor == "villager:account:%d" % w.consenting and event.to_state == "booked"
        code = s.scalars(select(AccessCode).where(AccessCode.parcel_id == out["parcel_id"])).one()
        assert code.purpose == "dropoff"
    # The same check cannot book twice (a double tap, a replayed form).
    before = snapshot(db)
    with pytest.raises(ApiError) as exc:
        sends.confirm_send(db, asked["check"], _number(db, "13800000001"))
    assert exc.value.code == "check_done" and snapshot(db) == before


def test_wrong_numbers_are_counted_and_then_the_check_is_used_up(db):
    w = build_world(db)
    asked = _ask(db, w)
    right = _number(db, "13800000001")
    wrong = "%06d" % ((int(right) + 1) % 10 ** 6)
    lefts = []
    for _ in range(5):
        with pytest.raises(ApiError) as exc:
            sends.confirm_send(db, asked["check"], wrong, now=T0)
        assert exc.value.code == "check_wrong"
        lefts.append(exc.value.details["left"])
    assert lefts == [4, 3, 2, 1, 0]
    with pytest.raises(ApiError) as exc:
        sends.confirm_send(db, asked["check"], right, now=T0)     # even the right one, now
    assert exc.value.code == "check_used_up"
    with db.reading() as s:
        assert s.scalars(select(Parcel)).all() == []


def test_an_expired_number_books_nothing(db):
    w = build_world(db)
    asked = _ask(db, w)
    with pytest.raises(ApiError) as exc:
        sends.confirm_send(db, asked["check"], _number(db, "13800000001"), now=T0 + datetime.timedelta(minutes=10))
    assert exc.value.code == "check_expired"
    with db.reading() as s:
        assert s.scalars(select(Parcel)).all() == []


def test_a_phone_gets_at_most_three_numbers_in_ten_minutes(db):
    w = build_world(db)
    for i in range(3):
        _ask(db, w, at=T0 + datetime.timedelta(minutes=i))
    before = snapshot(db)
    with pytest.raises(ApiError) as exc:
        _ask(db, w, at=T0 + datetime.timedelta(minutes=9))
    assert exc.value.code == "checks_throttled" and snapshot(db) == before
    _ask(db, w, at=T0 + datetime.timedelta(minutes=10, seconds=1))    # the first has left the window


def test_the_one_time_number_is_blanked_once_the_sms_is_out(db):
    w = build_world(db)
    _ask(db, w)
    sent = []

    class Gateway(notify.SmsAdapter):
        def send(self, phone, body):
            sent.append(body)

    assert notify.deliver_pending(db, Gateway()) == 1 and re.search(r"\d{6}", sent[0])
    with db.reading() as s:
        assert not re.search(r"\d{6}", s.scalars(select(Notification.body)).one())


@pytest.mark.parametrize("kwargs, code", [
    ({"phone": "13800000009"}, "no_account"),                    # not in this station's resident book
    ({"phone": "12345"}, "bad_phone"),
    ({"size": "XXL"}, "bad_size"),
    ({"perishable": True}, "chilled_agreement_required"),
    ({"size": "XL"}, "no_free_compartment"),
])
def test_refused_requests_text_nobody_and_change_nothing(db, kwargs, code):
    w = build_world(db)
    before = snapshot(db)
    with pytest.raises(ApiError) as exc:
        _ask(db, w, **kwargs)
    assert exc.value.code == code
    assert snapshot(db) == before


def test_a_phone_of_another_station_cannot_book_at_this_locker(db):
    w = build_world(db)
    before = snapshot(db)
    with pytest.raises(ApiError) as exc:
        sends.request_send(db, w.other_locker_id, w.carrier_id, "M", phone=w.consenting_phone, now=T0)
    assert exc.value.code == "no_account" and snapshot(db) == before


def test_an_unknown_locker_or_check_is_not_found(db):
    w = build_world(db)
    with pytest.raises(ApiError) as exc:
        sends.request_send(db, 999, w.carrier_id, "M", phone=w.consenting_phone, now=T0)
    assert exc.value.code == "not_found"
    with pytest.raises(ApiError) as exc:
        sends.confirm_send(db, "no-such-check", "123456", now=T0)
    assert exc.value.code == "no_check"


def test_a_phone_on_two_accounts_books_no_send_and_texts_nothing(db):
    """Whose send it would be, and whose notices, is for the keeper to settle: no one-time number goes out."""
    from server.models import Station
    from server.services import provisioning
    w = build_world(db)
    with db.transaction() as s:
        provisioning.account(s, s.get(Station, w.station_id), "Chen Gang", w.consenting_phone, consent=True)
    before = snapshot(db)
    with pytest.raises(ApiError) as e:
        _ask(db, w)
    assert e.value.code == "shared_phone" and "more than one villager account" in e.value.message
    assert snapshot(db) == before
