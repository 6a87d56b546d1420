"""The lock profile of each controller board: how the commercial lock boards on its lock bus are set
(dialect, baud rate, board addresses, channels, feedback polarity), as commissioning found and a
maintainer stored it, and what the board said when it was sent (services/commissioning.py). The
schema comes from migration v012."""
import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.clock import utcnow
from server.models import Base, _in

LOCK_TYPES = ("kerong", "8a", "modbus", "gpio")
POLARITIES = {"kerong": ("hook_1_is_locked", "hook_1_is_open"), "8a": ("short_when_locked", "short_when_open"),
              "modbus": ("input_1_is_locked", "input_1_is_open"), "gpio": ()}
PROFILE_STATES = ("found", "stored", "sent", "refused")


class LockProfile(Base):
    """One board's lock profile. `found` keeps the last probe's result as the board reported it
    (LOCK_PROBE_STATUS fields), so a refusal can say what the bus answered; `state`: found (probed,
    not stored), stored (a maintainer stored it), sent (the board took it), refused (the board did not;
    `refusal` says why)."""
    __tablename__ = "lock_profiles"
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    type: Mapped[str] = mapped_column(String(8))
    baud: Mapped[int] = mapped_column(Integer)
    boards: Mapped[str] = mapped_column(String(64))  # addresses, "2,3" (as lock.boards is sent)
    per_board: Mapped[int] = mapped_column(Integer)
    polarity: Mapped[str | None] = mapped_column(String(20))
    ir: Mapped[bool] = mapped_column(Boolean, default=False)
    window_ms: Mapped[int | None] = mapped_column(Integer)
    found: Mapped[dict | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(8), default="found")
    refusal: Mapped[dict | None] = mapped_column(JSON)  # why the board refused it (facts, worded when shown)
    updated_by: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    __table_args__ = (
        CheckConstraint(_in("type", LOCK_TYPES), name="type"),
        CheckConstraint(_in("state", PROFILE_STATES), name="state"),
    )
