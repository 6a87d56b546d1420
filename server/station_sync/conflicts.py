"""Conflicts the merge could not decide: list them for the keeper, and apply the keeper's decision."""
from sqlalchemy import select

from server.clock import utcnow
from server.models import Account
from server.models.station_sync import StationAccountState, StationSyncConflict
from server.station_sync import store
from server.station_sync.merge import resolve_conflict
from server.station_sync.reasons import Reason, as_reason


class ConflictError(ValueError):
    pass


def list_open(db, station_id):
    """Open conflicts, oldest first. ``reason`` is English text (the API's and the CLI's);
    ``reason_key``/``reason_params`` let a page word it (None for an old free-text reason)."""
    with db.reading() as s:
        rows = s.execute(select(StationSyncConflict, Account.name).join(
            Account, Account.id == StationSyncConflict.account_id).where(
            StationSyncConflict.station_id == station_id, StationSyncConflict.resolved_at.is_(None))
            .order_by(StationSyncConflict.id)).all()
        return [dict(_reason_fields(c.reason), id=c.id, account=c.station_account_id, name=name, field=c.field,
                     locker=c.local_value, station=c.station_value, detected_at=c.detected_at.isoformat())
                for c, name in rows]


def _reason_fields(stored):
    why = as_reason(stored)
    if isinstance(why, Reason):
        d = why.as_dict()
        return {"reason": why.english(), "reason_key": d["key"], "reason_params": d["params"]}
    return {"reason": why, "reason_key": None, "reason_params": {}}


def resolve(db, station_id, conflict_id, take, by):
    """Take the "station" or the "local" (locker-side) value. Only the station's own conflicts."""
    if take not in ("station", "local"):
        raise ConflictError("take must be 'station' or 'local'")

    def fn(s):
        c = s.get(StationSyncConflict, conflict_id)
        if c is None or c.station_id != station_id:
            raise ConflictError("station %s has no conflict %s" % (station_id, conflict_id))
        if c.resolved_at is not None:
            raise ConflictError("conflict %s was already resolved (%s)" % (conflict_id, c.resolution))
        row = s.scalar(select(StationAccountState).where(StationAccountState.account_id == c.account_id))
        account = s.get(Account, c.account_id)
        now = utcnow()
        st = resolve_conflict(store.to_merge_state(row), {"field": c.field, "local": c.local_value}, take,
                              store.from_db(now))
        store.store_merge_state(row, st)
        proj = store.project(st["values"], st["deleted"])
        store.write_columns(account, proj, now)
        store.mark_seen(row, account)
        c.resolved_at, c.resolution, c.resolved_by = now, take, by[:60]
        return {"id": c.id, "account": c.station_account_id, "field": c.field, "value": st["values"].get(c.field)}
    return db.run(fn, retries=0)
