"""A villager books a send from the public page (sends.book_send with sends.VILLAGER): the account is
found by phone at the locker's station, the drop-off code goes by SMS only, and the audit trail names
the account."""
import re

import pytest
from _server_helpers import *  # noqa: F403 - the shared fixtures (db, ...)
from _server_helpers import build_world, snapshot
from sqlalchemy import select

from server.errors import ApiError
from server.models import AccessCode, Notification, ParcelEvent
from server.services import sends


def test_villager_booking_sends_the_code_by_sms_only_and_names_the_account(db):
    w = build_world(db)
    out = sends.book_send(db, sends.VILLAGER, None, w.locker_id, w.carrier_id, "M", phone="+86 138-0000-0001")
    assert set(out) == {"parcel_id", "phone", "expires_at"} and out["phone"] == "13800000001"
    with db.reading() as s:
        note = s.scalars(select(Notification).where(Notification.parcel_id == out["parcel_id"])).one()
        assert note.phone == "13800000001" and re.search(r"\d{8}", note.body)
        event = s.scalars(select(ParcelEvent).where(ParcelEvent.parcel_id == out["parcel_id"])).one()
        assert event.actor == "villager:account:%d" % w.consenting and event.to_state == "booked"
        code = s.scalars(select(AccessCode).where(AccessCode.parcel_id == out["parcel_id"])).one()
        assert code.purpose == "dropoff"


@pytest.mark.parametrize("kwargs, code", [
    ({"phone": "13800000009"}, "no_account"),                    # not in this station's resident book
    ({"phone": "12345"}, "bad_phone"),
    ({"phone": "13800000001", "account_id": 1}, "bad_booking"),  # a villager cannot name an account
    ({"phone": "13800000001", "locker_id": 999}, "not_found"),
    ({"phone": "13800000001", "size": "XXL"}, "bad_size"),
])
def test_villager_booking_refusals_change_nothing(db, kwargs, code):
    w = build_world(db)
    args = {"account_id": None, "locker_id": w.locker_id, "size": "S"}
    args.update(kwargs)
    before = snapshot(db)
    with pytest.raises(ApiError) as exc:
        sends.book_send(db, sends.VILLAGER, args.pop("account_id"), args.pop("locker_id"), w.carrier_id,
                        args.pop("size"), **args)
    assert exc.value.code == code
    assert snapshot(db) == before


def test_a_phone_of_another_station_cannot_book_at_this_locker(db):
    w = build_world(db)
    before = snapshot(db)
    with pytest.raises(ApiError) as exc:
        sends.book_send(db, sends.VILLAGER, None, w.other_locker_id, w.carrier_id, "M", phone=w.consenting_phone)
    assert exc.value.code == "no_account" and snapshot(db) == before
