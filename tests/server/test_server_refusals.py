"""Every refusal is a clear JSON error and leaves the database exactly as it was."""
import datetime

import pytest
from support.server_world import bearer, build_world, last_code, snapshot

from server.services import door_reports


def _deposit_body(w, **over):
    body = {"locker_id": w.locker_id, "tracking_number": "PN000001", "recipient_phone": w.consenting_phone,
            "size": "S"}
    body.update(over)
    return body


def assert_refused(db, client, method, url, status, code, headers=None, json=None, **kw):
    before = snapshot(db)
    r = client.open(url, method=method, headers=headers, json=json, **kw)
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.is_json, r.get_data(as_text=True)
    err = r.get_json()["error"]
    assert err["code"] == code and err["message"]
    assert snapshot(db) == before
    return err


def test_no_consent_is_refused_with_the_counter_as_alternative(db, client):
    w = build_world(db)
    err = assert_refused(db, client, "POST", "/api/v1/deposits", 422, "no_consent", bearer(w.courier_token),
                         _deposit_body(w, recipient_phone=w.refusing_phone))
    assert err["alternative"] == "station_counter" and "agreed to locker delivery" in err["message"]
    err = assert_refused(db, client, "POST", "/api/v1/deposits", 422, "no_account", bearer(w.courier_token),
                         _deposit_body(w, recipient_phone="13900000009"))
    assert err["alternative"] == "station_counter"


def test_a_phone_on_two_accounts_is_nobodys_until_the_keeper_settles_it(db, client):
    """Chen Mei (consenting) and a second account on her phone: a deposit must not take either one's consent
    and notice; once the book no longer has the phone twice, the deposit goes through."""
    from server.models import Account, Station
    from server.services import provisioning
    w = build_world(db)
    with db.transaction() as s:
        station = s.get(Station, w.station_id)
        second = provisioning.account(s, station, "Chen Gang", w.consenting_phone, consent=False).id
    err = assert_refused(db, client, "POST", "/api/v1/deposits", 422, "shared_phone", bearer(w.courier_token),
                         _deposit_body(w))
    assert err["alternative"] == "station_counter" and "more than one villager account" in err["message"]
    with db.transaction() as s:
        s.get(Account, second).phone = "13800000077"     # the keeper corrected the book
    r = client.post("/api/v1/deposits", headers=bearer(w.courier_token), json=_deposit_body(w))
    assert r.status_code == 201, r.get_data(as_text=True)


def test_no_free_compartment(db, client):
    w = build_world(db, layout=[(1, [("S", False, "middle")])])
    r = client.post("/api/v1/deposits", headers=bearer(w.courier_token), json=_deposit_body(w))
    assert r.status_code == 201
    err = assert_refused(db, client, "POST", "/api/v1/deposits", 422, "no_free_compartment",
                         bearer(w.courier_token), _deposit_body(w, tracking_number="PN000002"))
    assert err["alternative"] == "station_counter"
    # Perishables need a chilled door; there is none.
    assert_refused(db, client, "POST", "/api/v1/deposits", 422, "no_free_compartment", bearer(w.courier_token),
                   _deposit_body(w, tracking_number="PN000003", perishable=True))


@pytest.mark.parametrize("body,field", [
    ({"tracking_number": "PN000001", "recipient_phone": "13800000001", "size": "S"}, "locker_id"),
    ({"locker_id": "1", "tracking_number": "PN000001", "recipient_phone": "13800000001", "size": "S"}, "locker_id"),
    ({"locker_id": 1, "tracking_number": "PN 1", "recipient_phone": "13800000001", "size": "S"}, "tracking_number"),
    ({"locker_id": 1, "tracking_number": "PN000001", "recipient_phone": "13800000001", "size": "XXL"}, "size"),
    ({"locker_id": 1, "tracking_number": "PN000001", "recipient_phone": "13800000001", "size": "S",
      "perishable": "yes"}, "perishable"),
    ({"locker_id": 1, "tracking_number": "PN000001", "recipient_phone": "13800000001", "size": "S", "x": 1}, "x"),
    ({"locker_id": 1, "tracking_number": "PN000001", "recipient_phone": "12345", "size": "S"}, "phone"),
])
def test_bad_body(db, client, body, field):
    w = build_world(db)
    code = "bad_phone" if field == "phone" else "bad_body"
    err = assert_refused(db, client, "POST", "/api/v1/deposits", 400, code, bearer(w.courier_token), body)
    assert err["field"] == field


