"""The link's view of lockers and boards: keys, auth counters, online state, leases.

Every function takes a server.db.Database and runs its own short transaction: the link commits
each fact before it acts on the wire (a counter before the frame exists, an event before its ACK).
"""
import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from server import clock
from server.errors import NotFound
from server.models import Board, Locker
from server.models.link import LinkBoard, LinkLease
from server.services import audit

COUNTER_BLOCK = 64  # counters reserved per database write; a restart skips the unused rest


def provision_key(db, board_id, key, sealer, actor="maintainer"):
    """Store a board's key, sealed. The clear key is known only to the board and, in memory, the link."""
    def fn(s):
        board = s.get(Board, board_id)
        if board is None:
            raise NotFound("no board %s" % board_id)
        row = s.get(LinkBoard, board_id) or _new(s, board_id)
        row.key_sealed = sealer.seal(key)
        locker = s.get(Locker, board.locker_id)
        audit.record(s, actor, "board_key_provisioned", station_id=locker.station_id, locker_id=locker.id,
                     detail={"board": board.address})
    db.run(fn)


def board_key(db, board_id, sealer):
    """A board's clear key from the link's key store (for the firmware flasher), or None if the
    board was never provisioned. Raises keys.SealError if it was sealed under another secret."""
    with db.reading() as s:
        row = s.get(LinkBoard, board_id)
        return sealer.open(row.key_sealed) if row is not None and row.key_sealed else None


def _new(s, board_id):
    row = LinkBoard(board_id=board_id, counter=0, event_cursor=0, seq_offset=0, online=False, boots=0)
    s.add(row)
    s.flush()
    return row


def locker_plan(db, locker_id, sealer):
    """What a bus master needs for a locker: url and {address: {board_id, key, counter, cursor}}."""
    with db.reading() as s:
        locker = s.get(Locker, locker_id)
        if locker is None:
            raise NotFound("no locker %s" % locker_id)
        boards = {}
        for b in s.scalars(select(Board).where(Board.locker_id == locker_id).order_by(Board.address)):
            lb = s.get(LinkBoard, b.id)
            key = sealer.open(lb.key_sealed) if lb is not None and lb.key_sealed else None
            boards[b.address] = {"board_id": b.id, "key": key, "counter": lb.counter if lb else 0,
                                 "cursor": lb.event_cursor if lb else 0, "hw_id": lb.hw_id if lb else None}
        return {"locker_id": locker.id, "url": locker.serial_url, "station_id": locker.station_id,
                "boards": boards}


class DbCounterStore:
    """protocol.session counter store backed by link_boards.counter, in blocks: save(c) writes only
    when c passes the reserved mark, and then reserves COUNTER_BLOCK more. load() returns the mark, so
    after a restart the host continues above every counter it may have used: never one reused."""

    def __init__(self, db, board_id):
        self.db = db
        self.board_id = board_id
        self.reserved = None

    def load(self):
        with self.db.reading() as s:
            row = s.get(LinkBoard, self.board_id)
            self.reserved = row.counter if row is not None else 0
        return self.reserved

    def save(self, value):
        if self.reserved is not None and value <= self.reserved:
            return
        mark = min(value + COUNTER_BLOCK, 0xFFFFFFFF)

        def fn(s):
            row = s.get(LinkBoard, self.board_id) or _new(s, self.board_id)
            if mark > row.counter:
                row.counter = mark
            return row.counter
        self.reserved = self.db.run(fn)


def board_seen(db, board_id, hello=None):
    """A board answered. Returns {"came_online", "replaced", "rebooted"} so the master knows to resync."""
    def fn(s):
        now = clock.utcnow()
        row = s.get(LinkBoard, board_id) or _new(s, board_id)
        out = {"came_online": not row.online, "replaced": False}
        if hello is not None:
            hw = hello["board_id"].hex()
            out["replaced"] = row.hw_id is not None and row.hw_id != hw
            if out["replaced"]:
                # the new board's journal starts at seq 1: store its events above the old board's
                row.seq_offset += row.event_cursor
                row.event_cursor = 0
                _audit_board(s, board_id, "board_replaced", {"old": row.hw_id, "new": hw})
            row.hw_id = hw
            row.fw_version = hello["fw_version"][:40]
            board = s.get(Board, board_id)
            board.firmware_version = hello["fw_version"][:40]
            board.serial_number = hw
        if not row.online:
            row.online = True
            row.changed_at = now
            _audit_board(s, board_id, "board_online", out)
        row.last_seen_at = now
        s.get(Board, board_id).last_seen_at = now
        return out
    return db.run(fn)


def board_heard(db, board_id):
    """A board that is online answered again: its last contact, for the pages (the bus master calls
    this every HEARD_WRITE_S at most, not on every poll)."""
    def fn(s):
        now = clock.utcnow()
        row = s.get(LinkBoard, board_id) or _new(s, board_id)
        row.last_seen_at = now
        s.get(Board, board_id).last_seen_at = now
    db.run(fn)


