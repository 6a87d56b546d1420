"""The system of record: SQLAlchemy 2.0 models. The schema itself comes from server/migrations.

Strings with CHECK constraints stand for enums, so migrations stay plain on SQLite and PostgreSQL.
Times are naive UTC (see server/clock.py).
"""
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
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from server.clock import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SIZES = ("S", "M", "L", "XL")  # smallest first: the assignment walks up this list
HEIGHT_BANDS = ("low", "middle", "high")
COMPARTMENT_STATES = ("free", "reserved", "occupied", "disabled", "faulty")
ROLES = ("courier", "operator", "maintainer")

# Parcel states. Inbound: reserved -> in_locker -> opening -> picked_up | at_counter | returned;
# in_locker -> overdue -> opening -> at_counter | returned; reserved -> cancelled.
# Outbound (send): booked -> reserved -> awaiting_collection -> opening -> collected; booked -> cancelled.
PARCEL_STATES = ("booked", "reserved", "in_locker", "overdue", "opening", "picked_up", "at_counter",
                 "collected_at_counter", "returned", "awaiting_collection", "collected", "cancelled")
OPEN_PURPOSES = ("deposit", "pickup", "retrieve", "return", "dropoff", "collect", "staff")
COMMAND_STATES = ("queued", "sent", "done", "failed")


def _in(column, values):
    return "%s IN (%s)" % (column, ", ".join("'%s'" % v for v in values))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Township(Base):
    __tablename__ = "townships"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    county: Mapped[str] = mapped_column(String(120))


class Station(Base):
    """A village station, with its storage and fee policy (published to recipients in notifications)."""
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("townships.id"))
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(300))
    storage_hours: Mapped[int] = mapped_column(Integer, default=72)  # pickup code lifetime
    reservation_minutes: Mapped[int] = mapped_column(Integer, default=10)  # courier's time to close the door
    free_hours: Mapped[int] = mapped_column(Integer, default=72)  # nothing charged to the recipient before
    recipient_fee_cents_per_day: Mapped[int] = mapped_column(Integer, default=0)  # after free_hours
    deposit_fee_cents: Mapped[int] = mapped_column(Integer, default=30)  # carrier, per deposit
    collection_fee_cents: Mapped[int] = mapped_column(Integer, default=30)  # carrier, per collected send
    compartment_hour_cents: Mapped[int] = mapped_column(Integer, default=1)  # carrier, per compartment-hour
    chilled_min_c: Mapped[float] = mapped_column(Float, default=0.0)
    chilled_max_c: Mapped[float] = mapped_column(Float, default=8.0)
    township: Mapped[Township] = relationship()
    __table_args__ = (CheckConstraint("storage_hours > 0 AND reservation_minutes > 0 AND free_hours >= 0",
                                      name="policy_positive"),)


class Locker(Base):
    __tablename__ = "lockers"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    serial_url: Mapped[str] = mapped_column(String(300))  # pyserial URL the link opens
    station: Mapped[Station] = relationship()
    boards: Mapped[list["Board"]] = relationship(back_populates="locker", order_by="Board.address")


class Board(Base):
    __tablename__ = "boards"
    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"), index=True)
    address: Mapped[int] = mapped_column(Integer)  # bus address
    serial_number: Mapped[str | None] = mapped_column(String(64))
    firmware_version: Mapped[str | None] = mapped_column(String(40))
    last_seen_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    locker: Mapped[Locker] = relationship(back_populates="boards")
    compartments: Mapped[list["Compartment"]] = relationship(back_populates="board", order_by="Compartment.index")
    __table_args__ = (UniqueConstraint("locker_id", "address", name="uq_boards_locker_address"),)


class Compartment(Base):
    __tablename__ = "compartments"
    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("boards.id"))
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"))  # denormalised for the assignment query
    index: Mapped[int] = mapped_column(Integer)  # lock channel on the board
    size: Mapped[str] = mapped_column(String(4))
    chilled: Mapped[bool] = mapped_column(Boolean, default=False)
    height_band: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(10), default="free")
    door: Mapped[str] = mapped_column(String(8), default="closed")  # last reported: open / closed
    open_count: Mapped[int] = mapped_column(Integer, default=0)  # wear: opens requested so far
    board: Mapped[Board] = relationship(back_populates="compartments")
    __table_args__ = (
        UniqueConstraint("board_id", "index", name="uq_compartments_board_index"),
        CheckConstraint(_in("size", SIZES), name="size"),
        CheckConstraint(_in("height_band", HEIGHT_BANDS), name="height_band"),
        CheckConstraint(_in("state", COMPARTMENT_STATES), name="state"),
        CheckConstraint(_in("door", ("open", "closed")), name="door"),
        Index("ix_compartments_locker_state", "locker_id", "state"),
    )


class Carrier(Base):
    __tablename__ = "carriers"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # postal / express / coop
    __table_args__ = (CheckConstraint(_in("kind", ("postal", "express", "coop")), name="kind"),)


