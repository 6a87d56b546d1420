"""The durable command queue (locker_commands), as the link consumes it.

A command moves queued -> sent -> done | failed, each step committed before the link acts on it:
'sent' is written (with a link_attempts row naming the worker) *before* the frame goes on the wire,
so a command is never put on the wire by two workers, and one left 'sent' by a dead worker is
resolved from the board's own journal (the OPEN_RESULT event carries the command id as reference)
rather than resent blindly: at most once.

A door open has a deadline (locker_commands.deadline_at, set by purpose in services/doors.py): past
it the open is withdrawn, never put on the wire, and boards that understand OPEN_BY refuse it too,
so no door opens for a person who was told it failed, or minutes after they left.

Code commands are triggers: the link installs whatever code is live for the compartment *now*
(or clears it if none is), so commands that arrive out of order or twice still leave the board
holding exactly the live codes.
"""
import datetime
import threading
import time
import weakref

from sqlalchemy import select

from server import clock
from server.models import AccessCode, Board, Compartment, LockerCommand
from server.models.link import LinkAttempt, LinkLease
from server.services import door_reports, lifecycle

LEGACY_OPEN_DEADLINE_S = 120  # opens queued before deadlines existed (deadline_at NULL) keep the old limit


def deadline_of(cmd):
    """The stored deadline of an open (a LockerCommand row)."""
    if cmd.deadline_at is not None:
        return cmd.deadline_at
    return cmd.created_at + datetime.timedelta(seconds=LEGACY_OPEN_DEADLINE_S)


def outcome(cmd, now=None):
    """What a person waiting at the door is to be told about an open command (a row, or None):
    'waiting', 'opened', 'failed', or 'unknown' (sent, no answer, deadline passed: the board may
    have opened before it; its journal will say, and the page must not claim either)."""
    if cmd is None:
        return "waiting"
    if cmd.state == "done":
        return "opened"
    if cmd.state == "failed":
        return "failed"
    if deadline_of(cmd) >= (now or clock.utcnow()):
        return "waiting"
    return "failed" if cmd.state == "queued" else "unknown"   # a late queued open is never sent


def withdraw_late_opens(db, locker_ids=None, now=None):
    """Queued opens past their deadline fail ('expired'), undoing what waited for them (a
    reservation, a pickup) at once, also when no link worker is there to claim them. Returns how many."""
    at = now or clock.utcnow()
    legacy = at - datetime.timedelta(seconds=LEGACY_OPEN_DEADLINE_S)
    late = (LockerCommand.kind == "open") & (LockerCommand.state == "queued") & (
        (LockerCommand.deadline_at < at) | (LockerCommand.deadline_at.is_(None) & (LockerCommand.created_at < legacy)))
    if locker_ids is not None:
        late = late & LockerCommand.locker_id.in_(list(locker_ids))
    with db.reading() as s:
        if s.scalar(select(LockerCommand.id).where(late).limit(1)) is None:
            return 0

    def fn(s):
        rows = s.scalars(select(LockerCommand).where(late).order_by(LockerCommand.id)
                         .with_for_update(skip_locked=True)).all()
        for cmd in rows:
            cmd.state, cmd.result = "failed", "expired"
            lifecycle.on_open_failed(s, cmd, "expired")
        return [c.id for c in rows]
    ids = db.run(fn)
    for cid in ids:
        _finished(db, cid)
    return len(ids)


