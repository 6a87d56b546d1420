"""What a compartment's occupancy sensor (a GPIO sensor, or a Kerong board's IR bits) makes the server do,
through the HTTP API and the door-event seam the link uses: a deposit door shut on an empty compartment
asks the courier; a pickup door shut on a compartment still occupied raises "parcel may still be inside";
a free compartment that reads occupied raises "something left inside" (unexpected_item)."""
from sqlalchemy import func, select
from support.server_world import bearer, build_world, last_code, snapshot

from server.models import AccessCode, Compartment, Notification, Parcel
from server.services import door_reports


def _deposit(client, w):
    r = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                    json={"locker_id": w.locker_id, "tracking_number": "PN000001",
                          "recipient_phone": w.consenting_phone, "size": "S"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    return body["compartment"]["id"], body["parcel"]["id"]


def _alarms(client, w):
    r = client.get("/api/v1/stations/%d/alarms" % w.station_id, headers=bearer(w.operator_token))
    assert r.status_code == 200
    return [(a["kind"], a["compartment_id"]) for a in r.get_json()["alarms"]]


def _parcel(client, w, parcel_id):
    r = client.get("/api/v1/parcels/%d" % parcel_id, headers=bearer(w.courier_token))
    assert r.status_code == 200
    return r.get_json()


def test_a_deposit_door_shut_on_an_empty_compartment_asks_the_courier_and_sends_no_code(db, client):
    w = build_world(db)
    comp_id, parcel_id = _deposit(client, w)
    door_reports.door_event(db, comp_id, "opened")
    assert door_reports.door_event(db, comp_id, "closed", occupied=False)["outcome"] == "closed_empty"
    p = _parcel(client, w, parcel_id)
    assert p["state"] == "reserved" and p["attention"] == "closed_empty"
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AccessCode)) == 0
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
    # The courier opens again and puts it in: the next closing confirms as usual.
    r = client.post("/api/v1/parcels/%d/reopen" % parcel_id, headers=bearer(w.courier_token))
    assert r.status_code == 200 and r.get_json()["command"]["kind"] == "open"
    door_reports.door_event(db, comp_id, "opened")
    assert _parcel(client, w, parcel_id)["attention"] is None
    assert door_reports.door_event(db, comp_id, "closed", occupied=True)["outcome"] == "deposit_confirmed"
    assert last_code(db, parcel_id)[0]


def test_the_courier_may_say_the_parcel_is_inside_and_the_station_hears_of_the_sensor(db, client):
    w = build_world(db)
    comp_id, parcel_id = _deposit(client, w)
    before = snapshot(db)
    r = client.post("/api/v1/parcels/%d/confirm-inside" % parcel_id, headers=bearer(w.courier_token))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_closed_empty"   # the door never shut
    assert snapshot(db) == before
    door_reports.door_event(db, comp_id, "closed", occupied=False)
    other = client.post("/api/v1/parcels/%d/confirm-inside" % parcel_id, headers=bearer(w.other_courier_token))
    assert other.status_code == 404                                                     # another carrier's parcel
    r = client.post("/api/v1/parcels/%d/confirm-inside" % parcel_id, headers=bearer(w.courier_token))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["parcel"]["state"] == "in_locker"
    assert last_code(db, parcel_id)[0]                                                  # the villager is told
    assert _alarms(client, w) == [("occupancy_sensor_suspect", comp_id)]
    again = client.post("/api/v1/parcels/%d/confirm-inside" % parcel_id, headers=bearer(w.courier_token))
    assert again.status_code == 404 or again.get_json()["error"]["code"] in ("not_closed_empty", "wrong_state")


def test_a_pickup_door_shut_on_a_compartment_still_occupied_raises_parcel_may_still_be_inside(db, client):
    w = build_world(db)
    comp_id, parcel_id = _deposit(client, w)
    door_reports.door_event(db, comp_id, "closed", occupied=True)
    code, _ = last_code(db, parcel_id)
    r = client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=bearer(w.locker_token),
                    json={"code": code})
    assert r.status_code == 200
    door_reports.door_event(db, comp_id, "opened")
    assert door_reports.door_event(db, comp_id, "closed", occupied=True)["outcome"] == "parcel_left_inside"
    assert _alarms(client, w) == [("parcel_still_inside", comp_id)]
    with db.reading() as s:
        assert s.get(Parcel, parcel_id).state == "in_locker"


def test_a_free_compartment_that_reads_occupied_has_something_left_inside(db, client):
    w = build_world(db)
    with db.reading() as s:
        comps = s.scalars(select(Compartment).where(Compartment.locker_id == w.locker_id)
                          .order_by(Compartment.index)).all()
        board_id, free, reserved_one = comps[0].board_id, comps[1], comps[0]
    comp_id, _ = _deposit(client, w)             # the S compartment: reserved, so its reading is the courier's
    assert comp_id == reserved_one.id
    assert door_reports.occupancy_seen(db, board_id, {reserved_one.index: True, free.index: True}) == [free.id]
    assert _alarms(client, w) == [("unexpected_item", free.id)]
    assert door_reports.occupancy_seen(db, board_id, {free.index: True}) == [free.id]
    assert _alarms(client, w) == [("unexpected_item", free.id)]                         # one alarm, not one a poll
    door_reports.occupancy_seen(db, board_id, {free.index: False})
    with db.reading() as s:
        from server.models import Alarm
        assert s.scalars(select(Alarm)).one().cleared_at is not None                   # emptied: the alarm clears
