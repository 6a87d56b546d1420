"""A command the board refused as busy waits on the bus master's deferred list. If the database ends it
meanwhile (an open superseded by the board's own offline drop-off, a firmware update given up on), the
held-back command must never go out; one still 'sent' goes out as planned. (The real board makes a
BUSY rare and its timing not reproducible, so the deferred list is filled directly here.)"""
from support.server_world import build_world

from server.link import bus
from server.models import Board, LockerCommand


def _master_with_deferred(db, states):
    world = build_world(db)
    with db.transaction() as s:
        board = s.query(Board).filter(Board.locker_id == world.locker_id).order_by(Board.address).first()
        rows = [LockerCommand(locker_id=world.locker_id, board_id=board.id, kind="open", state=st,
                              purpose="deposit", requested_by="test", payload={"index": 1}) for st in states]
        s.add_all(rows)
        s.flush()
        address, board_id, ids = board.address, board.id, [r.id for r in rows]
    master = bus.BusMaster(db, world.locker_id, "test-owner", sealer=None)
    b = bus._Board(address, {"board_id": board_id, "key": b"k" * 16, "cursor": 0})
    b.online = True
    master.boards = {address: b}
    executed = []
    master._execute = lambda board, cmd: executed.append(cmd["id"])
    for cid in ids:
        cmd = {"id": cid, "kind": "open", "age_s": 0.0, "left_s": 30.0, "address": address}  # as claimed
        b.inflight[cid] = cmd
        b.deferred.append((0.0, cmd))
    return master, b, ids, executed


def test_a_deferred_command_ended_meanwhile_is_dropped_and_one_still_sent_goes_out(db):
    master, b, (ended, live), executed = _master_with_deferred(db, ["failed", "sent"])
    assert master._deferred_due()          # the ended one: taken off the list, not executed
    assert executed == [] and ended not in b.inflight
    assert master._deferred_due()          # the live one goes out
    assert executed == [live]
    assert not master._deferred_due()      # nothing left