class User(Base):
    """A person who signs in: courier (scoped to a carrier), station operator (to a station), maintainer."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(12))
    login: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))  # werkzeug.security
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("(role = 'courier' AND carrier_id IS NOT NULL AND station_id IS NULL) OR "
                        "(role = 'operator' AND station_id IS NOT NULL AND carrier_id IS NULL) OR "
                        "(role = 'maintainer' AND station_id IS NULL AND carrier_id IS NULL)", name="scope"),
    )


class ApiToken(Base):
    """Bearer tokens, stored as sha256; belongs to a user or is a locker credential."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    locker_id: Mapped[int | None] = mapped_column(ForeignKey("lockers.id"), index=True)
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint("(user_id IS NULL) <> (locker_id IS NULL)", name="owner"),)


class Account(Base):
    """A villager, as kept in the station's resident book."""
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    station_account_id: Mapped[str | None] = mapped_column(String(64))  # the station system's own id
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20))  # normalised: 11-digit mainland mobile
    consent_locker: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    consent_source: Mapped[str | None] = mapped_column(String(40))
    height_preference: Mapped[str | None] = mapped_column(String(8))  # low / middle / high / None
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("station_id", "station_account_id", name="uq_accounts_station_external"),
        Index("ix_accounts_station_phone", "station_id", "phone"),
        CheckConstraint("height_preference IS NULL OR " + _in("height_preference", HEIGHT_BANDS),
                        name="height_preference"),
    )


class Parcel(Base):
    __tablename__ = "parcels"
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in / out
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id"))
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"))
    size: Mapped[str] = mapped_column(String(4))
    perishable: Mapped[bool] = mapped_column(Boolean, default=False)
    chilled_agreed: Mapped[bool] = mapped_column(Boolean, default=False)  # sender agreed to chilled storage
    state: Mapped[str] = mapped_column(String(24))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))  # recipient (in) / sender (out)
    phone: Mapped[str] = mapped_column(String(20))
    courier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # who deposited / collects
    # The compartment this parcel holds or has reserved right now. UNIQUE: two parcels can never hold
    # one compartment, whatever the concurrency (NULLs do not collide on SQLite or PostgreSQL).
    active_compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"), unique=True)
    compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"))  # last one held
    reserved_until: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    deposited_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    released_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    open_purpose: Mapped[str | None] = mapped_column(String(10))  # why the door is being opened
    state_before_open: Mapped[str | None] = mapped_column(String(24))  # restored if closed with parcel
    link_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # villager pickup page
    fee_policy: Mapped[dict | None] = mapped_column(JSON)  # the policy stated in the notification
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    carrier: Mapped[Carrier] = relationship()
    station: Mapped[Station] = relationship()
    locker: Mapped[Locker] = relationship()
    compartment: Mapped["Compartment | None"] = relationship(foreign_keys=[compartment_id])
    __table_args__ = (
        UniqueConstraint("carrier_id", "tracking_number", name="uq_parcels_carrier_tracking"),
        CheckConstraint(_in("direction", ("in", "out")), name="direction"),
        CheckConstraint(_in("size", SIZES), name="size"),
        CheckConstraint(_in("state", PARCEL_STATES), name="state"),
        CheckConstraint("open_purpose IS NULL OR " + _in("open_purpose", OPEN_PURPOSES), name="open_purpose"),
        CheckConstraint("NOT perishable OR direction = 'in' OR chilled_agreed", name="chilled_agreed"),
        Index("ix_parcels_state", "state"),
    )


class ParcelEvent(Base):
    """Every parcel state transition, with who caused it."""
    __tablename__ = "parcel_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), index=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict | None] = mapped_column(JSON)


class AccessCode(Base):
    """A pickup or drop-off code: only a salted hash is kept (hash = sha256(salt + code)[:16])."""
    __tablename__ = "access_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), index=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"))
    compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"))  # None for drop-off
    purpose: Mapped[str] = mapped_column(String(8))  # pickup / dropoff
    salt: Mapped[bytes] = mapped_column(LargeBinary(8))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(8), default="live")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint(_in("purpose", ("pickup", "dropoff")), name="purpose"),
        CheckConstraint(_in("state", ("live", "used", "revoked", "expired", "replaced")), name="state"),
        Index("ix_access_codes_locker_state", "locker_id", "state"),
    )


# config: CONFIG_SET of a board's settable keys (maintainers)
COMMAND_KINDS = ("open", "install_code", "clear_code", "config", "firmware", "commission")


class LockerCommand(Base):
    """Durable queue of commands for the locker link: open a door, install or clear a code, set config,
    update a board's firmware (payload: rollout, release, version; server/firmware_delivery/queue.py).

    The server writes rows in the same transaction as the business change that needs them; the link
    executes them at most once and moves them queued -> sent -> done | failed.
    """
    __tablename__ = "locker_commands"
    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"))
    board_id: Mapped[int | None] = mapped_column(ForeignKey("boards.id"))
    compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"))
    kind: Mapped[str] = mapped_column(String(16))  # one of COMMAND_KINDS
    payload: Mapped[dict | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(8), default="queued")
    purpose: Mapped[str | None] = mapped_column(String(10))
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"))
    requested_by: Mapped[str] = mapped_column(String(60))
    result: Mapped[str | None] = mapped_column(String(40))  # opened / jammed / ...
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # An open must not run after this (the person it was for has given up, and been told so); None:
    # no deadline (rows from before deadlines, and commands other than opens).
    deadline_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint(_in("kind", COMMAND_KINDS), name="kind"),
        CheckConstraint(_in("state", COMMAND_STATES), name="state"),
        Index("ix_locker_commands_locker_state", "locker_id", "state"),
    )