def test_body_that_is_not_json(db, client):
    w = build_world(db)
    assert_refused(db, client, "POST", "/api/v1/deposits", 400, "bad_body", bearer(w.courier_token), None,
                   data="locker_id=1", content_type="application/x-www-form-urlencoded")
    assert_refused(db, client, "POST", "/api/v1/deposits", 400, "bad_body", bearer(w.courier_token), [1, 2])


def test_wrong_role_and_missing_credentials(db, client):
    w = build_world(db)
    assert_refused(db, client, "POST", "/api/v1/deposits", 403, "wrong_role", bearer(w.operator_token),
                   _deposit_body(w))
    assert_refused(db, client, "POST", "/api/v1/deposits", 403, "wrong_role", bearer(w.locker_token),
                   _deposit_body(w))
    assert_refused(db, client, "POST", "/api/v1/deposits", 401, "no_credentials", None, _deposit_body(w))
    assert_refused(db, client, "POST", "/api/v1/deposits", 401, "bad_token", bearer("cbx_nope"), _deposit_body(w))
    assert_refused(db, client, "POST", "/api/v1/lockers/%d/codes/verify" % w.locker_id, 403, "wrong_role",
                   bearer(w.courier_token), {"code": "12345678"})
    assert_refused(db, client, "POST", "/api/v1/compartments/1/state", 403, "wrong_role", bearer(w.operator_token),
                   {"state": "disabled"})


def test_unknown_route_and_method_are_json_too(db, client):
    assert_refused(db, client, "GET", "/api/v1/nowhere", 404, "not_found")
    assert_refused(db, client, "GET", "/api/v1/deposits", 405, "method_not_allowed")


def _deposited(db, client, w, tracking="PN000001"):
    body = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                       json=_deposit_body(w, tracking_number=tracking)).get_json()
    door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=True)
    code, note = last_code(db, body["parcel"]["id"])
    return body, code, note


def test_expired_code_is_refused_and_changes_nothing(db, client):
    from server.services import pickups
    from server.services.principals import Principal
    w = build_world(db)
    _body, code, _ = _deposited(db, client, w)
    before = snapshot(db)
    late = datetime.datetime.utcnow() + datetime.timedelta(hours=73)
    with pytest.raises(Exception) as exc:
        pickups.verify_at_locker(db, Principal("locker", locker_id=w.locker_id), w.locker_id, code, now=late)
    assert getattr(exc.value, "code", None) == "code_expired" and exc.value.status == 410
    assert exc.value.details["alternative"] == "station_counter"
    assert snapshot(db) == before