def claim_next(db, locker_id, owner, now=None):
    """Take the oldest queued command of a locker for this worker (queued -> sent), or None.

    Checked against the lease in the same transaction: a worker that lost its lease claims nothing.
    Door opens past their deadline are failed ('expired') instead of claimed."""
    with db.reading() as s:  # the common case, nothing queued, costs one read and no write lock
        if s.scalar(select(LockerCommand.id).where(LockerCommand.locker_id == locker_id,
                                                   LockerCommand.state == "queued").limit(1)) is None:
            return None

    def fn(s):
        at = now or clock.utcnow()
        lease = s.get(LinkLease, locker_id)
        if lease is None or lease.owner != owner or lease.expires_at is None or lease.expires_at <= at:
            return None
        while True:
            cmd = s.scalar(select(LockerCommand).where(LockerCommand.locker_id == locker_id,
                                                       LockerCommand.state == "queued")
                           .order_by(LockerCommand.id).limit(1).with_for_update(skip_locked=True))
            if cmd is None:
                return None
            if cmd.kind == "open" and deadline_of(cmd) < at:
                cmd.state = "failed"
                cmd.result = "expired"
                lifecycle.on_open_failed(s, cmd, "expired")
                continue
            cmd.state = "sent"
            att = s.get(LinkAttempt, cmd.id)
            if att is None:
                s.add(LinkAttempt(command_id=cmd.id, worker=owner, tries=1, sent_at=at))
            return _json(s, cmd)
    return db.run(fn)


def _json(s, cmd):
    board = s.get(Board, cmd.board_id) if cmd.board_id else None
    comp = s.get(Compartment, cmd.compartment_id) if cmd.compartment_id else None
    now = clock.utcnow()
    out = {"id": cmd.id, "kind": cmd.kind, "purpose": cmd.purpose, "state": cmd.state,
           "board_id": cmd.board_id, "address": board.address if board else None,
           "compartment_id": cmd.compartment_id, "index": comp.index if comp else None,
           "parcel_id": cmd.parcel_id, "payload": cmd.payload,
           "age_s": (now - cmd.created_at).total_seconds()}
    if cmd.kind == "open":
        deadline = deadline_of(cmd)
        out["deadline"] = clock.unix(deadline)             # for OPEN_BY
        out["left_s"] = (deadline - now).total_seconds()   # counted down by the link (bus._aged)
    return out


def finish(db, command_id, state, result):
    """sent -> done | failed through the backend's door_reports.mark_command (a failed open undoes what
    waited for it: the reservation, the pickup). A command already final (e.g. resolved from its
    event) stays as it is; returns whether this call finished it."""
    from server.errors import BadRequest
    try:
        door_reports.mark_command(db, command_id, state, result)
    except BadRequest:
        return False  # already done / failed: at most once
    with db.transaction() as s:
        att = s.get(LinkAttempt, command_id)
        if att is not None:
            att.outcome = result
    _finished(db, command_id)
    return True


# In-process waiters (the HTTP request that queued a command) are told at once; waiters in other
# processes than the link worker's fall back to reading the row. Finished ids are kept per Database:
# command ids are only unique within one database, and a process may hold several (tests, tools). A
# waiter that took another database's id 7 for its own would skip its wait and spin on the row,
# starving the link thread that is to finish it (every blocking call of that thread then waits out
# the interpreter's switch interval).
_done = threading.Condition()
_done_ids = weakref.WeakKeyDictionary()  # Database -> {command id: monotonic time it finished}


def _finished(db, command_id):
    with _done:
        ids = _done_ids.setdefault(db, {})
        ids[command_id] = time.monotonic()
        if len(ids) > 10000:
            for k in sorted(ids, key=ids.get)[:5000]:
                del ids[k]
        _done.notify_all()


def wait_final(db, command_id, timeout, poll_s=0.25):
    """Wait until the command is done or failed, or timeout; returns (state, result)."""
    started = time.monotonic()
    end = started + timeout
    state, result = state_of(db, command_id)
    while state in ("queued", "sent"):
        left = end - time.monotonic()
        if left <= 0:
            break
        with _done:
            if _done_ids.get(db, {}).get(command_id, -1.0) < started:
                _done.wait(min(left, poll_s))
        state, result = state_of(db, command_id)
    return state, result


