"""No double assignment: many couriers race for the last free compartments through a real HTTP
server (waitress on loopback), on a SQLite file and on PostgreSQL."""
import json
import threading
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from support.server_world import build_world

from server.app import create_app
from server.models import Compartment, Parcel
from server.serve import BackgroundServer

REQUESTS = 40


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request):
    return request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")


def _post(url, token, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_concurrent_deposits_never_share_a_compartment(any_db):
    db = any_db
    # 10 compartments, 6 already taken: 4 free ones for 40 concurrent requests.
    w = build_world(db, layout=[(1, [("S", False, "middle")] * 6 + [("M", False, "low")] * 4)])
    with db.transaction() as s:
        s.execute(update(Compartment).where(Compartment.index <= 6, Compartment.locker_id == w.locker_id)
                  .values(state="occupied"))
    app = create_app({"DATABASE": db})
    # 36 different parcels, plus 4 retries of one more parcel, all at once.
    trackings = ["RACE%04d" % i for i in range(REQUESTS - 4)] + ["RETRY0001"] * 4
    results = [None] * REQUESTS
    barrier = threading.Barrier(REQUESTS)

    with BackgroundServer(app, threads=16) as srv:
        def worker(i):
            barrier.wait()
            results[i] = _post(srv.url + "/api/v1/deposits", w.courier_token,
                               {"locker_id": w.locker_id, "tracking_number": trackings[i],
                                "recipient_phone": w.consenting_phone, "size": "S"})
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    statuses = sorted(r[0] for r in results)
    assert set(statuses) <= {200, 201, 422}, statuses
    refused = [r for r in results if r[0] == 422]
    assert all(r[1]["error"]["code"] == "no_free_compartment" for r in refused)
    won = {}
    for (status, body), tracking in zip(results, trackings, strict=True):
        if status in (200, 201):
            won.setdefault(tracking, set()).add(body["compartment"]["id"])
    assert all(len(c) == 1 for c in won.values()), won  # a retry got the same door as its first try
    doors_given = [next(iter(c)) for c in won.values()]
    assert len(doors_given) == 4 and len(set(doors_given)) == 4
    with db.reading() as s:
        held = s.execute(select(Parcel.active_compartment_id, func.count()).where(
            Parcel.active_compartment_id.is_not(None)).group_by(Parcel.active_compartment_id)).all()
        assert sorted(c for c, _ in held) == sorted(doors_given) and all(n == 1 for _, n in held)
        assert s.scalar(select(func.count()).select_from(Parcel)) == 4
        assert s.scalar(select(func.count()).select_from(Parcel).where(Parcel.tracking_number == "RETRY0001")) <= 1
        states = s.execute(select(Compartment.state, func.count()).where(Compartment.locker_id == w.locker_id)
                           .group_by(Compartment.state)).all()
        assert dict(states) == {"occupied": 6, "reserved": 4}


def test_database_itself_refuses_a_second_holder(any_db):
    """Even code that skipped the service's checks cannot give one compartment to two parcels."""
    db = any_db
    w = build_world(db)
    from server.services import deposits
    first = deposits.start_deposit(db, w.courier, w.locker_id, "PN000001", w.consenting_phone, "S")
    second = deposits.start_deposit(db, w.courier, w.locker_id, "PN000002", w.consenting_phone, "S")
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            p = s.get(Parcel, second["parcel"]["id"])
            p.active_compartment_id = first["compartment"]["id"]
            s.flush()


def test_concurrent_deposit_and_pickup_cycles_complete_without_errors(any_db):
    """Whole cycles in parallel (deposit, door closed with parcel, code at the locker, door closed
    empty): no deadlock, no lost update, every compartment free again at the end."""
    from support.server_world import last_code

    from server.services import deposits, door_reports, pickups
    from server.services.principals import Principal
    db = any_db
    w = build_world(db, layout=[(1, [("S", False, "middle")] * 12)])
    locker = Principal("locker", locker_id=w.locker_id)
    errors = []

    def worker(i):
        try:
            for n in range(3):
                r = deposits.start_deposit(db, w.courier, w.locker_id, "CY%02d%04d" % (i, n), w.consenting_phone,
                                           "S")
                comp = r["compartment"]["id"]
                assert door_reports.door_event(db, comp, "closed", occupied=True)["outcome"] == "deposit_confirmed"
                code, _ = last_code(db, r["parcel"]["id"])
                assert pickups.verify_at_locker(db, locker, w.locker_id, code, "src-%d" % i)["action"] == "pickup"
                assert door_reports.door_event(db, comp, "closed", occupied=False)["outcome"] == "picked_up"
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Parcel).where(Parcel.state == "picked_up")) == 24
        assert s.scalar(select(func.count()).select_from(Compartment).where(
            Compartment.locker_id == w.locker_id, Compartment.state != "free")) == 0


def test_a_nested_write_transaction_is_an_error_not_a_hang(db):
    with pytest.raises(RuntimeError, match="nested"):
        with db.transaction():
            with db.transaction():
                pass
    with db.transaction() as s:  # and the database is usable afterwards
        assert s.execute(select(func.count()).select_from(Parcel)).scalar() == 0
