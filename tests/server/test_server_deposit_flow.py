"""Deposit and pickup, end to end through the HTTP API and the door-event seam."""
from sqlalchemy import func, select
from support.server_world import bearer, build_world, last_code, sha16

from server.models import AccessCode, Compartment, LedgerLine, LockerCommand, Notification, Parcel
from server.services import codes, door_reports, doors


def deposit(client, w, tracking="PN000001", phone=None, size="S", perishable=False, token=None):
    return client.post("/api/v1/deposits", headers=bearer(token or w.courier_token),
                       json={"locker_id": w.locker_id, "tracking_number": tracking,
                             "recipient_phone": phone or w.consenting_phone, "size": size, "perishable": perishable})


def test_deposit_is_confirmed_only_by_the_door_closing_with_the_parcel(db, client):
    w = build_world(db)
    r = deposit(client, w)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    comp_id = body["compartment"]["id"]
    assert body["parcel"]["state"] == "reserved" and body["compartment"]["size"] == "S"
    assert body["command"]["kind"] == "open" and body["command"]["state"] == "queued"
    with db.reading() as s:
        assert s.get(Compartment, comp_id).state == "reserved"
        assert s.scalar(select(func.count()).select_from(AccessCode)) == 0  # no code before the door closes
        assert s.scalar(select(func.count()).select_from(Notification)) == 0

    assert door_reports.door_event(db, comp_id, "opened")["outcome"] == "recorded"
    with db.reading() as s:
        assert s.get(Parcel, body["parcel"]["id"]).state == "reserved"
    out = door_reports.door_event(db, comp_id, "closed", occupied=True)
    assert out == {"outcome": "deposit_confirmed", "parcel_id": body["parcel"]["id"]}

    code, note = last_code(db, body["parcel"]["id"])
    assert "Dongcun locker 1" in note.body and "No. 1 Main Street" in note.body and "72小时" in note.body
    assert "http://cunbox.test/p/" in note.body and ("?c=%s" % code) in note.body
    assert "1.00元" in note.body  # the fee policy after the free period is stated
    with db.reading() as s:
        assert s.get(Compartment, comp_id).state == "occupied"
        row = s.scalars(select(AccessCode)).one()
        assert row.code_hash == sha16(row.salt, code) and len(row.salt) == 8
        assert code.encode() not in row.code_hash and code not in str(row.__dict__)
        install = s.scalars(select(LockerCommand).where(LockerCommand.kind == "install_code")).one()
        assert install.payload["hash"] == row.code_hash.hex()
        ledger = s.scalars(select(LedgerLine)).all()
        assert [(x.kind, x.payer, x.amount_cents) for x in ledger] == [("deposit", "carrier", 30)]
    live = codes.live_codes(db, w.locker_id)
    assert len(live) == 1 and live[0]["compartment_id"] == comp_id and live[0]["hash"] == sha16(live[0]["salt"], code)


def test_pickup_at_locker_then_door_closed_empty_frees_the_compartment(db, client):
    w = build_world(db)
    body = deposit(client, w).get_json()
    comp_id, parcel_id = body["compartment"]["id"], body["parcel"]["id"]
    door_reports.door_event(db, comp_id, "closed", occupied=True)
    code, _ = last_code(db, parcel_id)

    r = client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=bearer(w.locker_token),
                    json={"code": code})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["action"] == "pickup" and r.get_json()["compartment"]["id"] == comp_id
    assert r.get_json()["command"]["kind"] == "open"
    # The code is used up at once: typing it again does not open twice.
    again = client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=bearer(w.locker_token),
                        json={"code": code})
    assert again.status_code == 403 and again.get_json()["error"]["code"] == "wrong_code"

    door_reports.door_event(db, comp_id, "opened")
    assert door_reports.door_event(db, comp_id, "closed", occupied=False)["outcome"] == "picked_up"
    with db.reading() as s:
        assert s.get(Compartment, comp_id).state == "free"
        p = s.get(Parcel, parcel_id)
        assert p.state == "picked_up" and p.active_compartment_id is None and p.released_at is not None
        assert s.scalars(select(LockerCommand).where(LockerCommand.kind == "clear_code")).one()
        kinds = sorted(x.kind for x in s.scalars(select(LedgerLine)))
        assert kinds == ["deposit", "storage"]  # no recipient fee inside the free period
    assert codes.live_codes(db, w.locker_id) == []


def test_parcel_left_inside_after_pickup_open_keeps_it_and_the_code(db, client):
    w = build_world(db)
    body = deposit(client, w).get_json()
    comp_id, parcel_id = body["compartment"]["id"], body["parcel"]["id"]
    door_reports.door_event(db, comp_id, "closed", occupied=True)
    code, _ = last_code(db, parcel_id)
    client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=bearer(w.locker_token), json={"code": code})
    assert door_reports.door_event(db, comp_id, "closed", occupied=True)["outcome"] == "parcel_left_inside"
    with db.reading() as s:
        assert s.get(Parcel, parcel_id).state == "in_locker"
    r = client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=bearer(w.locker_token),
                    json={"code": code})
    assert r.status_code == 200


def test_retried_deposit_never_reserves_a_second_compartment(db, client):
    w = build_world(db)
    first = deposit(client, w)
    second = deposit(client, w)
    assert first.status_code == 201 and second.status_code == 200
    assert second.get_json()["replayed"] is True
    assert second.get_json()["compartment"]["id"] == first.get_json()["compartment"]["id"]
    assert second.get_json()["command"]["id"] == first.get_json()["command"]["id"]
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Parcel)) == 1
        assert s.scalar(select(func.count()).select_from(Compartment).where(Compartment.state == "reserved")) == 1
        assert s.scalar(select(func.count()).select_from(LockerCommand)) == 1
    # The same tracking number for another recipient is a conflict, not a silent second parcel.
    r = deposit(client, w, phone=w.low_pref_phone)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "tracking_number_in_use"


