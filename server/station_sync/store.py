"""Database side of a merge: sync state rows <-> merge states, outcomes -> accounts, local edits.

The backend's ``accounts`` row is what the locker uses; ``project`` derives it from the merged
values. The ``seen_*`` columns remember the columns sync last wrote, so any later difference is an
edit made on the locker side (an operator, a villager at the locker) and becomes a pending local
edit that is pushed to the station. Everything here runs inside the caller's transaction.
"""
import datetime as _dt

from sqlalchemy import func, insert, or_, select, text

from server import clock
from server.models import Account
from server.models.station_sync import StationAccountState, StationSyncConflict
from server.station_sync.merge import local_edit, new_state
from server.station_sync.reasons import Reason, as_reason, encode

UTC = _dt.timezone.utc
DEFAULT_CONSENT_SOURCE = "station_book"
ANALYZE_AFTER = 200        # new accounts in one batch after which PostgreSQL's statistics are refreshed


def to_db(ts):
    return None if ts is None else ts.astimezone(UTC).replace(tzinfo=None)


def from_db(ts):
    return None if ts is None else ts.replace(tzinfo=UTC)


def project(values, deleted):
    """The accounts columns the locker uses, from merged values (JSON-comparable: dates as text)."""
    consent = values.get("consent") or {}
    phones = values.get("phones") or []
    mobile = next((p for p in phones if "-" not in p), phones[0] if phones else "")
    acc = values.get("accessibility") or "none"
    return {
        "name": (values.get("name") or "")[:120],
        "phone": mobile,
        # Deleted at the station or withdrawn: no new locker deliveries, at once.
        "consent_locker": bool(consent.get("given")) and not deleted,
        "consent_at": consent.get("date"),
        "consent_source": (consent.get("source") or DEFAULT_CONSENT_SOURCE)[:40],
        "height_preference": None if acc == "none" else acc,
        "deleted": bool(deleted),
    }


def read_columns(account):
    """The same projection read back from an accounts row."""
    return {
        "name": account.name, "phone": account.phone, "consent_locker": bool(account.consent_locker),
        "consent_at": clock.beijing_date(account.consent_at).isoformat() if account.consent_at else None,
        "consent_source": account.consent_source, "height_preference": account.height_preference,
        "deleted": account.deleted_at is not None,
    }


def columns_for(proj, now, account=None):
    """accounts column values for a projection (``account``: the row as it is, to keep consent_at)."""
    cols = {"name": proj["name"], "phone": proj["phone"], "consent_locker": proj["consent_locker"],
            "consent_source": proj["consent_source"], "height_preference": proj["height_preference"]}
    if account is not None and read_columns(account)["consent_at"] == proj["consent_at"]:
        cols["consent_at"] = account.consent_at
    else:
        cols["consent_at"] = (clock.beijing_midnight(_dt.date.fromisoformat(proj["consent_at"])) if proj["consent_at"]
                              else now)
    if proj["deleted"]:
        cols["deleted_at"] = account.deleted_at if account is not None and account.deleted_at else now
    else:
        cols["deleted_at"] = None
    return cols


def write_columns(account, proj, now):
    for k, v in columns_for(proj, now, account).items():
        setattr(account, k, v)


SEEN = (("seen_name", "name"), ("seen_phone", "phone"), ("seen_consent", "consent_locker"),
        ("seen_consent_at", "consent_at"), ("seen_consent_source", "consent_source"),
        ("seen_height", "height_preference"), ("seen_deleted_at", "deleted_at"))


def mark_seen(row, account):
    for seen, col in SEEN:
        setattr(row, seen, getattr(account, col))


def seen_values(cols):
    return {seen: cols[col] for seen, col in SEEN}


def to_merge_state(row):
    return {"values": dict(row.values), "base": dict(row.base),
            "pending": {f: _dt.datetime.fromisoformat(t) for f, t in (row.pending or {}).items()},
            "version": row.version, "updated_at": from_db(row.station_updated_at), "deleted": row.deleted}


def store_merge_state(row, st):
    row.values = dict(st["values"])
    row.base = dict(st["base"])
    row.pending = {f: t.isoformat() for f, t in st["pending"].items()}
    row.version = st["version"]
    row.station_updated_at = to_db(st["updated_at"])
    row.deleted = st["deleted"]
    row.has_pending = bool(row.pending)


def adopt_state(account):
    """A state for an account that exists in cunbox (same station id) but was never synced: its
    columns are treated as local edits made when it was last updated, so the merge compares times."""
    st = new_state()
    at = from_db(account.updated_at) or _dt.datetime.now(UTC)
    values = {"name": account.name, "phones": [account.phone], "accessibility": account.height_preference or "none",
              "consent": {"given": bool(account.consent_locker),
                          "date": clock.beijing_date(account.consent_at).isoformat() if account.consent_at else None,
                          "source": account.consent_source}}
    for f, v in values.items():
        st = local_edit(st, f, v, at)
    return st


