"""Station sync tables (migration: server/migrations/versions/*_station_sync.py).

They sit beside the backend's ``accounts`` table without changing it: the backend's Account holds
what the locker needs (name, one mobile, consent, height preference, deleted_at); the sync state
row holds the whole station record (all phones, household, proxies), the merge base and the
locker-side edits not yet confirmed by the station. Times are naive UTC, like the backend's.
"""
import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.clock import utcnow
from server.models import Account, Base


class StationSyncSource(Base):
    """Where and how one station's system is reached, and how far its feed has been read."""
    __tablename__ = "station_sync_sources"
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    base_url: Mapped[str | None] = mapped_column(String(300))   # None: file imports only
    remote_id: Mapped[str] = mapped_column(String(64))          # the station's id in its own system
    credential: Mapped[str | None] = mapped_column(String(200))  # bearer token for this station only
    mode: Mapped[str] = mapped_column(String(16), default="cursor")  # cursor / updated_since
    page_size: Mapped[int] = mapped_column(Integer, default=500)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[str | None] = mapped_column(Text)            # committed with the page it follows
    outbound_event_id: Mapped[int] = mapped_column(Integer, default=0)   # last parcel_events.id queued
    outbound_ledger_id: Mapped[int] = mapped_column(Integer, default=0)  # last ledger_lines.id queued
    lease_until: Mapped[datetime.datetime | None] = mapped_column(DateTime)  # one run per station at a time
    lease_owner: Mapped[str | None] = mapped_column(String(60))  # host:pid, so a crashed holder is noticed
    last_run_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    last_ok_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class StationAccountState(Base):
    """Sync state of one account: the station's record, the merge base and pending local edits."""
    __tablename__ = "station_account_states"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    station_account_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer)         # station record version applied
    station_updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    values: Mapped[dict] = mapped_column(JSON)                   # field -> value cunbox uses
    base: Mapped[dict] = mapped_column(JSON)                     # field -> station value last seen
    pending: Mapped[dict] = mapped_column(JSON, default=dict)    # field -> ISO time of a locker-side edit
    # The accounts columns as sync last wrote (or saw) them: any difference found later is an edit made
    # on the locker side. Plain columns, so the difference is found by one SQL scan.
    seen_name: Mapped[str | None] = mapped_column(String(120))
    seen_phone: Mapped[str | None] = mapped_column(String(20))
    seen_consent: Mapped[bool | None] = mapped_column(Boolean)
    seen_consent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    seen_consent_source: Mapped[str | None] = mapped_column(String(40))
    seen_height: Mapped[str | None] = mapped_column(String(8))
    seen_deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    has_pending: Mapped[bool] = mapped_column(Boolean, default=False)  # pending != {}, indexed for outbound
    account: Mapped[Account] = relationship()
    __table_args__ = (UniqueConstraint("station_id", "station_account_id", name="uq_station_account_states_key"),
                      Index("ix_station_account_states_pending", "station_id", "has_pending"))


class StationSyncConflict(Base):
    """A field both sides changed where the order could not be decided; the keeper resolves it."""
    __tablename__ = "station_sync_conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    station_account_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(24))
    local_value: Mapped[dict | list | str | bool | None] = mapped_column(JSON)
    station_value: Mapped[dict | list | str | bool | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(200))
    detected_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("station_sync_runs.id"))
    resolved_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str | None] = mapped_column(String(16))   # station / local / superseded
    resolved_by: Mapped[str | None] = mapped_column(String(60))
    account: Mapped[Account] = relationship()
    __table_args__ = (Index("ix_station_sync_conflicts_open", "station_id", "resolved_at"),)


class StationSyncRun(Base):
    """One sync or import run: what it did, or why it stopped."""
    __tablename__ = "station_sync_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))                 # http / file
    source: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(10), default="running")  # running / ok / failed / rejected
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict | None] = mapped_column(JSON)            # rejected rows/records, capped


class StationOutbound(Base):
    """Outbound queue to the station's system; ``key`` makes every push idempotent at the station."""
    __tablename__ = "station_outbound"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))                # account_field / parcel_status / fee
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending / sent / rejected
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_station_outbound_station_state", "station_id", "state"),)