def retry_later(db, command_id, owner):
    """An open that never reached the board (proved by its journal) goes back on the wire as a new
    request: count the try and keep it 'sent'."""
    def fn(s):
        att = s.get(LinkAttempt, command_id)
        if att is not None:
            att.tries += 1
            att.worker = owner
            att.sent_at = clock.utcnow()
        return att.tries if att else 0
    return db.run(fn)


def in_flight(db, locker_id):
    """Commands left 'sent' (by this worker's earlier life, or a dead one): to resolve."""
    with db.reading() as s:
        rows = s.scalars(select(LockerCommand).where(LockerCommand.locker_id == locker_id,
                                                     LockerCommand.state == "sent")
                         .order_by(LockerCommand.id)).all()
        return [_json(s, c) for c in rows]


def state_of(db, command_id):
    with db.reading() as s:
        cmd = s.get(LockerCommand, command_id)
        return (cmd.state, cmd.result) if cmd is not None else (None, None)


def desired_code(db, compartment_id, now=None):
    """The live code a compartment's board should hold now, or None: the pickup code of the parcel in
    it, or the drop-off code of the send it is reserved for (purpose 'dropoff': SET_CODE kind
    CODE_DROPOFF, so the board opens it offline and journals DROPOFF_OFFLINE)."""
    now = now or clock.utcnow()
    with db.reading() as s:
        row = s.scalar(select(AccessCode).where(AccessCode.compartment_id == compartment_id,
                                                AccessCode.state == "live", AccessCode.expires_at > now)
                       .order_by(AccessCode.id.desc()).limit(1))
        if row is None:
            return None
        return {"salt": bytes(row.salt), "hash": bytes(row.code_hash), "expires": clock.unix(row.expires_at),
                "code_id": row.id, "purpose": row.purpose}


def desired_codes_of_board(db, board_id, now=None):
    """{compartment index: code or None} for every compartment of a board (drift repair)."""
    now = now or clock.utcnow()
    with db.reading() as s:
        comps = s.scalars(select(Compartment).where(Compartment.board_id == board_id)
                          .order_by(Compartment.index)).all()
        ids = {c.id: c.index for c in comps}
    out = {idx: None for idx in ids.values()}
    for cid, idx in ids.items():
        out[idx] = desired_code(db, cid, now)
    return out


def desired_peer_codes(db, locker_id, board_id, now=None):
    """[(board address, compartment index, code)] of the live codes of the locker's other boards: a
    board with CAP_PEER_CODES holds them (SET_PEER_CODE) so that a code works at every keypad."""
    now = now or clock.utcnow()
    with db.reading() as s:
        rows = s.execute(select(Board.address, Compartment.index, Compartment.id)
                         .join(Compartment, Compartment.board_id == Board.id)
                         .join(AccessCode, AccessCode.compartment_id == Compartment.id)
                         .where(Board.locker_id == locker_id, Board.id != board_id, AccessCode.state == "live",
                                AccessCode.expires_at > now)
                         .distinct().order_by(Board.address, Compartment.index)).all()
    out = []
    for address, index, comp_id in rows:
        code = desired_code(db, comp_id, now)
        if code is not None:
            out.append((address, index, code))
    return out


def pending_count(db, locker_id=None):
    with db.reading() as s:
        q = select(LockerCommand.id).where(LockerCommand.state.in_(("queued", "sent")))
        if locker_id is not None:
            q = q.where(LockerCommand.locker_id == locker_id)
        return len(s.scalars(q).all())


def open_is_fresh(cmd):
    """May this open (as claimed, aged by the link) still go on the wire?"""
    return cmd.get("left_s", 0) > 0


def lockers_with_queued(db, locker_ids):
    """Which of these lockers have a queued command: one query for a whole worker (its queue watcher),
    so that idle bus masters need not read the queue themselves."""
    ids = list(locker_ids)
    if not ids:
        return set()
    with db.reading() as s:
        return set(s.scalars(select(LockerCommand.locker_id).where(LockerCommand.locker_id.in_(ids),
                                                                   LockerCommand.state == "queued").distinct()))
