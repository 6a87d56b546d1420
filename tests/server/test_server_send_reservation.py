"""A send reserves its compartment at booking, so its drop-off code can live on the board: the booking,
the refusal when nothing is free, the board's offline drop-off reconciled once, cancel and expiry giving
the compartment back, a failed door moving the send, and a send booked before (no compartment) still
dropping off online."""
import datetime

from sqlalchemy import select
from support.server_world import bearer, build_world, snapshot

from protocol import messages as m
from server import clock
from server.link.bus import _set_code_fields
from server.models import AccessCode, Alarm, Compartment, LockerCommand, Notification, Parcel
from server.services import codes, door_reports, link_commands, overdue, pickups, sends
from server.services.principals import Principal

SYSTEM = Principal("system", label="test")


def _book(db, w, size="S"):
    return sends.book_send(db, w.operator, w.consenting, w.locker_id, w.carrier_id, size)


def _parcel(db, pid):
    with db.reading() as s:
        return s.get(Parcel, pid)


def _comp_state(db, cid):
    with db.reading() as s:
        return s.get(Compartment, cid).state


def _code_commands(db, pid):
    with db.reading() as s:
        return [(c.kind, c.compartment_id, (c.payload or {}).get("purpose"))
                for c in s.scalars(select(LockerCommand).where(LockerCommand.parcel_id == pid,
                                                               LockerCommand.kind != "open")
                                   .order_by(LockerCommand.id))]


def test_booking_reserves_a_compartment_and_queues_its_dropoff_code_for_the_board(db):
    w = build_world(db)
    out = _book(db, w)
    pid = out["parcel"]["id"]
    p = _parcel(db, pid)
    assert p.state == "booked" and p.active_compartment_id == p.compartment_id is not None
    assert _comp_state(db, p.active_compartment_id) == "reserved"
    assert _code_commands(db, pid) == [("install_code", p.active_compartment_id, "dropoff")]
    live = [r for r in codes.live_codes(db, w.locker_id) if r["purpose"] == "dropoff"]
    assert [r["compartment_id"] for r in live] == [p.active_compartment_id]
    want = link_commands.desired_code(db, p.active_compartment_id)
    assert want["purpose"] == "dropoff" and want["hash"] == codes.code_hash(want["salt"], out["dropoff_code"])
    assert _set_code_fields(2, want)["kind"] == m.CODE_DROPOFF
    assert _set_code_fields(2, dict(want, purpose="pickup"))["kind"] == m.CODE_PICKUP