def test_other_carrier_and_other_station_cannot_reach_the_parcel(db, client):
    w = build_world(db)
    body, code, note = _deposited(db, client, w)
    pid = body["parcel"]["id"]
    assert client.get("/api/v1/parcels/%d" % pid, headers=bearer(w.courier_token)).status_code == 200
    assert client.get("/api/v1/parcels/%d" % pid, headers=bearer(w.operator_token)).status_code == 200
    assert_refused(db, client, "GET", "/api/v1/parcels/%d" % pid, 404, "not_found", bearer(w.other_courier_token))
    assert_refused(db, client, "GET", "/api/v1/parcels/%d" % pid, 404, "not_found", bearer(w.other_operator_token))
    assert_refused(db, client, "POST", "/api/v1/parcels/%d/revoke" % pid, 404, "not_found",
                   bearer(w.other_operator_token))
    assert_refused(db, client, "GET", "/api/v1/stations/%d/parcels" % w.station_id, 404, "not_found",
                   bearer(w.other_operator_token))
    assert_refused(db, client, "GET", "/api/v1/stations/%d/ledger" % w.station_id, 404, "not_found",
                   bearer(w.other_operator_token))
    assert_refused(db, client, "POST", "/api/v1/parcels/%d/did-not-fit" % pid, 404, "not_found",
                   bearer(w.other_courier_token))
    # Another locker's credential cannot try codes here, nor report this locker's doors.
    assert_refused(db, client, "POST", "/api/v1/lockers/%d/codes/verify" % w.locker_id, 404, "not_found",
                   bearer(w.other_locker_token), {"code": code})
    assert_refused(db, client, "POST", "/api/v1/lockers/%d/door-events" % w.locker_id, 404, "not_found",
                   bearer(w.other_locker_token), {"compartment_id": body["compartment"]["id"], "event": "opened"})
    assert_refused(db, client, "POST", "/api/v1/lockers/%d/door-events" % w.other_locker_id, 404, "not_found",
                   bearer(w.other_locker_token), {"compartment_id": body["compartment"]["id"], "event": "opened"})
    assert_refused(db, client, "GET", "/api/v1/lockers/%d/codes" % w.locker_id, 404, "not_found",
                   bearer(w.other_locker_token))


def test_courier_cannot_open_a_compartment_of_another_carriers_parcel(db, client):
    w = build_world(db)
    body = client.post("/api/v1/deposits", headers=bearer(w.courier_token), json=_deposit_body(w)).get_json()
    # Same tracking number under the other carrier is that carrier's own, separate parcel...
    r = client.post("/api/v1/deposits", headers=bearer(w.other_courier_token), json=_deposit_body(w))
    assert r.status_code == 201 and r.get_json()["compartment"]["id"] != body["compartment"]["id"]
    # ...but it can never act on the first one.
    assert_refused(db, client, "POST", "/api/v1/parcels/%d/cancel" % body["parcel"]["id"], 404, "not_found",
                   bearer(w.other_courier_token))


def test_wrong_codes_are_throttled_per_source_and_per_locker(db, app, client):
    w = build_world(db)
    _body, code, note = _deposited(db, client, w)
    url = "/api/v1/lockers/%d/codes/verify" % w.locker_id
    for i in range(5):
        r = client.post(url, headers=bearer(w.locker_token), json={"code": "%08d" % i, "source": "keypad"})
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "wrong_code"
    before = snapshot(db)
    r = client.post(url, headers=bearer(w.locker_token), json={"code": code, "source": "keypad"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "throttled_source"
    assert r.headers["Retry-After"] == "600"
    assert snapshot(db) == before  # even the right code is refused while throttled, and nothing changes
    # Another source (the QR scanner) still works until the locker-wide limit is reached.
    r = client.post(url, headers=bearer(w.locker_token), json={"code": code, "source": "scanner"})
    assert r.status_code == 200
    db.settings["THROTTLE_PER_LOCKER"] = 5  # five wrong codes at this locker so far
    r = client.post(url, headers=bearer(w.locker_token), json={"code": "99999999", "source": "other"})
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "throttled_locker"


def test_expired_code_over_http_at_the_locker_and_on_the_phone_page(db, client):
    from sqlalchemy import update
    from support.server_world import link_of

    from server.models import AccessCode
    w = build_world(db)
    _body, code, note = _deposited(db, client, w)
    with db.transaction() as s:  # the storage period ran out (housekeeping has not flagged it yet)
        s.execute(update(AccessCode).values(expires_at=datetime.datetime(2020, 1, 1)))
    err = assert_refused(db, client, "POST", "/api/v1/lockers/%d/codes/verify" % w.locker_id, 410, "code_expired",
                         bearer(w.locker_token), {"code": code})
    assert err["alternative"] == "station_counter"
    token, _ = link_of(note.body)
    assert_refused(db, client, "POST", "/api/v1/pickup/%s/open" % token, 410, "code_expired", None, {"code": code})
