"""A station counts days and months in Beijing time (UTC+8), while the database keeps UTC: fees by
month, the fee page's default month, consent dates, and the dates a station may send."""
import datetime

import time_machine
from support.server_world import bearer, build_world

from server import clock
from server.services import deposits, door_reports
from server.station_sync import fields, store
from server.web import queries

UTC = datetime.timezone.utc
# 1 December 01:00 in Beijing, while UTC is still 30 November 17:00.
EARLY_DECEMBER = datetime.datetime(2026, 11, 30, 17, 0, 0)
# 30 November 23:00 in Beijing (15:00 UTC): the same UTC day, the other Beijing month.
LATE_NOVEMBER = datetime.datetime(2026, 11, 30, 15, 0, 0)


def test_month_bounds_are_beijing_midnights_as_stored_utc():
    assert clock.month_bounds("2026-12") == (datetime.datetime(2026, 11, 30, 16, 0),
                                             datetime.datetime(2026, 12, 31, 16, 0))
    assert clock.month_bounds("2028-02") == (datetime.datetime(2028, 1, 31, 16, 0),
                                             datetime.datetime(2028, 2, 29, 16, 0))   # a leap February
    assert clock.beijing_month(EARLY_DECEMBER) == "2026-12" and clock.beijing_month(LATE_NOVEMBER) == "2026-11"
    assert clock.beijing_text(datetime.datetime(2026, 12, 31, 16, 30)) == "2027-01-01 00:30"
    assert clock.beijing_date(datetime.datetime(2028, 2, 29, 15, 59)) == datetime.date(2028, 2, 29)
    assert clock.beijing_date(datetime.datetime(2028, 2, 29, 16, 0)) == datetime.date(2028, 3, 1)


def _deposit_at(db, w, tracking, when):
    r = deposits.start_deposit(db, w.courier, w.locker_id, tracking, w.consenting_phone, "S", now=when)
    door_reports.door_event(db, r["compartment"]["id"], "closed", occupied=True, at=when)
    return r["parcel"]["id"]


def test_a_deposit_after_beijing_midnight_is_billed_in_the_beijing_month(db, client):
    w = build_world(db)
    december = _deposit_at(db, w, "PN-DEC-1", EARLY_DECEMBER)
    november = _deposit_at(db, w, "PN-NOV-1", LATE_NOVEMBER)
    # The operator's API: ?month= is a Beijing month.
    for month, want, not_want in (("2026-12", december, november), ("2026-11", november, december)):
        r = client.get("/api/v1/stations/%d/ledger?month=%s" % (w.station_id, month), headers=bearer(w.operator_token))
        ids = {ln["parcel_id"] for ln in r.get_json()["lines"]}
        assert want in ids and not_want not in ids, month
    # The fee page's query and its list of months.
    with db.reading() as s:
        lines, _totals = queries.ledger(s, w.station_id, "2026-12")
        assert {ln["tracking_number"] for ln in lines} == {"PN-DEC-1"}
        assert queries.ledger_months(s, w.station_id) == ["2026-12", "2026-11"]


def test_the_fee_pages_default_month_is_todays_beijing_month():
    with time_machine.travel(datetime.datetime(2026, 11, 30, 16, 30, tzinfo=UTC), tick=False):
        assert clock.beijing_month() == "2026-12"             # UTC says November
        assert clock.beijing_today() == datetime.date(2026, 12, 1)


def test_consent_recorded_early_in_the_morning_carries_that_beijing_date():
    class Row:
        name, phone, consent_locker, consent_source, height_preference, deleted_at = "陈梅", "1", True, "x", None, None
    row = Row()
    row.consent_at = datetime.datetime(2026, 12, 1, 23, 30)    # 07:30 on 2 December in Beijing
    assert store.read_columns(row)["consent_at"] == "2026-12-02"
    # A station's consent date is stored as that day's Beijing midnight and reads back as the same day.
    cols = store.columns_for({"name": "陈梅", "phone": "1", "consent_locker": True, "consent_source": "x",
                              "height_preference": None, "consent_at": "2026-12-02", "deleted": False},
                             now=datetime.datetime(2026, 12, 3))
    assert cols["consent_at"] == datetime.datetime(2026, 12, 1, 16, 0)
    row.consent_at = cols["consent_at"]
    assert store.read_columns(row)["consent_at"] == "2026-12-02"


def test_a_stations_date_is_judged_against_the_beijing_day():
    # 01:00 on 2 December in Beijing, 1 December in UTC: a form signed "tomorrow" (clock skew allowed)
    # is 3 December; 4 December is in the future.
    with time_machine.travel(datetime.datetime(2026, 12, 1, 17, 0, tzinfo=UTC), tick=False):
        assert fields.parse_date("2026-12-03") == datetime.date(2026, 12, 3)
        try:
            fields.parse_date("2026-12-04")
        except fields.FieldError as exc:
            assert "future" in str(exc)
        else:
            raise AssertionError("a date two Beijing days ahead was accepted")
