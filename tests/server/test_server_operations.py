"""Overdue and return, fees, sends of produce, cold chain, notification delivery."""
import datetime

from sqlalchemy import select
from support.server_world import bearer, build_world, last_code, snapshot

from server import housekeeping
from server.models import Compartment, LedgerLine, Notification, Parcel
from server.services import door_reports, notify, overdue

T0 = datetime.datetime(2026, 11, 1, 8, 0, 0)


def _at(hours):
    return T0 + datetime.timedelta(hours=hours)


def _deposit_at(db, w, tracking, when, perishable=False, size="S"):
    from server.services import deposits
    r = deposits.start_deposit(db, w.courier, w.locker_id, tracking, w.consenting_phone, size, perishable, now=when)
    door_reports.door_event(db, r["compartment"]["id"], "closed", occupied=True, at=when)
    return r["parcel"]["id"], r["compartment"]["id"]


def _ledger(db, parcel_id):
    with db.reading() as s:
        return {ln.kind: (ln.payer, ln.amount_cents, ln.compartment_hours)
                for ln in s.scalars(select(LedgerLine).where(LedgerLine.parcel_id == parcel_id))}


def test_overdue_retrieve_to_counter_and_recipient_fee_only_after_the_free_period(db, client):
    w = build_world(db)
    pid, cid = _deposit_at(db, w, "PN000001", T0)
    assert overdue.flag_overdue(db, now=_at(71)) == 0
    assert overdue.flag_overdue(db, now=_at(73)) == 1
    with db.reading() as s:
        assert s.get(Parcel, pid).state == "overdue"
    from server.services import codes
    assert codes.live_codes(db, w.locker_id, now=_at(73)) == []  # cleared from the board
    h = bearer(w.operator_token)
    # Hand-over before retrieval is refused and changes nothing.
    before = snapshot(db)
    r = client.post("/api/v1/parcels/%d/hand-over" % pid, headers=h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "wrong_state" and snapshot(db) == before
    r = client.post("/api/v1/parcels/%d/retrieve" % pid, headers=h)
    assert r.status_code == 200 and r.get_json()["command"]["purpose"] == "retrieve"
    assert door_reports.door_event(db, cid, "closed", occupied=False, at=_at(97))["outcome"] == "at_counter"
    r = client.post("/api/v1/parcels/%d/hand-over" % pid, headers=h)
    assert r.get_json()["parcel"]["state"] == "collected_at_counter"
    ledger = _ledger(db, pid)
    assert ledger["deposit"] == ("carrier", 30, 0.0)
    assert ledger["storage"] == ("carrier", 97, 97.0)  # 1 cent per compartment-hour
    assert ledger["recipient_fee"] == ("recipient", 200, 25.0)  # 25 h past 72 free hours -> 2 days at 1 yuan
    # Audited staff actions.
    detail = client.get("/api/v1/parcels/%d" % pid, headers=h).get_json()
    actions = [e["action"] for e in detail["events"]]
    assert actions == ["deposit_started", "deposit_confirmed", "storage_period_ended", "open_for_retrieve",
                       "retrieve_completed", "handed_over"]


def test_no_recipient_fee_within_the_free_period_even_after_an_extension(db, client):
    w = build_world(db)
    pid, cid = _deposit_at(db, w, "PN000001", T0)
    code, _ = last_code(db, pid)
    from server.services import pickups
    from server.services.principals import Principal
    pickups.verify_at_locker(db, Principal("locker", locker_id=w.locker_id), w.locker_id, code, now=_at(71))
    door_reports.door_event(db, cid, "closed", occupied=False, at=_at(71))
    assert "recipient_fee" not in _ledger(db, pid)


def test_return_to_carrier_from_the_locker(db, client):
    w = build_world(db)
    pid, cid = _deposit_at(db, w, "PN000001", T0)
    h = bearer(w.operator_token)
    r = client.post("/api/v1/parcels/%d/return" % pid, headers=h)
    assert r.status_code == 409  # not overdue yet: the recipient still has time
    overdue.flag_overdue(db, now=_at(80))
    r = client.post("/api/v1/parcels/%d/return" % pid, headers=h)
    assert r.status_code == 200
    assert door_reports.door_event(db, cid, "closed", occupied=False, at=_at(81))["outcome"] == "returned"
    assert "recipient_fee" not in _ledger(db, pid)  # nothing charged to a recipient who did not collect
    with db.reading() as s:
        assert s.get(Compartment, cid).state == "free"


def test_send_of_produce_drop_off_and_collection(db, client):
    w = build_world(db)
    h = bearer(w.operator_token)
    body = {"account_id": w.consenting, "locker_id": w.locker_id, "carrier_id": w.carrier_id, "size": "M",
            "perishable": True}
    before = snapshot(db)
    r = client.post("/api/v1/sends", headers=h, json=body)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "chilled_agreement_required"
    assert snapshot(db) == before
    r = client.post("/api/v1/sends", headers=h, json=dict(body, chilled_agreed=True))
    assert r.status_code == 201, r.get_json()
    booking = r.get_json()
    pid, code = booking["parcel"]["id"], booking["dropoff_code"]
    with db.reading() as s:
        note = s.scalars(select(Notification).where(Notification.parcel_id == pid)).one()
        assert code in note.body and "Dongcun locker 1" in note.body

    # The villager types the drop-off code at the locker: a chilled M door opens.
    r = client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=bearer(w.locker_token),
                    json={"code": code})
    assert r.status_code == 200, r.get_json()
    out = r.get_json()
    assert out["action"] == "dropoff" and out["compartment"]["chilled"] and out["compartment"]["size"] == "M"
    cid = out["compartment"]["id"]
    # The board reports when each door closed; the ledger counts compartment-hours between those two
    # reports, so the test states them instead of reading the wall clock twice.
    dropped_at = datetime.datetime.utcnow().replace(microsecond=0)
    assert door_reports.door_event(db, cid, "closed", occupied=True, at=dropped_at)["outcome"] == "dropoff_confirmed"

    # Only the chosen carrier's courier may collect.
    r = client.post("/api/v1/parcels/%d/collect" % pid, headers=bearer(w.other_courier_token))
    assert r.status_code == 404
    r = client.post("/api/v1/parcels/%d/collect" % pid, headers=bearer(w.courier_token))
    assert r.status_code == 200 and r.get_json()["command"]["purpose"] == "collect"
    collected_at = dropped_at + datetime.timedelta(hours=2)
    assert door_reports.door_event(db, cid, "closed", occupied=False, at=collected_at)["outcome"] == "collected"
    # Per-collection fee 30 + 2 compartment-hours at 1 cent (the station's tariff).
    assert _ledger(db, pid)["collection"] == ("carrier", 32, 2.0)
    r = client.post("/api/v1/parcels/%d/tracking" % pid, headers=bearer(w.courier_token),
                    json={"tracking_number": "PN900001"})
    assert r.status_code == 200 and r.get_json()["parcel"]["tracking_number"] == "PN900001"
    r = client.post("/api/v1/parcels/%d/tracking" % pid, headers=bearer(w.courier_token),
                    json={"tracking_number": "PN900002"})
    assert r.status_code == 409


