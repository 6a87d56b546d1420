"""The HTTP request that queued a door command waits for it (link_commands.wait_final) on a condition
the link signals as it finishes the command, reading the row only a few times a second.

Command ids are unique only within one database, and a process may hold several (this test suite,
tools). Another database's finished command 7 must neither end nor hurry the wait for this one's
command 7: the waiter used to take it for its own, skip every wait and spin on the row, starving the
link thread that was to finish the command (inside pytest, the 200-parcel demo lost a deposit to it).
"""
import threading

from support.server_world import build_world

from server.models import Board, LockerCommand
from server.services import link_commands


def _command(db, state):
    world = build_world(db)
    with db.transaction() as s:
        board = s.query(Board).filter(Board.locker_id == world.locker_id).first()
        cmd = LockerCommand(locker_id=world.locker_id, board_id=board.id, kind="config", state=state,
                            requested_by="test", payload={"items": []})
        s.add(cmd)
        s.flush()
        return cmd.id


def _count_reads(monkeypatch):
    reads = []
    real = link_commands.state_of

    def state_of(db, command_id):
        reads.append(command_id)
        return real(db, command_id)
    monkeypatch.setattr(link_commands, "state_of", state_of)
    return reads


def test_a_command_finished_in_another_database_neither_ends_nor_hurries_the_wait(db, other_db, monkeypatch):
    mine, theirs = _command(db, "sent"), _command(other_db, "sent")
    assert mine == theirs  # the same id in two databases
    assert link_commands.finish(other_db, theirs, "done", "applied:0")
    reads = _count_reads(monkeypatch)
    assert link_commands.wait_final(db, mine, timeout=0.6, poll_s=0.2) == ("sent", None)
    # one read up front and one per poll_s; spinning on the row made thousands
    assert len(reads) <= 6, len(reads)


def test_the_link_finishing_the_command_ends_the_wait_at_once(db, monkeypatch):
    cid = _command(db, "sent")
    reads = _count_reads(monkeypatch)
    waiting = threading.Event()
    real_wait = link_commands._done.wait

    def wait(timeout=None):
        waiting.set()
        return real_wait(timeout)
    monkeypatch.setattr(link_commands._done, "wait", wait)
    finisher = threading.Thread(target=lambda: waiting.wait(10) and link_commands.finish(db, cid, "done", "x"))
    finisher.start()
    # a poll_s far beyond the test's time: only the link's notification can end this wait in time
    assert link_commands.wait_final(db, cid, timeout=60, poll_s=30) == ("done", "x")
    finisher.join()
    assert len(reads) == 2  # before the wait and after the notification
