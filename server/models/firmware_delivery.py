"""Firmware releases and fleet rollouts: the tables of firmware delivery (migration v003), on the
domain's one metadata (server.models.Base); server/schema.py maps them with every other table."""
import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.clock import utcnow
from server.models import Base, _in

ROLLOUT_STATES = ("running", "paused", "completed", "cancelled")
TARGET_STATES = ("pending", "updating", "done", "failed", "skipped")


class FwRelease(Base):
    """An uploaded, verified firmware image."""
    __tablename__ = "fw_releases"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(32), unique=True)
    family: Mapped[str] = mapped_column(String(64))
    min_protocol: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    image: Mapped[bytes] = mapped_column(LargeBinary)
    manifest: Mapped[dict] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class FwRollout(Base):
    """A release staged to a set of boards: canaries first, paused automatically above a failure rate."""
    __tablename__ = "fw_rollouts"
    id: Mapped[int] = mapped_column(primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("fw_releases.id"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="running")
    scope: Mapped[dict] = mapped_column(JSON)  # {"station_id": n} | {"percent": p} | {"board_ids": [...]}
    failure_threshold: Mapped[float] = mapped_column(Float)  # pause when failed / finished exceeds this
    pause_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    release: Mapped[FwRelease] = relationship()
    __table_args__ = (
        CheckConstraint(_in("state", ROLLOUT_STATES), name="state"),
        CheckConstraint("failure_threshold >= 0 AND failure_threshold <= 1", name="threshold"),
    )


class FwRolloutBoard(Base):
    """One board of a rollout: its progress, the version it reported, its last error."""
    __tablename__ = "fw_rollout_boards"
    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(ForeignKey("fw_rollouts.id"))
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"))
    canary: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    from_version: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[str | None] = mapped_column(String(40))  # what the board reported last
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    command_id: Mapped[int | None] = mapped_column(ForeignKey("locker_commands.id"))  # the update in the queue
    last_error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("rollout_id", "board_id", name="uq_fw_rollout_boards_rollout_board"),
        CheckConstraint(_in("state", TARGET_STATES), name="state"),
        Index("ix_fw_rollout_boards_rollout_state", "rollout_id", "state"),
    )