def load_states(session, station_id, ids):
    """{station account id: (state row or None, account)} for ids of this station only."""
    found = {}
    if not ids:
        return found
    for chunk in _chunks(list(ids), 500):
        rows = session.execute(
            select(StationAccountState, Account).join(Account, Account.id == StationAccountState.account_id)
            .where(StationAccountState.station_id == station_id,
                   StationAccountState.station_account_id.in_(chunk))).all()
        for st, acc in rows:
            found[st.station_account_id] = (st, acc)
        missing = [i for i in chunk if i not in found]
        if missing:
            for acc in session.scalars(select(Account).where(Account.station_id == station_id,
                                                             Account.station_account_id.in_(missing))):
                found[acc.station_account_id] = (None, acc)
    return found


def apply_outcome(session, station_id, outcome, existing, run_id, now):
    """Write one merge outcome. ``existing``: (state row or None, account) or None."""
    if outcome.state is None:
        return None
    st = outcome.state
    proj = project(st["values"], st["deleted"])
    row, account = existing if existing else (None, None)
    if account is None:
        account = Account(station_id=station_id, station_account_id=outcome.account_id)
        write_columns(account, proj, now)
        session.add(account)
    elif read_columns(account) != proj:
        write_columns(account, proj, now)
    if row is None:
        row = StationAccountState(station_id=station_id, station_account_id=outcome.account_id, account=account)
        session.add(row)
    store_merge_state(row, st)
    mark_seen(row, account)
    for c in outcome.conflicts:
        record_conflict(session, station_id, account, outcome.account_id, c, run_id, now)
    return row


def bulk_create(session, station_id, outcomes, now):
    """Insert the accounts and sync states of many new records at once (a first sync, a big import)."""
    if not outcomes:
        return
    rows, states = [], {}
    for out in outcomes:
        st = out.state
        cols = columns_for(project(st["values"], st["deleted"]), now)
        rows.append(dict(cols, station_id=station_id, station_account_id=out.account_id, created_at=now,
                         updated_at=now))
        states[out.account_id] = dict(
            seen_values(cols), station_id=station_id, station_account_id=out.account_id, version=st["version"],
            station_updated_at=to_db(st["updated_at"]), deleted=st["deleted"], values=st["values"], base=st["base"],
            pending={}, has_pending=False)
    # Core executemany with RETURNING, one statement per chunk: no ORM bookkeeping, and no re-query
    # (a fresh table has no planner statistics, so reading the ids back can turn into a full scan).
    table = Account.__table__
    for chunk in _chunks(rows, 500):
        for account_id, sai in session.execute(insert(table).returning(table.c.id, table.c.station_account_id),
                                               chunk):
            states[sai]["account_id"] = account_id
    session.execute(insert(StationAccountState.__table__), list(states.values()))
    if len(outcomes) >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        # A freshly filled table has no statistics until autovacuum gets round to it, and PostgreSQL
        # then plans the next page's id lookups as full scans. Once it has statistics from a table of
        # some size, the planner scales them by the table's current size by itself.
        known = session.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'accounts'")).scalar()
        if known is None or known < 2 * len(outcomes):
            session.execute(text("ANALYZE accounts, station_account_states"))


def record_conflict(session, station_id, account, station_account_id, c, run_id, now):
    if account.id is not None:
        open_row = session.scalar(select(StationSyncConflict).where(
            StationSyncConflict.account_id == account.id, StationSyncConflict.field == c["field"],
            StationSyncConflict.resolved_at.is_(None)))
    else:
        open_row = None
    if open_row is None:
        open_row = StationSyncConflict(station_id=station_id, account=account, station_account_id=station_account_id,
                                       field=c["field"], detected_at=now)
        session.add(open_row)
    open_row.local_value = c["local"]
    open_row.station_value = c["station"]
    open_row.reason = encode(c["reason"])      # key + params as JSON; conflicts.list_open reads it back
    open_row.run_id = run_id


SHARED_PHONE = "conflict.shared_phone"
SHARED_PHONE_FIELD = "phone"          # the account's own phone, the one deposits go by (not the book's list)


