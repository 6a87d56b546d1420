"""The maintainer's commissioning page of one board: its buttons queue the work for the locker link,
and it shows what the board reported (progress, what was found, the polarity readings, a refusal)."""
import html
import re

from sqlalchemy import select
from support.web_world import built_copy, client_as, make_app

from server.models import Board, LockerCommand
from server.services import commissioning, door_reports


def _status(**kw):
    st = {"state": 2, "mode": 1, "progress": 100, "flags": 0, "dialect": 2, "baud": 9600, "queried": [1, 2],
          "boards": [1], "per_board": 12, "raw": b"", "feedback": 0xFF, "ir": 0xFF, "bad_replies": 0}
    st.update(kw)
    return st


def _finish(db, cmd_id, status, result="probe:done"):
    door_reports.mark_command(db, cmd_id, "sent")
    commissioning.record_status(db, cmd_id, status)
    door_reports.mark_command(db, cmd_id, "done", result)


def _page(c, board_id):
    r = c.get("/fleet/boards/%d/commission?lang=en" % board_id)
    assert r.status_code == 200
    return html.unescape(r.get_data(as_text=True))


def test_commission_page_queues_steps_and_shows_what_the_board_found(tmp_path):
    db, _world = built_copy(tmp_path)
    try:
        app = make_app(db)
        with db.reading() as s:
            board = s.scalars(select(Board).order_by(Board.id)).first()
            board_id, locker_id = board.id, board.locker_id
        c = client_as(app, "maint")
        assert 'href="/fleet/boards/%d/commission"' % board_id in c.get("/fleet/").get_data(as_text=True)
        page = _page(c, board_id)
        assert "Lock board commissioning" in page and "data-reload-url" not in page
        # nothing probed yet: "store and send" has nothing to store
        r = c.post("/fleet/boards/%d/commission/store" % board_id, data={"csrf_token": c.csrf}, follow_redirects=True)
        assert "Probe the lock bus first." in html.unescape(r.get_data(as_text=True))
        r = c.post("/fleet/boards/%d/commission/scan" % board_id, data={"csrf_token": c.csrf, "dialect": "8a"})
        assert r.status_code == 302
        with db.reading() as s:
            cmd = s.scalars(select(LockerCommand).where(LockerCommand.kind == "commission")).one()
            assert (cmd.board_id, cmd.payload["op"], cmd.payload["dialect"]) == (board_id, "scan", 2)
            scan_id = cmd.id
        page = _page(c, board_id)
        assert "data-reload-url" in page  # a step under way: the page follows it
        door_reports.mark_command(db, scan_id, "sent")
        commissioning.record_status(db, scan_id, _status(state=1, progress=40))
        assert "probing the lock bus: 40%" in _page(c, board_id)
        assert c.get("/fleet/boards/%d/commission.json" % board_id).get_json()["state"].endswith(":sent:40")
        commissioning.record_status(db, scan_id, _status())
        door_reports.mark_command(db, scan_id, "done", "probe:done")
        page = _page(c, board_id)
        assert "found 8a boards 1 at 9600, 12 channels each" in page
        assert re.search(r'id="p-state"[^>]*>found, not stored<', page)
        # the polarity check: a reading with the door open (00), one once it is shut (11)
        for phase, fb in (("open", 0x00), ("shut", 0x11)):
            r = c.post("/fleet/boards/%d/commission/read_%s" % (board_id, phase), data={"csrf_token": c.csrf,
                                                                                       "door": "1"})
            assert r.status_code == 302
            with db.reading() as s:
                read = s.scalars(select(LockerCommand).where(LockerCommand.kind == "commission")
                                 .order_by(LockerCommand.id.desc())).first()
                assert (read.payload["op"], read.payload["phase"], read.payload["lock"]) == ("read", phase, 1)
            _finish(db, read.id, _status(mode=3, queried=[1], per_board=0, raw=bytes((fb,)), feedback=fb))
        page = _page(c, board_id)
        assert "Polarity found: short_when_locked" in page
        assert '<option value="short_when_locked" selected>' in page
        r = c.post("/fleet/boards/%d/commission/store" % board_id, data={"csrf_token": c.csrf,
                                                                         "polarity": "short_when_locked"})
        assert r.status_code == 302
        with db.reading() as s:
            push = s.scalars(select(LockerCommand).where(LockerCommand.kind == "commission")
                             .order_by(LockerCommand.id.desc())).first()
            assert push.payload["items"] == [
                {"key": "lock.type", "value": "8a"}, {"key": "lock.baud", "value": "9600"},
                {"key": "lock.boards", "value": "1"}, {"key": "lock.per_board", "value": "12"},
                {"key": "lock.polarity", "value": "short_when_locked"}, {"key": "lock.ir", "value": "0"}]
        assert commissioning.profile(db, locker_id, board.address)["profile"]["state"] == "stored"
        # a refusal, as the link reports it: the page says what the bus answered
        door_reports.mark_command(db, push.id, "sent")
        commissioning.record_status(db, push.id, _status(mode=2, baud=19200, queried=[1], boards=[]),
                                    refused_key="lock.boards")
        commissioning.push_done(db, push.id, False)
        door_reports.mark_command(db, push.id, "failed", "refused:lock.boards")
        page = _page(c, board_id)
        assert "The board refused the profile: the board refused the setting lock.boards; " \
               "found 8a boards 1 at 9600" in page
    finally:
        db.dispose()


def test_commission_page_of_no_board_is_not_found(tmp_path):
    db, _world = built_copy(tmp_path)
    try:
        c = client_as(make_app(db), "maint")
        assert c.get("/fleet/boards/99999/commission").status_code == 404
        assert c.post("/fleet/boards/99999/commission/scan", data={"csrf_token": c.csrf}).status_code == 404
        assert client_as(make_app(db), "op-dongcun").get("/fleet/boards/1/commission").status_code in (302, 403)
    finally:
        db.dispose()
