"""The fleet page shows the locker link's view of each board: online/offline as the link last saw
it, link quality (first-try share of its recent commands) and the reset causes of its recent boots."""
import re

from sqlalchemy import select
from support.web_world import built_copy, client_as, make_app

from protocol import messages as m
from server import clock
from server.models import Board, LockerCommand
from server.models.link import LinkAttempt, LinkBoard, LinkEvent


def _row(html, board_id):
    return re.search(r'<tr data-board="%d">(.*?)</tr>' % board_id, html, re.S).group(1)


def test_fleet_page_shows_link_health_from_the_link_tables(tmp_path):
    db, _world = built_copy(tmp_path)
    try:
        app = make_app(db)
        with db.transaction() as s:
            boards = s.scalars(select(Board).order_by(Board.id)).all()
            talked, silent, quiet = boards[0], boards[1], boards[2]
            now = clock.utcnow()
            s.add(LinkBoard(board_id=talked.id, online=True, last_seen_at=now, changed_at=now))
            s.add(LinkBoard(board_id=silent.id, online=False, last_seen_at=now, changed_at=now))
            for tries in (1, 1, 3, 1):  # 4 commands, 6 transmissions: 67 %
                cmd = LockerCommand(locker_id=talked.locker_id, board_id=talked.id, kind="clear_code",
                                    requested_by="t", state="done")
                s.add(cmd)
                s.flush()
                s.add(LinkAttempt(command_id=cmd.id, worker="w", tries=tries, sent_at=now))
            s.add(LinkEvent(board_id=talked.id, seq=1, kind=m.EV_BOOT, compartment=0, board_time=0,
                            data=bytes((m.RESET_POWER_ON,))))
            s.add(LinkEvent(board_id=talked.id, seq=7, kind=m.EV_BOOT, compartment=0, board_time=0,
                            data=bytes((m.RESET_WATCHDOG,))))
            s.add(LinkEvent(board_id=talked.id, seq=8, kind=m.EV_DOOR_OPENED, compartment=1, board_time=0,
                            data=b""))
            ids = (talked.id, silent.id, quiet.id)
        html = client_as(app, "maint").get("/fleet/").get_data(as_text=True)
        row = _row(html, ids[0])
        assert "67%" in row and "看门狗, 上电" in row, row  # newest boot first
        assert "badge good" in row
        assert "badge bad" in _row(html, ids[1])  # the link says offline, though seen recently
        assert _row(html, ids[2]).count("尚未上报") >= 2  # the link has not talked to it
    finally:
        db.dispose()
