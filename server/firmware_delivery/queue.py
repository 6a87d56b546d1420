"""Firmware updates as commands of the locker link's durable queue (locker_commands, kind 'firmware').

A rollout never talks to a board itself. `stage` picks the next boards (rollout_boards.pick_boards: canaries
first, no door mid-operation, one board per locker, at most PARALLEL per rollout) and, in the same
transaction, marks each row 'updating' and queues one firmware command for it (payload: rollout,
release, version, SHA-256; the image stays in fw_releases). The locker's bus master executes it
(server/link/firmware_job.py) and calls `finished`, which ends the command and reports the board into
the rollout in one transaction, then stages the next boards. `advance` (called by create/resume, the
housekeeping loop and `cunbox firmware rollout-run`) does the same for every running rollout, and
also settles rows whose command ended some other way (a board the link holds no key for).
"""
import logging

from sqlalchemy import func, select

from server.clock import utcnow
from server.firmware_delivery import rollout_boards
from server.models import Board, LockerCommand
from server.models.firmware_delivery import FwRelease, FwRollout, FwRolloutBoard
from server.models.link import LinkAttempt, LinkBoard
from server.services import audit, doors

log = logging.getLogger("cunbox.firmware")

PARALLEL = 4  # boards of one rollout updating at once (each on its own locker: one bus, one transfer)
RESULT_PREFIX = "version:"  # a done firmware command's result: the version the board confirmed
UNREACHABLE_S = 6 * 3600  # a board offline this long fails its update, so the rollout can move on (or pause)


def stage(db, rollout_id, parallel=PARALLEL):
    """Queue firmware commands for the next boards of a running rollout; returns their command ids."""
    def fn(s):
        ro = s.scalar(select(FwRollout).where(FwRollout.id == rollout_id).with_for_update())
        if ro is None or ro.state != "running":
            return []
        release = s.get(FwRelease, ro.release_id)
        if not rollout_boards.image_intact(release):
            ro.state = "paused"
            ro.pause_reason = "release %s: the stored image no longer matches its SHA-256" % release.version
            return []
        updating = list(s.scalars(select(FwRolloutBoard).where(FwRolloutBoard.rollout_id == ro.id,
                                                               FwRolloutBoard.state == "updating")))
        room = parallel - len(updating)
        if room <= 0:
            return []
        busy_lockers = {s.get(Board, r.board_id).locker_id for r in updating}
        out = []
        for row, board in rollout_boards.pick_boards(s, ro, room, busy_lockers):
            cmd = LockerCommand(locker_id=board.locker_id, board_id=board.id, kind="firmware",
                                requested_by=ro.created_by,
                                payload={"rollout_id": ro.id, "release_id": release.id, "version": release.version,
                                         "sha256": release.sha256, "board": board.address})
            s.add(cmd)
            s.flush()
            row.state = "updating"
            row.attempts += 1
            row.started_at = utcnow()
            row.command_id = cmd.id
            out.append((cmd.id, board.locker_id))
        return out
    staged = db.run(fn)
    if staged:
        for _cid, locker_id in staged:
            # an in-process bus master starts at once; others find it at their next pass
            doors.driver().locker_has_work(db, locker_id)
    return [cid for cid, _lid in staged]


def advance(db, rollout_id):
    """Settle what finished, stage what is next; returns the rollout's progress."""
    from server.errors import NotFound
    with db.reading() as s:
        if s.get(FwRollout, rollout_id) is None:
            raise NotFound("no rollout %s" % rollout_id)
    settle(db, rollout_id)
    stage(db, rollout_id)
    with db.reading() as s:
        return rollout_boards.progress(s, s.get(FwRollout, rollout_id))


def advance_all(db):
    """Every running rollout (the housekeeping loop); returns how many commands were queued."""
    with db.reading() as s:
        ids = list(s.scalars(select(FwRollout.id).where(FwRollout.state == "running")))
    n = 0
    for rid in ids:
        settle(db, rid)
        n += len(stage(db, rid))
    return n


def settle(db, rollout_id, now=None):
    """Rows still 'updating' whose command is final already (ended by the link without an update, e.g.
    board_not_keyed, or a rollout paused meanwhile) take the command's outcome. A command whose board
    has been offline for UNREACHABLE_S fails as board_unreachable: the board gets no half update (one
    not confirmed rolls back at its next boot), and a link that hears from it later drops the command."""
    def fn(s):
        ro = s.get(FwRollout, rollout_id)
        at = now or utcnow()
        n = 0
        rows = list(s.scalars(select(FwRolloutBoard).where(FwRolloutBoard.rollout_id == rollout_id,
                                                           FwRolloutBoard.state == "updating",
                                                           FwRolloutBoard.command_id.is_not(None))))
        for row in rows:
            if row.state != "updating" or row.command_id is None:
                continue  # withdrawn meanwhile (the rollout paused itself on an earlier row)
            cmd = s.get(LockerCommand, row.command_id)
            if cmd.state not in ("done", "failed"):
                lb = s.get(LinkBoard, row.board_id)
                away = at - (lb.changed_at or cmd.created_at) if lb is not None and not lb.online else None
                if away is None or away.total_seconds() < UNREACHABLE_S or cmd.created_at > at:
                    continue
                cmd.state, cmd.result = "failed", "board_unreachable"
            ok = cmd.state == "done"
            version = cmd.result[len(RESULT_PREFIX):] if ok and (cmd.result or "").startswith(RESULT_PREFIX) else None
            report_in(s, ro, row, ok, version, None if ok else "link: %s" % cmd.result)
            n += 1
        return n
    return db.run(fn)