def test_booking_is_refused_when_no_compartment_of_the_size_is_free_and_changes_nothing(db, client):
    w = build_world(db)
    _book(db, w, "L")  # the locker's only L (and nothing bigger)
    before = snapshot(db)
    r = client.post("/api/v1/sends", headers=bearer(w.operator_token),
                    json={"account_id": w.consenting, "locker_id": w.locker_id, "carrier_id": w.carrier_id,
                          "size": "L"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "no_free_compartment"
    assert r.get_json()["error"]["alternative"] == "station_counter"
    assert snapshot(db) == before


def test_the_boards_dropoff_is_reconciled_once_and_confirmed_by_the_door(db):
    w = build_world(db)
    out = _book(db, w)
    pid = out["parcel"]["id"]
    cid = _parcel(db, pid).active_compartment_id
    with db.reading() as s:
        code_id = codes.live_code_of(s, pid, "dropoff").id
    assert sends.board_dropoff(db, cid, code_id)["outcome"] == "dropoff_opened"
    assert sends.board_dropoff(db, cid, code_id)["outcome"] == "already_reconciled"  # a replay
    assert _parcel(db, pid).state == "reserved"
    assert _code_commands(db, pid)[-1] == ("clear_code", cid, "dropoff")
    assert door_reports.door_event(db, cid, "closed", occupied=True)["outcome"] == "dropoff_confirmed"
    assert _parcel(db, pid).state == "awaiting_collection"
    with db.reading() as s:
        assert len(s.scalars(select(Notification).where(Notification.parcel_id == pid,
                                                        Notification.kind == "dropoff_received")).all()) == 1


def test_a_booked_compartment_closing_empty_is_no_missing_parcel(db):
    w = build_world(db)
    pid = _book(db, w)["parcel"]["id"]
    cid = _parcel(db, pid).active_compartment_id
    assert door_reports.door_event(db, cid, "closed", occupied=False)["outcome"] == "recorded"
    assert door_reports.door_event(db, cid, "closed", occupied=True)["outcome"] == "unexpected_item"
    with db.reading() as s:
        assert [a.kind for a in s.scalars(select(Alarm))] == ["unexpected_item"]
    assert _parcel(db, pid).state == "booked"


def test_cancel_frees_the_compartment_and_clears_the_code_only_for_the_stations_operator(db, client):
    w = build_world(db)
    pid = _book(db, w)["parcel"]["id"]
    cid = _parcel(db, pid).active_compartment_id
    assert client.post("/api/v1/sends/%d/cancel" % pid, headers=bearer(w.other_operator_token)).status_code == 404
    r = client.post("/api/v1/sends/%d/cancel" % pid, headers=bearer(w.operator_token))
    assert r.status_code == 200 and r.get_json()["parcel"]["state"] == "cancelled"
    assert _comp_state(db, cid) == "free" and _parcel(db, pid).active_compartment_id is None
    assert _code_commands(db, pid)[-1] == ("clear_code", cid, "dropoff")
    assert codes.live_codes(db, w.locker_id) == []
    r = client.post("/api/v1/sends/%d/cancel" % pid, headers=bearer(w.operator_token))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "wrong_state"


def test_an_expired_booking_gives_its_compartment_back(db):
    w = build_world(db)
    pid = _book(db, w)["parcel"]["id"]
    cid = _parcel(db, pid).active_compartment_id
    overdue.flag_overdue(db, now=clock.utcnow() + datetime.timedelta(hours=71))
    assert _parcel(db, pid).state == "booked"
    overdue.flag_overdue(db, now=clock.utcnow() + datetime.timedelta(hours=73))
    assert _parcel(db, pid).state == "cancelled" and _comp_state(db, cid) == "free"
    assert _code_commands(db, pid)[-1] == ("clear_code", cid, "dropoff")


def test_a_failed_dropoff_door_moves_the_send_and_its_code_to_another_compartment(db):
    w = build_world(db)
    out = _book(db, w)
    pid = out["parcel"]["id"]
    first = _parcel(db, pid).active_compartment_id
    verified = pickups.verify_at_locker(db, SYSTEM, w.locker_id, out["dropoff_code"])
    assert verified["compartment"]["id"] == first
    door_reports.mark_command(db, verified["command"]["id"], "failed", "jammed")
    p = _parcel(db, pid)
    assert p.state == "booked" and p.active_compartment_id not in (None, first)
    assert _comp_state(db, first) == "faulty" and _comp_state(db, p.active_compartment_id) == "reserved"
    assert _code_commands(db, pid)[-1] == ("install_code", p.active_compartment_id, "dropoff")
    again = pickups.verify_at_locker(db, SYSTEM, w.locker_id, out["dropoff_code"])  # the same code still works
    assert again["compartment"]["id"] == p.active_compartment_id


def test_a_send_booked_without_a_compartment_still_drops_off_online(db):
    """Sends booked before compartments were reserved at booking have none: one is chosen at drop-off."""
    w = build_world(db)
    out = _book(db, w)
    pid = out["parcel"]["id"]
    with db.transaction() as s:  # as such a send looks in the database
        p = s.get(Parcel, pid)
        s.get(Compartment, p.active_compartment_id).state = "free"
        p.active_compartment_id = p.compartment_id = None
        s.scalars(select(AccessCode).where(AccessCode.parcel_id == pid)).one().compartment_id = None
    verified = pickups.verify_at_locker(db, SYSTEM, w.locker_id, out["dropoff_code"])
    assert verified["action"] == "dropoff" and _parcel(db, pid).state == "reserved"
    assert door_reports.door_event(db, verified["compartment"]["id"], "closed", occupied=True)["outcome"] == \
        "dropoff_confirmed"
