"""Which boards of a rollout update next, and how far a rollout has got: read inside the caller's
transaction by the rollout itself (server/firmware_delivery/rollout.py) and by the firmware command queue
(server/firmware_delivery/queue.py), below both."""
import hashlib

from sqlalchemy import select

from server.models import Board, Compartment, LockerCommand
from server.models.firmware_delivery import FwRelease, FwRolloutBoard


def image_intact(release):
    """The stored image is still the one verified at upload (checked before any command is queued)."""
    return hashlib.sha256(release.image).hexdigest() == release.sha256


def _busy_board_ids(s, board_ids):
    """Boards with a door mid-operation: a command queued or sent for them, or a door reported open."""
    busy = set(s.scalars(select(LockerCommand.board_id).where(LockerCommand.board_id.in_(board_ids),
                                                              LockerCommand.state.in_(("queued", "sent")))))
    busy |= set(s.scalars(select(Compartment.board_id).where(Compartment.board_id.in_(board_ids),
                                                             Compartment.door == "open")))
    # Commands not tied to a board still hold the whole locker.
    lockers = set(s.scalars(select(LockerCommand.locker_id).where(LockerCommand.board_id.is_(None),
                                                                  LockerCommand.state.in_(("queued", "sent")))))
    if lockers:
        busy |= set(s.scalars(select(Board.id).where(Board.id.in_(board_ids), Board.locker_id.in_(lockers))))
    return busy


def pick_boards(s, ro, limit, busy_lockers=()):
    """Rows of a running rollout to update now (in session s): canaries first, the rest only once every
    canary is done; never a board with a door mid-operation, nor one on a locker in busy_lockers, and
    at most one board per locker (they share one bus). The caller marks them 'updating'."""
    rows = list(s.scalars(select(FwRolloutBoard).where(FwRolloutBoard.rollout_id == ro.id)
                          .order_by(FwRolloutBoard.canary.desc(), FwRolloutBoard.board_id)))
    canaries_left = [r for r in rows if r.canary and r.state != "done"]
    pending = [r for r in rows if r.state == "pending" and (r.canary or not canaries_left)]
    busy = _busy_board_ids(s, [r.board_id for r in pending]) if pending else set()
    lockers = set(busy_lockers)
    out = []
    for r in pending:
        if len(out) >= limit:
            break
        b = s.get(Board, r.board_id)
        if r.board_id in busy or b.locker_id in lockers:
            continue
        lockers.add(b.locker_id)
        out.append((r, b))
    return out


def progress(s, ro):
    rows = s.execute(select(FwRolloutBoard, Board).join(Board, Board.id == FwRolloutBoard.board_id)
                     .where(FwRolloutBoard.rollout_id == ro.id).order_by(FwRolloutBoard.board_id)).all()
    boards = [{"board_id": r.board_id, "locker_id": b.locker_id, "address": b.address, "canary": r.canary,
               "state": r.state, "from_version": r.from_version, "version": r.version, "attempts": r.attempts,
               "command_id": r.command_id, "last_error": r.last_error} for r, b in rows]
    totals = {}
    for st in ("pending", "updating", "done", "failed", "skipped"):
        totals[st] = sum(1 for x in boards if x["state"] == st)
    release = s.get(FwRelease, ro.release_id)
    return {"id": ro.id, "release_id": ro.release_id, "version": release.version, "state": ro.state,
            "scope": ro.scope, "failure_threshold": ro.failure_threshold, "pause_reason": ro.pause_reason,
            "totals": totals, "boards": boards, "status_url": "/api/v1/firmware/rollouts/%d" % ro.id}