def test_cold_chain_history_and_excursion_alarm(db, client):
    w = build_world(db)
    pid, cid = _deposit_at(db, w, "PN000001", datetime.datetime.utcnow().replace(microsecond=0), perishable=True,
                           size="M")
    lh = bearer(w.locker_token)
    url = "/api/v1/lockers/%d/temperatures" % w.locker_id
    assert client.post(url, headers=lh, json={"compartment_id": cid, "celsius": 4.0}).get_json() == {
        "excursion": False, "alarm_id": None}
    r = client.post(url, headers=lh, json={"compartment_id": cid, "celsius": 11.5}).get_json()
    assert r["excursion"] and r["alarm_id"]
    again = client.post(url, headers=lh, json={"compartment_id": cid, "celsius": 12.0}).get_json()
    assert again["alarm_id"] == r["alarm_id"]  # one open alarm, not one per reading
    client.post(url, headers=lh, json={"compartment_id": cid, "celsius": 5.0})
    hist = client.get("/api/v1/parcels/%d/temperatures" % pid, headers=bearer(w.operator_token)).get_json()
    assert [x["celsius"] for x in hist["readings"]] == [4.0, 11.5, 12.0, 5.0]
    assert client.get("/api/v1/parcels/%d/temperatures" % pid,
                      headers=bearer(w.other_operator_token)).status_code == 404
    alarms = client.get("/api/v1/stations/%d/alarms" % w.station_id, headers=bearer(w.operator_token)).get_json()
    assert [(a["kind"], a["parcel_id"]) for a in alarms["alarms"]] == [("temperature_excursion", pid)]
    assert alarms["alarms"][0]["cleared_at"] is not None  # back in range
    r = client.post("/api/v1/alarms/%d/ack" % r["alarm_id"], headers=bearer(w.operator_token))
    assert r.status_code == 200 and r.get_json()["acknowledged_by"].startswith("operator:")
    assert client.get("/api/v1/stations/%d/alarms" % w.station_id,
                      headers=bearer(w.operator_token)).get_json()["alarms"] == []
    bad = client.post(url, headers=lh, json={"compartment_id": cid, "celsius": "hot"})
    assert bad.status_code == 400