def report_shared_phones(session, station_id, run_id, now):
    """A phone on more than one live account of the station is a conflict on each of them, for the keeper
    to settle in the station's book (until then a deposit for it is refused: services/accounts
    .consenting_account). A shared-phone conflict whose phone is no longer shared closes itself.
    Returns the conflicts opened now: [(account, phone, reason)]."""
    live = (Account.station_id == station_id, Account.deleted_at.is_(None))
    shared = session.scalars(select(Account.phone).where(*live).group_by(Account.phone)
                             .having(func.count(Account.id) > 1)).all()
    by_phone = {}
    if shared:
        for acc in session.scalars(select(Account).where(*live, Account.phone.in_(shared)).order_by(Account.id)):
            by_phone.setdefault(acc.phone, []).append(acc)
    open_rows = {c.account_id: c for c in session.scalars(select(StationSyncConflict).where(
        StationSyncConflict.station_id == station_id, StationSyncConflict.field == SHARED_PHONE_FIELD,
        StationSyncConflict.resolved_at.is_(None)))}
    opened = []
    for phone, accs in by_phone.items():
        for acc in accs:
            others = [a.station_account_id or "#%d" % a.id for a in accs if a is not acc]
            why = Reason(SHARED_PHONE, phone=phone, count=len(accs), accounts=", ".join(others))
            if open_rows.pop(acc.id, None) is None:
                opened.append((acc, phone, why))
            record_conflict(session, station_id, acc, acc.station_account_id or "#%d" % acc.id,
                            {"field": SHARED_PHONE_FIELD, "local": None, "station": phone, "reason": why},
                            run_id, now)
    for row in open_rows.values():
        why = as_reason(row.reason)
        if isinstance(why, Reason) and why.key == SHARED_PHONE:
            row.resolved_at, row.resolution, row.resolved_by = now, "book_fixed", "sync"
    return opened


def open_conflict_fields(session, station_id):
    """{account id: set of fields} with a conflict the keeper has not resolved yet."""
    out = {}
    for acc_id, field in session.execute(select(StationSyncConflict.account_id, StationSyncConflict.field).where(
            StationSyncConflict.station_id == station_id, StationSyncConflict.resolved_at.is_(None))):
        out.setdefault(acc_id, set()).add(field)
    return out


def local_edits_of(account, row):
    """Merge-state edits for columns changed on the locker side since sync last wrote them."""
    if row.seen_deleted_at is not None or account.deleted_at is not None:
        return []
    values = row.values
    at = from_db(account.updated_at) or _dt.datetime.now(UTC)
    edits = []
    if account.name != row.seen_name:
        edits.append(("name", account.name, at))
    if account.phone != row.seen_phone:
        phones = [account.phone] + [p for p in values.get("phones", []) if p != account.phone]
        edits.append(("phones", phones, at))
    if (bool(account.consent_locker), account.consent_at, account.consent_source) != (
            bool(row.seen_consent), row.seen_consent_at, row.seen_consent_source):
        consent = {"given": bool(account.consent_locker),
                   "date": clock.beijing_date(account.consent_at).isoformat() if account.consent_at else None,
                   "source": account.consent_source}
        edits.append(("consent", consent, from_db(account.consent_at) or at))
    if account.height_preference != row.seen_height:
        edits.append(("accessibility", account.height_preference or "none", at))
    return edits


def capture_local_edits(session, station_id, apply=True):
    """Turn locker-side changes of this station's accounts into pending edits; returns them.

    One SQL scan finds the accounts whose columns differ from what sync last wrote."""
    S = StationAccountState
    differs = or_(*[getattr(Account, col).is_distinct_from(getattr(S, seen)) for seen, col in SEEN])
    captured = []
    rows = session.execute(select(S, Account).join(Account, Account.id == S.account_id).where(
        S.station_id == station_id, S.deleted.is_(False), differs)).all()
    for row, account in rows:
        edits = local_edits_of(account, row)
        st = to_merge_state(row)
        for field, value, at in edits:
            st = local_edit(st, field, value, at)
            captured.append((row.station_account_id, field, value, at))
        if apply:
            store_merge_state(row, st)
            mark_seen(row, account)
    return captured


def pending_edits(session, station_id):
    """(state row, field, value, at) for every locker-side edit the station has not confirmed."""
    out = []
    for row in session.scalars(select(StationAccountState).where(
            StationAccountState.station_id == station_id, StationAccountState.has_pending.is_(True),
            StationAccountState.deleted.is_(False))):
        for field, at in sorted((row.pending or {}).items()):
            out.append((row, field, row.values.get(field), at))
    return out


def snapshot(session, station_id):
    """Everything sync decides for a station, for comparing runs (tests) and for export."""
    rows = session.execute(select(StationAccountState, Account).join(
        Account, Account.id == StationAccountState.account_id).where(
        StationAccountState.station_id == station_id).order_by(StationAccountState.station_account_id)).all()
    return {r.station_account_id: {"values": r.values, "base": r.base, "pending": r.pending, "version": r.version,
                                   "deleted": r.deleted, "columns": read_columns(a)} for r, a in rows}


def _chunks(items, n):
    for i in range(0, len(items), n):
        yield items[i:i + n]

