"""What the occupancy sensors say reaches the people: the courier's handheld asks what to do about a door
shut on an empty compartment, and the station's cabinet view marks a compartment with something inside
it should not have. Through Flask's test client on a fresh copy of the test county."""
import html as htmllib
import re

import pytest
from sqlalchemy import select
from support.page_words import english_words
from support.web_world import built_copy, client_as, make_app

from server.models import Compartment, Parcel
from server.services import deposits, door_reports


@pytest.fixture
def site(tmp_path):
    db, world = built_copy(tmp_path)
    app = make_app(db)
    yield app, world, db
    db.dispose()


def test_the_courier_is_asked_about_a_door_shut_on_an_empty_compartment(site):
    app, w, db = site
    out = deposits.start_deposit(db, w.courier, w.locker_id, "PN-E-0001", w.consenting_phone, "S")
    comp_id, parcel_id = out["compartment"]["id"], out["parcel"]["id"]
    door_reports.door_event(db, comp_id, "opened")
    door_reports.door_event(db, comp_id, "closed", occupied=False)
    c = client_as(app, "courier-post", path="/courier/login")
    page = c.get("/courier/parcel/%d" % parcel_id).get_data(as_text=True)
    assert 'id="closed-empty"' in page and "柜门关了，但格口里是空的" in page
    assert "/courier/parcel/%d/reopen" % parcel_id in page and "/courier/parcel/%d/confirm_inside" % parcel_id in page
    assert english_words(page)[0] == []
    r = c.post("/courier/parcel/%d/confirm_inside" % parcel_id, data={"csrf_token": c.csrf}, follow_redirects=True)
    assert "已确认投递" in r.get_data(as_text=True)
    with db.reading() as s:
        assert s.get(Parcel, parcel_id).state == "in_locker"
    op = client_as(app, "op-dongcun")
    cabinet = op.get("/station/").get_data(as_text=True)
    cell = re.search(r'<div id="cpt-%d".*?</div>' % comp_id, cabinet, re.S).group(0)
    assert 'data-alarm="occupancy_sensor_suspect"' in cell
    assert "格口感应器可能有误" in htmllib.unescape(cell)


def test_the_cabinet_view_marks_a_free_compartment_that_reads_occupied(site):
    app, w, db = site
    with db.reading() as s:
        free = s.scalars(select(Compartment).where(Compartment.locker_id == w.locker2_id,
                                                   Compartment.state == "free").order_by(Compartment.id)).first()
        board_id, index, comp_id = free.board_id, free.index, free.id
    door_reports.occupancy_seen(db, board_id, {index: True})
    op = client_as(app, "op-dongcun")
    cabinet = op.get("/station/").get_data(as_text=True)
    cell = re.search(r'<div id="cpt-%d".*?</div>' % comp_id, cabinet, re.S).group(0)
    assert 'data-alarm="unexpected_item"' in cell and "格口内有未登记物品" in htmllib.unescape(cell)
