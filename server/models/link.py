"""Tables of the locker link: what the server knows about each board's session, the events boards
reported (stored exactly once), the command attempts in flight, and the leases that share lockers
between link workers. The schema comes from migration v005."""
import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.clock import utcnow
from server.models import Base


class LinkBoard(Base):
    """The link's side of one board: its key (sealed with the server secret), the last auth counter
    used towards it, what HELLO said, and whether it answers."""
    __tablename__ = "link_boards"
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # keys.seal(); never the clear key
    counter: Mapped[int] = mapped_column(BigInteger, default=0)  # reserved high-water mark of auth counters
    event_cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # highest board event seq stored
    # Added to a board's event seqs when stored: a replaced board starts its journal at 1 again, and
    # its events must not collide with the old board's under UNIQUE (board, seq).
    seq_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    hw_id: Mapped[str | None] = mapped_column(String(40))  # HELLO board_id (hex): a new one = a replaced board
    fw_version: Mapped[str | None] = mapped_column(String(40))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    changed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)  # last online/offline change
    boots: Mapped[int] = mapped_column(Integer, default=0)
    codes_synced_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    clock_set_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class LinkEvent(Base):
    """An event read from a board. UNIQUE (board, seq): a re-read event is never stored twice; the
    board is acknowledged only after the row is committed; processed_at marks it applied."""
    __tablename__ = "link_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(Integer)
    compartment: Mapped[int] = mapped_column(Integer)  # wire number, 0 = the board itself
    board_time: Mapped[int] = mapped_column(BigInteger)  # unix seconds by the board's clock (0 = unset)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    reference: Mapped[int | None] = mapped_column(BigInteger)  # OPEN_RESULT: the command id it answers
    occupied: Mapped[bool | None] = mapped_column(Boolean)  # DOOR_CLOSED: occupancy seen right after
    received_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    processed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    outcome: Mapped[dict | None] = mapped_column(JSON)
    __table_args__ = (UniqueConstraint("board_id", "seq", name="uq_link_events_board_seq"),
                      Index("ix_link_events_processed", "processed_at"),
                      Index("ix_link_events_reference", "reference"))


class LinkAttempt(Base):
    """A command the link has put on the wire (or is about to): the auth counter it used. A command
    left 'sent' by a worker that died is resolved from the board's OPEN_RESULT events, never resent
    blindly."""
    __tablename__ = "link_attempts"
    command_id: Mapped[int] = mapped_column(ForeignKey("locker_commands.id"), primary_key=True)
    worker: Mapped[str] = mapped_column(String(80))
    tries: Mapped[int] = mapped_column(Integer, default=0)  # new requests (a retry of the same bytes is not one)
    sent_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(40))


class LinkLease(Base):
    """Which link worker drives a locker, until when. A worker renews its leases well before they
    run out; a dead worker's lockers are taken over once its leases expire."""
    __tablename__ = "link_leases"
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(80))
    expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    acquired_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    online: Mapped[bool] = mapped_column(Boolean, default=False)  # the locker's bus answers