class AuditEvent(Base):
    """Who did what, when, why: every door opening and every staff action."""
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(40))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"), index=True)
    locker_id: Mapped[int | None] = mapped_column(ForeignKey("lockers.id"))
    compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"))
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"))
    detail: Mapped[dict | None] = mapped_column(JSON)


class Notification(Base):
    """Outbox: the SMS adapter delivers pending rows; the code is blanked from the text once sent."""
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a message about no parcel yet (a phone check's one-time number)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))  # pickup_code / proxy_code / dropoff_code / phone_check / ...
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    __table_args__ = (CheckConstraint(_in("state", ("pending", "sent", "failed")), name="state"),
                      Index("ix_notifications_state", "state"))


class CodeAttempt(Base):
    """Failed code entries, counted per locker and per source for throttling."""
    __tablename__ = "code_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"))
    source: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_code_attempts_locker_at", "locker_id", "at"),
                      Index("ix_code_attempts_source_at", "source", "at"))


class PhoneCheck(Base):
    """A villager's request waiting for proof that the phone is theirs: a one-time number went to the
    phone by SMS; typing it back carries out the request (`payload`, e.g. a send booking). The number
    is kept only as a salted hash; `attempts` counts wrong numbers typed."""
    __tablename__ = "phone_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)   # names the check in the page's URL
    purpose: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON)
    salt: Mapped[bytes] = mapped_column(LargeBinary(8))
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    done_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"))
    __table_args__ = (CheckConstraint(_in("purpose", ("send",)), name="purpose"),
                      Index("ix_phone_checks_phone_created_at", "phone", "created_at"))


class SignInAttempt(Base):
    """Failed password sign-ins (API and web), counted per login name and per source for the growing
    lock-out in services/throttle.py; a successful sign-in forgets its login's rows."""
    __tablename__ = "sign_in_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_sign_in_attempts_login_at", "login", "at"),
                      Index("ix_sign_in_attempts_source_at", "source", "at"))


class IdempotencyKey(Base):
    """The stored answer to a keyed request from a locker (services/idempotency.py): a resend with the
    same key gets this answer again and changes nothing. Written in the same transaction as the
    business change; response_json is set before that transaction commits. Expired by housekeeping."""
    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"))
    endpoint: Mapped[str] = mapped_column(String(24))  # codes/verify / door-events
    key: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 of key + request: same key, other request?
    response_json: Mapped[dict | None] = mapped_column(JSON)  # {"status": 200, "body": {...}}
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("locker_id", "endpoint", "key", name="uq_idempotency_keys_locker_endpoint_key"),
                      Index("ix_idempotency_keys_created_at", "created_at"))


class TemperatureReading(Base):
    __tablename__ = "temperature_readings"
    id: Mapped[int] = mapped_column(primary_key=True)
    compartment_id: Mapped[int] = mapped_column(ForeignKey("compartments.id"))
    at: Mapped[datetime.datetime] = mapped_column(DateTime)
    celsius: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_temperature_readings_compartment_at", "compartment_id", "at"),)


class Alarm(Base):
    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # temperature_excursion / unexpected_item / door_left_open ...
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    locker_id: Mapped[int | None] = mapped_column(ForeignKey("lockers.id"))
    compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"))
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"))
    raised_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    detail: Mapped[dict | None] = mapped_column(JSON)
    cleared_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)  # condition went away
    acknowledged_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(60))


class LedgerLine(Base):
    """Fee ledger: what each carrier (or, after the free period, a recipient) owes a station."""
    __tablename__ = "ledger_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"), index=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id"))
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    compartment_id: Mapped[int | None] = mapped_column(ForeignKey("compartments.id"))
    kind: Mapped[str] = mapped_column(String(16))  # deposit / storage / collection / recipient_fee
    payer: Mapped[str] = mapped_column(String(10))  # carrier / recipient
    compartment_hours: Mapped[float] = mapped_column(Float, default=0.0)
    amount_cents: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint(_in("kind", ("deposit", "storage", "collection", "recipient_fee")), name="kind"),
        CheckConstraint(_in("payer", ("carrier", "recipient")), name="payer"),
        CheckConstraint("amount_cents >= 0 AND compartment_hours >= 0", name="non_negative"),
        # One line of each kind per parcel: a replayed event can never charge twice.
        UniqueConstraint("parcel_id", "kind", name="uq_ledger_lines_parcel_kind"),
    )

# The feature tables share this metadata from modules beside this one (link.py, firmware_delivery.py,
# station_sync.py); server/schema.py imports them all. The core imports none of them.
