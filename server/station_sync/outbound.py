"""Outbound: what the station keeper needs to see, queued and pushed to the station's system.

Three kinds of update, each with a key the station uses to drop duplicates (a crash between a push
and marking it sent only causes a harmless re-push):
- ``account_field``: an account edited on the locker side (consent given or withdrawn at the
  locker, a new phone, a height preference), unless the field is in an open conflict. It carries
  ``base_value``, the station's value the edit replaced: the station applies it only if the field
  still holds that value (compare-and-set), else rejects it and the next pull merges both sides;
- ``parcel_status``: a parcel of the station reached in_locker / overdue / at_counter / collected /
  returned (read from the backend's parcel_events, after a per-station high-water mark);
- ``fee``: a fee-ledger line of the station (after a high-water mark on ledger_lines.id).
Queueing happens in the run's preparation transaction, together with the high-water marks.
"""
from sqlalchemy import func, select

from server.clock import iso, utcnow
from server.models import Carrier, LedgerLine, Parcel, ParcelEvent
from server.models.station_sync import StationAccountState, StationOutbound, StationSyncSource
from server.station_sync import store
from server.station_sync.client import StationAuthError, StationUnavailable
from server.station_sync.contract import ContractError

# Backend parcel states the station sees, by the name in the contract.
PARCEL_STATUS = {"in_locker": "in_locker", "overdue": "overdue", "at_counter": "at_counter",
                 "picked_up": "collected", "collected_at_counter": "collected", "returned": "returned"}
PUSH_BATCH = 200
SCAN_BATCH = 5000


def _add(s, station_id, key, kind, payload, known):
    if key in known:
        return 0
    known.add(key)
    s.add(StationOutbound(station_id=station_id, key=key, kind=kind, payload=payload, state="pending",
                          attempts=0, created_at=utcnow()))
    return 1


def queue(s, station_id, src):
    """Queue every update not queued yet; returns how many were added."""
    added = 0
    conflicts = store.open_conflict_fields(s, station_id)
    edits = store.pending_edits(s, station_id)
    # The key names the station version the edit was based on: after the station changes the record,
    # an edit that still stands is a new update with a new base.
    keys = ["s%d:acct:%s:%s:%s:v%s" % (station_id, row.station_account_id, field, at, row.version)
            for row, field, _v, at in edits]
    known = _existing_keys(s, keys)
    for (row, field, value, at), key in zip(edits, keys, strict=True):
        if field in conflicts.get(row.account_id, ()):
            continue
        added += _add(s, station_id, key, "account_field", {
            "kind": "account_field", "account_id": row.station_account_id, "field": field, "value": value,
            "changed_at": at, "base_version": row.version, "base_value": row.base.get(field)}, known)

    while True:
        rows = s.execute(
            select(ParcelEvent, Parcel, Carrier.code, StationAccountState.station_account_id)
            .join(Parcel, Parcel.id == ParcelEvent.parcel_id).join(Carrier, Carrier.id == Parcel.carrier_id)
            .outerjoin(StationAccountState, StationAccountState.account_id == Parcel.account_id)
            .where(Parcel.station_id == station_id, ParcelEvent.id > src.outbound_event_id)
            .order_by(ParcelEvent.id).limit(SCAN_BATCH)).all()
        if not rows:
            break
        known = _existing_keys(s, ["s%d:parcel:%d:%d" % (station_id, p.id, e.id) for e, p, _c, _a in rows])
        for ev, parcel, carrier, acc in rows:
            status = PARCEL_STATUS.get(ev.to_state)
            if status is not None and parcel.direction == "in":
                added += _add(s, station_id, "s%d:parcel:%d:%d" % (station_id, parcel.id, ev.id), "parcel_status", {
                    "kind": "parcel_status", "account_id": acc, "parcel_id": parcel.id,
                    "tracking_number": parcel.tracking_number, "carrier": carrier, "status": status,
                    "at": iso(ev.at)}, known)
        src.outbound_event_id = rows[-1][0].id

    while True:
        lines = s.execute(
            select(LedgerLine, Carrier.code, Parcel.tracking_number, StationAccountState.station_account_id)
            .join(Carrier, Carrier.id == LedgerLine.carrier_id).join(Parcel, Parcel.id == LedgerLine.parcel_id)
            .outerjoin(StationAccountState, StationAccountState.account_id == Parcel.account_id)
            .where(LedgerLine.station_id == station_id, LedgerLine.id > src.outbound_ledger_id)
            .order_by(LedgerLine.id).limit(SCAN_BATCH)).all()
        if not lines:
            break
        known = _existing_keys(s, ["s%d:fee:%d" % (station_id, ln.id) for ln, _c, _t, _a in lines])
        for ln, carrier, tracking, acc in lines:
            added += _add(s, station_id, "s%d:fee:%d" % (station_id, ln.id), "fee", {
                "kind": "fee", "line_id": ln.id, "at": iso(ln.at), "carrier": carrier, "parcel_id": ln.parcel_id,
                "tracking_number": tracking, "account_id": acc, "fee_kind": ln.kind, "payer": ln.payer,
                "compartment_hours": ln.compartment_hours, "amount_cents": ln.amount_cents}, known)
        src.outbound_ledger_id = lines[-1][0].id
    return added