def test_ledger_totals_per_carrier_and_month(db, client):
    w = build_world(db)
    for i in range(3):
        _deposit_at(db, w, "PN00000%d" % i, T0)
    h = bearer(w.operator_token)
    led = client.get("/api/v1/stations/%d/ledger?month=2026-11" % w.station_id, headers=h).get_json()
    assert led["totals"] == [{"payer": "carrier", "carrier_id": w.carrier_id, "amount_cents": 90,
                              "compartment_hours": 0.0, "lines": 3}]
    assert client.get("/api/v1/stations/%d/ledger?month=2026-10" % w.station_id,
                      headers=h).get_json()["lines"] == []
    assert client.get("/api/v1/stations/%d/ledger?month=nov" % w.station_id, headers=h).status_code == 400


def test_notifications_are_delivered_and_the_code_is_then_blanked(db, tmp_path):
    w = build_world(db)
    pid, cid = _deposit_at(db, w, "PN000001", datetime.datetime.utcnow().replace(microsecond=0))
    code, note = last_code(db, pid)
    adapter = notify.FileSmsAdapter(tmp_path / "sms.log")
    out = housekeeping.run_once(db, adapter)
    assert out["notifications_sent"] == 1
    assert code in (tmp_path / "sms.log").read_text(encoding="utf-8")
    with db.reading() as s:
        row = s.get(Notification, note.id)
        assert row.state == "sent" and code not in row.body and "********" in row.body

    class Down(notify.SmsAdapter):
        def send(self, phone, body):
            raise OSError("gateway down")
    from server.services import pickups
    pickups.revoke(db, w.operator, pid)
    pickups.resend(db, w.operator, pid)
    assert notify.deliver_pending(db, Down()) == 0
    with db.reading() as s:
        pending = s.scalars(select(Notification).where(Notification.state == "pending")).one()
        assert pending.attempts == 1  # kept for the next round, nothing lost


def test_an_expired_drop_off_reservation_keeps_the_send_bookable(db, client):
    from server.services import deposits
    w = build_world(db)
    booking = client.post("/api/v1/sends", headers=bearer(w.operator_token),
                          json={"account_id": w.consenting, "locker_id": w.locker_id, "carrier_id": w.carrier_id,
                                "size": "S"}).get_json()
    url = "/api/v1/lockers/%d/codes/verify" % w.locker_id
    first = client.post(url, headers=bearer(w.locker_token), json={"code": booking["dropoff_code"]})
    assert first.status_code == 200
    assert deposits.expire_reservations(db, now=datetime.datetime.utcnow() + datetime.timedelta(minutes=11)) == 1
    with db.reading() as s:
        assert s.get(Parcel, booking["parcel"]["id"]).state == "booked"
    again = client.post(url, headers=bearer(w.locker_token), json={"code": booking["dropoff_code"]})
    assert again.status_code == 200 and again.get_json()["action"] == "dropoff"