def journal_restarted(db, board_id, board_last_seq):
    """The board's journal is behind what we stored (its flash was wiped, or it was swapped for a
    board with the same id): store its events above everything stored so far, from seq 1 again."""
    def fn(s):
        row = s.get(LinkBoard, board_id) or _new(s, board_id)
        old = row.event_cursor
        row.seq_offset += row.event_cursor
        row.event_cursor = 0
        _audit_board(s, board_id, "board_journal_restarted", {"stored_up_to": old, "board_last": board_last_seq})
        return 0
    return db.run(fn)


def board_lost(db, board_id, why):
    def fn(s):
        row = s.get(LinkBoard, board_id) or _new(s, board_id)
        if row.online:
            row.online = False
            row.changed_at = clock.utcnow()
            _audit_board(s, board_id, "board_offline", {"why": why})
            return True
        return False
    return db.run(fn)


def mark_synced(db, board_id, codes=False, clock_set=False):
    def fn(s):
        row = s.get(LinkBoard, board_id) or _new(s, board_id)
        if codes:
            row.codes_synced_at = clock.utcnow()
        if clock_set:
            row.clock_set_at = clock.utcnow()
    db.run(fn)


def _audit_board(s, board_id, action, detail):
    board = s.get(Board, board_id)
    locker = s.get(Locker, board.locker_id)
    audit.record(s, "link", action, station_id=locker.station_id, locker_id=locker.id,
                 detail=dict(detail, board=board.address))


def locker_online(db, locker_id, online):
    """Record the locker's bus as answering or not; audited on change. Returns True if it changed."""
    def fn(s):
        lease = s.get(LinkLease, locker_id)
        if lease is None:
            lease = LinkLease(locker_id=locker_id, online=False)
            s.add(lease)
        if bool(lease.online) == bool(online):
            return False
        lease.online = bool(online)
        locker = s.get(Locker, locker_id)
        audit.record(s, "link", "locker_online" if online else "locker_offline", station_id=locker.station_id,
                     locker_id=locker_id)
        return True
    return db.run(fn)


def board_status(db, locker_id):
    """[{address, online, last_seen_at, fw_version}] for status pages and tests."""
    with db.reading() as s:
        out = []
        for b in s.scalars(select(Board).where(Board.locker_id == locker_id).order_by(Board.address)):
            lb = s.get(LinkBoard, b.id)
            out.append({"address": b.address, "online": bool(lb and lb.online),
                        "last_seen_at": clock.iso(lb.last_seen_at) if lb else None,
                        "fw_version": lb.fw_version if lb else None})
        return out


# ---- leases ---------------------------------------------------------------------------------------

def acquire_leases(db, owner, ttl_s, limit=None):
    """Renew this worker's leases and take free or expired ones (up to `limit` held in all).

    Each take is one conditional UPDATE (owner = me, or expired), so two workers never both win a
    locker. Returns the set of locker ids this worker holds until now + ttl_s."""
    now = clock.utcnow()
    until = now + datetime.timedelta(seconds=ttl_s)
    with db.reading() as s:
        lockers = s.scalars(select(Locker.id).order_by(Locker.id)).all()
        known = set(s.scalars(select(LinkLease.locker_id)).all())
    for lid in lockers:
        if lid not in known:
            try:
                with db.transaction() as s:
                    s.add(LinkLease(locker_id=lid, online=False))
            except IntegrityError:
                pass  # another worker created it first
    held = set()
    with db.transaction() as s:
        res = s.execute(update(LinkLease).where(LinkLease.owner == owner, LinkLease.expires_at > now)
                        .values(expires_at=until).returning(LinkLease.locker_id))
        held.update(res.scalars().all())
    for lid in lockers:
        if lid in held or (limit is not None and len(held) >= limit):
            continue
        with db.transaction() as s:
            res = s.execute(update(LinkLease).where(
                LinkLease.locker_id == lid,
                (LinkLease.owner.is_(None)) | (LinkLease.expires_at.is_(None)) | (LinkLease.expires_at <= now))
                .values(owner=owner, expires_at=until, acquired_at=now))
            if res.rowcount == 1:
                held.add(lid)
                audit.record(s, owner, "link_lease_acquired", locker_id=lid)
    return held


def holds_lease(db, owner, locker_id):
    with db.reading() as s:
        lease = s.get(LinkLease, locker_id)
        return lease is not None and lease.owner == owner and lease.expires_at > clock.utcnow()


def release_leases(db, owner):
    with db.transaction() as s:
        s.execute(update(LinkLease).where(LinkLease.owner == owner).values(owner=None, expires_at=None))


def lease_owners(db):
    with db.reading() as s:
        return {r.locker_id: r.owner for r in s.scalars(select(LinkLease))}