def count_would_queue(s, station_id):
    """Dry run: how many updates a real run would add to the queue (nothing is written)."""
    src = s.get(StationSyncSource, station_id)
    ev_mark = src.outbound_event_id if src else 0
    ledger_mark = src.outbound_ledger_id if src else 0
    n = len(store.pending_edits(s, station_id))
    n += s.scalar(select(func.count()).select_from(ParcelEvent).join(Parcel, Parcel.id == ParcelEvent.parcel_id)
                  .where(Parcel.station_id == station_id, ParcelEvent.id > ev_mark,
                         Parcel.direction == "in", ParcelEvent.to_state.in_(list(PARCEL_STATUS)))) or 0
    n += s.scalar(select(func.count()).select_from(LedgerLine).where(
        LedgerLine.station_id == station_id, LedgerLine.id > ledger_mark)) or 0
    return n


def _existing_keys(s, keys):
    found = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        if chunk:
            found.update(s.scalars(select(StationOutbound.key).where(StationOutbound.key.in_(chunk))))
    return found


def push(db, station_id, client):
    """Push pending updates in batches. Returns (accepted, rejected, error). When the station system
    is down the queue keeps the updates and ``error`` says why; a refused credential is raised."""
    pushed = refused = 0
    last_id = 0
    while True:
        with db.reading() as s:
            batch = s.scalars(select(StationOutbound).where(
                StationOutbound.station_id == station_id, StationOutbound.state == "pending",
                StationOutbound.id > last_id).order_by(StationOutbound.id).limit(PUSH_BATCH)).all()
            batch = [(o.id, o.key, dict(o.payload, key=o.key)) for o in batch]
        if not batch:
            return pushed, refused, None
        last_id = batch[-1][0]
        try:
            accepted, rejected = client.push_updates([p for _i, _k, p in batch])
        except (StationUnavailable, ContractError) as e:
            _mark_attempt(db, [i for i, _k, _p in batch], str(e))
            return pushed, refused, "pushing updates: %s (kept in the queue)" % e
        except StationAuthError:
            raise
        accepted = set(accepted)
        errors = {r.get("key"): str(r.get("error")) for r in rejected if isinstance(r, dict)}

        def mark(s, batch=batch, accepted=accepted, errors=errors):
            now = utcnow()
            for oid, key, _p in batch:
                o = s.get(StationOutbound, oid)
                o.attempts += 1
                if key in accepted:
                    o.state, o.sent_at, o.last_error = "sent", now, None
                elif key in errors:
                    o.state, o.last_error = "rejected", errors[key][:500]
        db.run(mark)
        pushed += len(accepted)
        refused += len(errors)


def _mark_attempt(db, ids, error):
    def fn(s):
        for oid in ids:
            o = s.get(StationOutbound, oid)
            o.attempts += 1
            o.last_error = error[:500]
    db.run(fn)

