"""link_events.lost_events, the figure the demo, the crash runs and the soak must keep at 0: seqs a
board never delivered, and the count of every EVENTS_LOST a board journaled when its journal
overflowed; event_gaps says where they are."""
from support.server_world import build_world

from protocol import messages as m
from server.models import Board
from server.models.link import LinkEvent
from server.services import link_events


def test_lost_events_counts_every_gap_in_a_boards_seqs_and_every_events_lost_report(db):
    world = build_world(db)
    with db.transaction() as s:
        board_id = s.query(Board).filter(Board.locker_id == world.locker_id).first().id
        rows = [(1, m.EV_BOOT, b""), (2, m.EV_DOOR_OPENED, b""), (5, m.EV_DOOR_CLOSED, b""),
                (6, m.EV_EVENTS_LOST, m.encode_event_data(m.EV_EVENTS_LOST, {"count": 7})),
                (7, m.EV_DOOR_OPENED, b"")]
        s.add_all([LinkEvent(board_id=board_id, seq=seq, kind=kind, compartment=0, board_time=0, data=data)
                   for seq, kind, data in rows])
    assert link_events.event_gaps(db) == [(board_id, 2, 5, "DOOR_CLOSED", 2), (board_id, 5, 6, "EVENTS_LOST", 7)]
    assert link_events.lost_events(db) == 9