def withdraw_queued(s, ro, reason):
    """A rollout paused or cancelled: its firmware commands not yet taken by a link are failed, and their
    boards go back to 'pending' (resume stages them again). Updates already under way finish."""
    for row in list(s.scalars(select(FwRolloutBoard).where(FwRolloutBoard.rollout_id == ro.id,
                                                           FwRolloutBoard.state == "updating",
                                                           FwRolloutBoard.command_id.is_not(None)))):
        cmd = s.get(LockerCommand, row.command_id)
        if cmd.state == "queued":
            cmd.state, cmd.result = "failed", reason
            row.state, row.command_id = "pending", None
            row.attempts = max(0, row.attempts - 1)


def job(db, command_id):
    """What the bus master needs to run a claimed firmware command: {"image", "version", "rollout_id"},
    or None when there is nothing to do (the command is final already)."""
    with db.reading() as s:
        cmd = s.get(LockerCommand, command_id)
        if cmd is None or cmd.kind != "firmware" or cmd.state not in ("queued", "sent"):
            return None
        p = cmd.payload or {}
        release = s.get(FwRelease, p.get("release_id"))
        if release is None:
            return {"missing": "release %s" % p.get("release_id")}
        return {"image": bytes(release.image), "version": release.version, "rollout_id": p.get("rollout_id"),
                "sha256": release.sha256}


def finished(db, command_id, ok, version=None, error=None):
    """The bus master's outcome: the command ends done ('version:X') or failed (the reason, short),
    and the rollout's row takes the outcome (with the full reason) in the same transaction; then the
    rollout's next boards are staged. Returns False if the command was final already (at most once)."""
    def fn(s):
        cmd = s.scalar(select(LockerCommand).where(LockerCommand.id == command_id).with_for_update())
        if cmd is None or cmd.state not in ("queued", "sent"):
            return False, None
        cmd.state = "done" if ok else "failed"
        cmd.result = (RESULT_PREFIX + (version or "") if ok else (error or "failed"))[:40]
        att = s.get(LinkAttempt, command_id)
        if att is not None:
            att.outcome = cmd.result
        row = s.scalar(select(FwRolloutBoard).where(FwRolloutBoard.command_id == command_id))
        if row is not None and row.state == "updating":
            report_in(s, s.get(FwRollout, row.rollout_id), row, ok, version, error)
        elif version is not None:
            s.get(Board, cmd.board_id).firmware_version = version
        return True, (cmd.payload or {}).get("rollout_id")
    done, rid = db.run(fn)
    if not done:
        return False
    from server.services import link_commands
    link_commands._finished(db, command_id)  # wake an in-process waiter
    if rid is None:
        return True
    try:
        stage(db, rid)
    except Exception:  # noqa: BLE001 - the outcome is stored; housekeeping stages the next boards anyway
        log.exception("rollout %s: staging the next boards failed", rid)
    return True


def report_in(s, ro, row, ok, version=None, error=None):
    """report() inside the caller's transaction (s): the firmware command's outcome and the rollout's
    row change together."""
    rollout_id, board_id = ro.id, row.board_id
    row.finished_at = utcnow()
    if version is not None:
        row.version = version
        s.get(Board, board_id).firmware_version = version
    if ok:
        row.state = "done"
        row.last_error = None
    else:
        row.state = "failed"
        row.last_error = (error or "failed")[:2000]
    counts = dict(s.execute(select(FwRolloutBoard.state, func.count()).where(
        FwRolloutBoard.rollout_id == rollout_id).group_by(FwRolloutBoard.state)).all())
    failed = counts.get("failed", 0)
    finished = failed + counts.get("done", 0)
    auto_paused = ro.state == "paused" and (ro.pause_reason or "").startswith("auto-paused")
    if (ro.state == "running" or auto_paused) and finished and failed / float(finished) > ro.failure_threshold:
        # paused at the first failure past the threshold; an update already under way that ends later
        # brings the figures up to date (not "1 of 1" when 2 of 2 failed)
        ro.pause_reason = "auto-paused: %d of %d finished boards failed (threshold %d%%); last: board %d: %s" % (
            failed, finished, round(ro.failure_threshold * 100), board_id, row.last_error)
        if not auto_paused:
            ro.state = "paused"
            audit.record(s, "system", "fw_rollout_paused", detail={"rollout": ro.id, "reason": ro.pause_reason})
            withdraw_queued(s, ro, "rollout_paused")
    elif ro.state == "running" and not counts.get("pending") and not counts.get("updating"):
        ro.state = "completed"
    audit.record(s, "system", "fw_board_%s" % row.state, detail={"rollout": ro.id, "board": board_id,
                                                                  "version": version, "error": row.last_error})
    return rollout_boards.progress(s, ro)
