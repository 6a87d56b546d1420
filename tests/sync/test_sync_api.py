"""Operator API for station sync: upload the book in the web page, conflicts, run log; station scoping.

The backend's `app` fixture checks every response against /api/v1/openapi.json."""
import io

from sqlalchemy import select
from support.server_world import bearer, build_world

from server.models import Account

BOOK = ("账户编号,姓名,手机号,同意柜递,同意日期\n"
        "A1,张三,+86 138-1234-5678,是,2024-03-05\n"
        "A2,王五,139 1234 5678,否,\n")


def test_upload_book_as_body_and_as_form_field(db, client):
    w = build_world(db)
    url = "/api/v1/stations/%d/accounts/import" % w.station_id
    r = client.post(url + "?dry_run=1", data=BOOK.encode("gbk"), headers=bearer(w.operator_token),
                    content_type="text/csv")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["counts"]["created"] == 2 and r.get_json()["dry_run"] is True
    with db.reading() as s:
        assert s.scalars(select(Account).where(Account.station_account_id.is_not(None))).all() == []
    r = client.post(url, data={"file": (io.BytesIO(BOOK.encode("utf-8")), "book.csv")},
                    headers=bearer(w.operator_token), content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["counts"]["created"] == 2
    runs = client.get("/api/v1/stations/%d/sync/runs" % w.station_id, headers=bearer(w.operator_token)).get_json()
    assert [x["status"] for x in runs["runs"]] == ["ok"]


def test_rejected_file_is_422_with_every_problem(db, client):
    w = build_world(db)
    bad = BOOK + "A1,重复,13800000009,否,\nA3,李四,12345,否,\n"
    r = client.post("/api/v1/stations/%d/accounts/import" % w.station_id, data=bad.encode("utf-8"),
                    headers=bearer(w.operator_token), content_type="text/csv")
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "file_rejected"
    rows = sorted({(e["row"], e["column"]) for e in err["report"]["errors"]})
    assert rows == [(2, "id"), (4, "id"), (5, "phones")]
    # Each problem: a key and its parameters for a page to word, and an English sentence as before.
    phone = next(e for e in err["report"]["errors"] if e["row"] == 5)
    assert phone["reason_key"] == "phone.not_11_digits" and phone["params"] == {"value": "12345", "count": 5}
    assert phone["message"] == "phone number 12345 does not have 11 digits (it has 5)"


def test_another_stations_operator_is_refused(db, client):
    w = build_world(db)
    r = client.post("/api/v1/stations/%d/accounts/import" % w.station_id, data=BOOK.encode("utf-8"),
                    headers=bearer(w.other_operator_token), content_type="text/csv")
    assert r.status_code == 404
    r = client.get("/api/v1/stations/%d/sync/conflicts" % w.station_id, headers=bearer(w.other_operator_token))
    assert r.status_code == 404
    r = client.post("/api/v1/stations/%d/accounts/import" % w.station_id, data=BOOK.encode("utf-8"),
                    headers=bearer(w.courier_token), content_type="text/csv")
    assert r.status_code == 403


def test_conflict_listed_and_resolved_over_the_api(db, client):
    w = build_world(db)
    url = "/api/v1/stations/%d" % w.station_id
    h = bearer(w.operator_token)
    r = client.post(url + "/accounts/import", data=BOOK.encode(), headers=h, content_type="text/csv")
    assert r.status_code == 200

    def locker_edit(s):
        a = s.scalar(select(Account).where(Account.station_account_id == "A1"))
        a.name = "张三（柜端）"
    db.run(locker_edit)
    changed = BOOK.replace("A1,张三,", "A1,张三丰,")
    r = client.post(url + "/accounts/import", data=changed.encode(), headers=h, content_type="text/csv")
    assert r.status_code == 200 and r.get_json()["counts"]["conflicts"] == 1
    conflicts = client.get(url + "/sync/conflicts", headers=h).get_json()["conflicts"]
    assert [(c["account"], c["field"], c["locker"], c["station"]) for c in conflicts] == [
        ("A1", "name", "张三（柜端）", "张三丰")]
    assert conflicts[0]["reason_key"] == "conflict.no_time" and conflicts[0]["reason_params"] == {}
    assert conflicts[0]["reason"] == ("changed at the station and at the locker and the station gave no time "
                                      "for its change")
    from server.models.station_sync import StationSyncConflict
    with db.reading() as s:       # stored as key + parameters, not as the sentence
        assert s.scalars(select(StationSyncConflict.reason)).one() == '{"key":"conflict.no_time","params":{}}'
    cid = conflicts[0]["id"]
    r = client.post(url + "/sync/conflicts/%d/resolve" % cid, json={"take": "sideways"}, headers=h)
    assert r.status_code == 400
    r = client.post(url + "/sync/conflicts/%d/resolve" % cid, json={"take": "station"}, headers=h)
    assert r.status_code == 200 and r.get_json()["value"] == "张三丰"
    assert client.post(url + "/sync/conflicts/%d/resolve" % cid, json={"take": "station"}, headers=h).status_code == 404
    assert client.get(url + "/sync/conflicts", headers=h).get_json()["conflicts"] == []