def test_did_not_fit_moves_to_the_next_size_up(db, client):
    w = build_world(db)
    first = deposit(client, w).get_json()
    assert first["compartment"]["size"] == "S"
    r = client.post("/api/v1/parcels/%d/did-not-fit" % first["parcel"]["id"], headers=bearer(w.courier_token))
    assert r.status_code == 200, r.get_json()
    moved = r.get_json()
    assert moved["compartment"]["size"] == "M" and not moved["compartment"]["chilled"]
    assert moved["command"]["id"] != first["command"]["id"]
    with db.reading() as s:
        assert s.get(Compartment, first["compartment"]["id"]).state == "free"
        assert s.get(Compartment, moved["compartment"]["id"]).state == "reserved"
    r = client.post("/api/v1/parcels/%d/did-not-fit" % first["parcel"]["id"], headers=bearer(w.courier_token))
    assert r.get_json()["compartment"]["size"] == "L"
    # Nothing bigger than L among the ambient doors: refused, and the L reservation stays.
    r = client.post("/api/v1/parcels/%d/did-not-fit" % first["parcel"]["id"], headers=bearer(w.courier_token))
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "no_larger_compartment"
    assert r.get_json()["error"]["alternative"] == "station_counter"


def test_door_command_status_is_visible_to_the_courier_only(db, client):
    w = build_world(db)
    cmd = deposit(client, w).get_json()["command"]
    r = client.get("/api/v1/commands/%d" % cmd["id"], headers=bearer(w.courier_token))
    assert r.status_code == 200 and r.get_json()["state"] == "queued"
    door_reports.mark_command(db, cmd["id"], "sent")
    door_reports.mark_command(db, cmd["id"], "done", result="opened")
    r = client.get("/api/v1/commands/%d" % cmd["id"], headers=bearer(w.courier_token))
    assert r.get_json()["state"] == "done" and r.get_json()["result"] == "opened"
    assert client.get("/api/v1/commands/%d" % cmd["id"], headers=bearer(w.other_courier_token)).status_code == 404
    assert doors.pending_commands(db, w.locker_id) == []


def test_reservation_expires_and_gives_the_compartment_back(db, client):
    import datetime

    from server.services import deposits
    w = build_world(db)
    body = deposit(client, w).get_json()
    later = datetime.datetime.utcnow() + datetime.timedelta(minutes=11)
    assert deposits.expire_reservations(db, now=later) == 1
    with db.reading() as s:
        assert s.get(Compartment, body["compartment"]["id"]).state == "free"
        assert s.get(Parcel, body["parcel"]["id"]).state == "cancelled"
    # A late door-close with a parcel inside is not silently taken as a deposit: it raises an alarm.
    late = door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=True)
    assert late["outcome"] == "unexpected_item"


def test_jammed_door_on_deposit_gives_up_the_reservation_and_a_retry_gets_another_door(db, client):
    w = build_world(db)
    first = deposit(client, w).get_json()
    cmd = first["command"]["id"]
    door_reports.mark_command(db, cmd, "sent")
    door_reports.mark_command(db, cmd, "failed", result="jammed")
    with db.reading() as s:
        assert s.get(Compartment, first["compartment"]["id"]).state == "faulty"
        assert s.get(Parcel, first["parcel"]["id"]).state == "cancelled"
    alarms = client.get("/api/v1/stations/%d/alarms" % w.station_id, headers=bearer(w.operator_token)).get_json()
    assert [a["kind"] for a in alarms["alarms"]] == ["door_failed"]
    retry = deposit(client, w)
    assert retry.status_code == 201 and retry.get_json()["parcel"]["id"] == first["parcel"]["id"]
    assert retry.get_json()["compartment"]["id"] != first["compartment"]["id"]
    assert retry.get_json()["parcel"]["state"] == "reserved"
    # A command moves only forwards.
    r = door_reports.mark_command
    try:
        r(db, cmd, "done")
    except Exception as exc:
        assert exc.code == "bad_transition"
    else:
        raise AssertionError("a failed command became done")


def test_failed_open_on_pickup_keeps_the_parcel_and_its_code(db, client):
    w = build_world(db)
    body = deposit(client, w).get_json()
    door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=True)
    code, _ = last_code(db, body["parcel"]["id"])
    url = "/api/v1/lockers/%d/codes/verify" % w.locker_id
    opened = client.post(url, headers=bearer(w.locker_token), json={"code": code}).get_json()
    door_reports.mark_command(db, opened["command"]["id"], "failed", result="timeout")
    with db.reading() as s:
        assert s.get(Parcel, body["parcel"]["id"]).state == "in_locker"
        assert s.get(Compartment, body["compartment"]["id"]).state == "occupied"
    assert client.post(url, headers=bearer(w.locker_token), json={"code": code}).status_code == 200


def test_courier_can_reopen_the_reserved_door(db, client):
    w = build_world(db)
    body = deposit(client, w).get_json()
    door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=False)  # closed before the parcel went in
    r = client.post("/api/v1/parcels/%d/reopen" % body["parcel"]["id"], headers=bearer(w.courier_token))
    assert r.status_code == 200 and r.get_json()["command"]["id"] != body["command"]["id"]
    assert client.post("/api/v1/parcels/%d/reopen" % body["parcel"]["id"],
                       headers=bearer(w.other_courier_token)).status_code == 404
