"""Compartment choice: smallest fitting size, chilled for perishables (ambient kept for the rest),
the recipient's height preference, wear spread."""
from sqlalchemy import select, update
from support.server_world import build_world

from server.models import Compartment
from server.services import deposits

LAYOUT = [(1, [("S", False, "high"), ("M", False, "high"), ("M", False, "low"), ("L", False, "middle")]),
          (2, [("S", True, "middle"), ("M", True, "low")])]


def _comp(db, cid):
    with db.reading() as s:
        c = s.get(Compartment, cid)
        return (c.board.address, c.index, c.size, c.chilled, c.height_band)


def test_smallest_fitting_ambient_first_then_chilled(db):
    w = build_world(db, layout=LAYOUT)
    got = [_comp(db, deposits.start_deposit(db, w.courier, w.locker_id, "PN%06d" % i, w.consenting_phone, "S")
                 ["compartment"]["id"]) for i in range(4)]
    # Ambient S, then the ambient Ms (lowest wear / id first), then ambient L ...
    assert [g[2] for g in got] == ["S", "M", "M", "L"] and not any(g[3] for g in got)
    # ... and only when no ambient door is left does a non-perishable parcel take a chilled one.
    fifth = deposits.start_deposit(db, w.courier, w.locker_id, "PN000005", w.consenting_phone, "S")
    assert _comp(db, fifth["compartment"]["id"])[2:4] == ("S", True)


def test_perishables_go_only_to_chilled_compartments(db):
    w = build_world(db, layout=LAYOUT)
    a = deposits.start_deposit(db, w.courier, w.locker_id, "PN000001", w.consenting_phone, "M", perishable=True)
    assert _comp(db, a["compartment"]["id"]) == (2, 2, "M", True, "low")
    try:
        deposits.start_deposit(db, w.courier, w.locker_id, "PN000002", w.consenting_phone, "M", perishable=True)
    except Exception as exc:
        assert exc.code == "no_free_compartment"
    else:
        raise AssertionError("a perishable parcel was put in an ambient compartment")


def test_height_preference(db):
    w = build_world(db, layout=LAYOUT)
    # Old Zhang prefers low doors: the low M beats the high M of the same size.
    r = deposits.start_deposit(db, w.courier, w.locker_id, "PN000001", w.low_pref_phone, "M")
    assert _comp(db, r["compartment"]["id"]) == (1, 3, "M", False, "low")
    r = deposits.start_deposit(db, w.courier, w.locker_id, "PN000002", w.consenting_phone, "M")
    assert _comp(db, r["compartment"]["id"]) == (1, 2, "M", False, "high")


def test_wear_is_spread_over_equal_compartments(db):
    w = build_world(db, layout=[(1, [("S", False, "middle")] * 3)])
    with db.transaction() as s:
        s.execute(update(Compartment).where(Compartment.index == 1).values(open_count=50))
        s.execute(update(Compartment).where(Compartment.index == 2).values(open_count=10))
    r = deposits.start_deposit(db, w.courier, w.locker_id, "PN000001", w.consenting_phone, "S")
    assert _comp(db, r["compartment"]["id"])[1] == 3
    r = deposits.start_deposit(db, w.courier, w.locker_id, "PN000002", w.consenting_phone, "S")
    assert _comp(db, r["compartment"]["id"])[1] == 2


def test_disabled_faulty_and_open_doors_are_never_assigned(db, client):
    from support.server_world import bearer
    w = build_world(db, layout=[(1, [("S", False, "middle")] * 3)])
    with db.reading() as s:
        ids = s.scalars(select(Compartment.id).where(Compartment.locker_id == w.locker_id)
                        .order_by(Compartment.index)).all()
    h = bearer(w.maintainer_token)
    url = "/api/v1/compartments/%d/state"
    assert client.post(url % ids[0], headers=h, json={"state": "disabled"}).status_code == 200
    assert client.post(url % ids[1], headers=h, json={"state": "faulty"}).status_code == 200
    with db.transaction() as s:
        s.get(Compartment, ids[2]).door = "open"
    try:
        deposits.start_deposit(db, w.courier, w.locker_id, "PN000001", w.consenting_phone, "S")
    except Exception as exc:
        assert exc.code == "no_free_compartment"
    else:
        raise AssertionError("assigned an unusable compartment")
