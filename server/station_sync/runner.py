"""Sync and import runs: checkpointed, resumable, idempotent; dry runs that write nothing.

A run for one station:
  1. takes the station's lease (one run per station at a time; a crashed run's lease expires),
  2. captures locker-side edits as pending and queues outbound updates (parcel status, fee ledger,
     account edits) in one transaction,
  3. pushes the queue (each update carries an idempotency key, so a re-push is harmless),
  4. pulls the station's feed page by page; each page is applied in ONE transaction together with
     the cursor that follows it, so a crash loses at most the page in flight and a re-run resumes
     exactly there. Replayed records are stale by version and change nothing.
A file import is one transaction: applied whole, or (on any error) not at all.
"""
import datetime as _dt
import json
import os
import socket

from sqlalchemy import select, update

from server.clock import utcnow
from server.models import Station
from server.models.station_sync import StationSyncRun, StationSyncSource
from server.station_sync import outbound, store
from server.station_sync.client import StationAuthError, StationClient, StationUnavailable
from server.station_sync.contract import ContractError, parse_page
from server.station_sync.english import word
from server.station_sync.merge import merge_record
from server.station_sync.parsing import parse_file
from server.station_sync.reasons import Reason, detail_text

COUNTS = ("pages", "records", "created", "updated", "deleted", "restored", "unchanged", "stale", "ignored",
          "conflicts", "superseded", "rejected", "consent_withdrawn", "local_edits", "queued", "pushed",
          "push_rejected")
REPORT_CAP = 500           # lines of detail kept in a run's report
LEASE = _dt.timedelta(minutes=15)
LEASE_OWNER = "%s:%d" % (socket.gethostname()[:40], os.getpid())


class SyncError(RuntimeError):
    """A run could not start (unknown station, not configured, another run holds the lease)."""


class RunResult:
    def __init__(self, station_id, kind, source, dry_run):
        self.station_id, self.kind, self.source, self.dry_run = station_id, kind, source, dry_run
        self.status = "ok"
        self.error = None
        self.counts = dict.fromkeys(COUNTS, 0)
        self.items = []            # what changed / would change, capped: see reasons.detail_text
        self.rejected = []         # records or rows refused, with reasons
        self.run_id = None
        self.parse_report = None

    @property
    def ok(self):
        return self.status == "ok"

    def note(self, item):
        """``item``: a record's outcome (see _describe) or {"note": Reason}."""
        if len(self.items) < REPORT_CAP:
            self.items.append(item)

    @property
    def details(self):
        """The report's lines in English (CLI, API); pages word ``items`` in the reader's language."""
        return [detail_text(i, word) for i in self.items]

    def report(self):
        items = [dict(i, note=i["note"].as_dict()) if "note" in i else i for i in self.items]
        return {"details": self.details, "items": items, "rejected": self.rejected[:REPORT_CAP],
                "file": self.parse_report.as_dict() if self.parse_report else None}

    def as_dict(self):
        d = {"station_id": self.station_id, "kind": self.kind, "source": self.source, "dry_run": self.dry_run,
             "status": self.status, "error": self.error, "counts": self.counts, "run_id": self.run_id}
        d.update(self.report())
        return d

    def text(self):
        head = "station %s %s %s%s: %s" % (self.station_id, self.kind, self.source,
                                          " (dry run: nothing written)" if self.dry_run else "", self.status)
        lines = [head]
        if self.error:
            lines.append("  error: %s" % self.error)
        lines.append("  " + ", ".join("%s %d" % (k, v) for k, v in self.counts.items() if v))
        if self.parse_report is not None and not self.parse_report.ok:
            lines.append(self.parse_report.text())
        for r in self.rejected[:50]:
            lines.append("  rejected %s: %s" % (r.get("id"), "; ".join("%s: %s" % tuple(e) for e in r["errors"])))
        lines += ["  " + d for d in self.details[:200]]
        return "\n".join(lines)


# -- configuration --------------------------------------------------------------------------------
def configure(db, station_id, **settings):
    """Create or change a station's sync source (URL, its id in its own system, credential, mode)."""
    def fn(s):
        if s.get(Station, station_id) is None:
            raise SyncError("no station %s" % station_id)
        src = s.get(StationSyncSource, station_id)
        if src is None:
            src = StationSyncSource(station_id=station_id, remote_id=str(station_id), mode="cursor",
                                    page_size=500, enabled=True, outbound_event_id=0, outbound_ledger_id=0)
            s.add(src)
        for k, v in settings.items():
            if v is not None:
                if k == "mode" and v not in ("cursor", "updated_since"):
                    raise SyncError("mode must be cursor or updated_since")
                setattr(src, k, v)
        return {"station_id": station_id, "base_url": src.base_url, "remote_id": src.remote_id, "mode": src.mode,
                "page_size": src.page_size, "enabled": src.enabled, "has_credential": bool(src.credential)}
    return db.run(fn)


def configured_stations(db):
    with db.reading() as s:
        return [r.station_id for r in s.scalars(select(StationSyncSource).where(
            StationSyncSource.enabled.is_(True), StationSyncSource.base_url.is_not(None)))]


# -- leases and run log -----------------------------------------------------------------------------
def _acquire(db, station_id, result, now):
    def fn(s):
        if s.get(Station, station_id) is None:
            raise SyncError("no station %s" % station_id)
        # Row lock (PostgreSQL; SQLite's write transactions are serialised anyway): two runs starting at
        # once see each other's lease.
        src = s.get(StationSyncSource, station_id, with_for_update=True)
        if src is None:
            src = StationSyncSource(station_id=station_id, remote_id=str(station_id), mode="cursor", page_size=500,
                                    enabled=True, outbound_event_id=0, outbound_ledger_id=0)
            s.add(src)
            s.flush()      # a concurrent insert of the same row fails here; db.run retries and sees it
        if src.lease_until is not None and src.lease_until > now and _holder_alive(src.lease_owner):
            raise SyncError("another sync of station %s is running (lease until %s UTC)" % (station_id,
                                                                                            src.lease_until))
        src.lease_until = now + LEASE
        src.lease_owner = LEASE_OWNER
        src.last_run_at = now
        # We hold the lease, so any run still marked running died half-way.
        s.execute(update(StationSyncRun).where(StationSyncRun.station_id == station_id,
                                                StationSyncRun.status == "running")
                  .values(status="failed", error="interrupted (crashed or killed); resumed by a later run",
                          finished_at=now))
        run = StationSyncRun(station_id=station_id, kind=result.kind, source=result.source[:300], status="running",
                             counts={}, started_at=now)
        s.add(run)
        s.flush()
        return run.id
    result.run_id = db.run(fn, retries=2)


def _holder_alive(owner):
    """A lease held by a process on this machine that no longer exists is void (it crashed)."""
    if not owner or ":" not in owner:
        return True
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname()[:40] or not pid.isdigit():
        return True
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finish(db, result):
    def fn(s):
        run = s.get(StationSyncRun, result.run_id)
        run.status = result.status
        run.error = result.error
        run.counts = dict(result.counts)
        run.report = result.report()
        run.finished_at = utcnow()
        src = s.get(StationSyncSource, result.station_id)
        src.lease_until = None
        src.lease_owner = None
        if result.ok:
            src.last_ok_at = run.finished_at
    db.run(fn)


def _save_counts(s, result):
    run = s.get(StationSyncRun, result.run_id)
    run.counts = dict(result.counts)


# -- applying records -------------------------------------------------------------------------------
def apply_records(s, station_id, records, result, now, overlay=None):
    """Merge canonical records into the station's accounts. With ``overlay`` (a dict) nothing is
    written: merged states are kept in the overlay so later pages of a dry run see them."""
    existing = store.load_states(s, station_id, [r["id"] for r in records])
    creates = []
    for rec in records:
        ex = existing.get(rec["id"])
        if overlay is not None and rec["id"] in overlay:
            state = overlay[rec["id"]]
        elif ex is None:
            state = None
        else:
            state = store.to_merge_state(ex[0]) if ex[0] is not None else store.adopt_state(ex[1])
        out = merge_record(state, rec)
        c = result.counts
        c["records"] += 1
        c[{"create": "created", "update": "updated", "delete": "deleted", "restore": "restored",
           "unchanged": "unchanged", "stale": "stale", "ignored": "ignored"}[out.action]] += 1
        c["conflicts"] += len(out.conflicts)
        c["superseded"] += len(out.superseded)
        c["consent_withdrawn"] += int(out.consent_withdrawn)
        _describe(result, out)
        if overlay is not None:
            if out.state is not None:
                overlay[rec["id"]] = out.state
        elif out.action == "create" and ex is None:
            creates.append(out)            # inserted together below: a first sync is mostly creates
        else:
            store.apply_outcome(s, station_id, out, ex, result.run_id, now)
    store.bulk_create(s, station_id, creates, now)
    if overlay is None:
        for account, phone, why in store.report_shared_phones(s, station_id, result.run_id, now):
            result.counts["conflicts"] += 1
            result.note({"action": "conflict", "id": account.station_account_id, "changes": [], "superseded": [],
                         "conflicts": [{"field": store.SHARED_PHONE_FIELD, "local": None, "station": phone,
                                        "reason": why.as_dict()}],
                         "consent_withdrawn": False})


def _describe(result, out):
    # Data, not a sentence: the CLI words it in English, the keeper's page in Chinese.
    if out.action in ("stale", "unchanged", "ignored") and not out.conflicts:
        return
    result.note({
        "action": out.action, "id": out.account_id,
        "changes": [{"field": f, "old": old, "new": new} for f, (old, new) in out.changes.items()
                    if out.action != "create"],
        "superseded": [{"field": f, "local": v} for f, v in out.superseded],
        "conflicts": [dict(c, reason=c["reason"].as_dict()) for c in out.conflicts],
        "consent_withdrawn": out.consent_withdrawn})


# -- HTTP sync --------------------------------------------------------------------------------------
def sync_station(db, station_id, dry_run=False, client=None, now=None, max_pages=None):
    """One sync run of a station against its system. Returns a RunResult (status ok / failed)."""
    now = now or utcnow()
    with db.reading() as s:
        src = s.get(StationSyncSource, station_id)
        if src is None or not src.base_url:
            raise SyncError("station %s has no station system configured (cunbox station configure)" % station_id)
        if not src.credential:
            raise SyncError("station %s has no credential for its station system" % station_id)
        cfg = {"base_url": src.base_url, "remote_id": src.remote_id, "credential": src.credential,
               "mode": src.mode, "page_size": src.page_size, "cursor": src.cursor}
    client = client or StationClient(cfg["base_url"], cfg["remote_id"], cfg["credential"])
    result = RunResult(station_id, "http", cfg["base_url"], dry_run)
    if dry_run:
        return _dry_sync(db, station_id, cfg, client, result, max_pages)
    _acquire(db, station_id, result, now)
    try:
        def prepare(s):
            src = s.get(StationSyncSource, station_id)
            result.counts["local_edits"] = len(store.capture_local_edits(s, station_id))
            result.counts["queued"] = outbound.queue(s, station_id, src)
            _save_counts(s, result)
        db.run(prepare, retries=0)
        pushed, push_rejected, push_error = outbound.push(db, station_id, client)
        result.counts["pushed"], result.counts["push_rejected"] = pushed, push_rejected
        cursor = cfg["cursor"]
        while max_pages is None or result.counts["pages"] < max_pages:
            page, next_cursor = _fetch(client, cfg, cursor)
            _record_rejected(result, page)

            def apply(s, page=page, next_cursor=next_cursor):
                apply_records(s, station_id, page.records, result, utcnow())
                s.get(StationSyncSource, station_id).cursor = next_cursor   # same transaction as the page
                result.counts["pages"] += 1
                _save_counts(s, result)
            snapshot = dict(result.counts), len(result.items), len(result.rejected)
            try:
                db.run(apply, retries=0)
            except BaseException:
                result.counts = snapshot[0]
                del result.items[snapshot[1]:]
                del result.rejected[snapshot[2]:]
                raise
            cursor = next_cursor
            if not page.has_more:
                break
        if push_error:
            # The pull went through; the run still fails so the keeper sees the push did not.
            result.status, result.error = "failed", push_error
    except (StationAuthError, StationUnavailable, ContractError) as e:
        result.status, result.error = "failed", str(e)
    except BaseException as e:
        result.status, result.error = "failed", "%s: %s" % (type(e).__name__, e)
        _finish(db, result)
        raise
    _finish(db, result)
    return result


def _fetch(client, cfg, cursor):
    if cfg["mode"] == "updated_since":
        since, after = (json.loads(cursor) if cursor else ["1970-01-01T00:00:00+00:00", ""])
        body = client.fetch_accounts(cfg["page_size"], updated_since=since, after_id=after)
        page = parse_page(body, cfg["remote_id"])
        next_cursor = json.dumps(list(page.last_key)) if page.last_key else cursor
    else:
        body = client.fetch_accounts(cfg["page_size"], cursor=cursor)
        page = parse_page(body, cfg["remote_id"])
        next_cursor = page.next_cursor or cursor
        if page.has_more and (not page.next_cursor or page.next_cursor == cursor):
            raise ContractError("'has_more' is true but 'next_cursor' does not move on")
    return page, next_cursor


def _record_rejected(result, page):
    for r in page.rejected:
        result.counts["rejected"] += 1
        result.rejected.append({
            "id": r["id"], "errors": [[col, why.english()] for col, why in r["errors"]],
            "reasons": [dict(column=col, reason_key=why.key, params=why.as_dict()["params"])
                        for col, why in r["errors"]]})


def _dry_sync(db, station_id, cfg, client, result, max_pages):
    overlay = {}
    cursor = cfg["cursor"]
    try:
        with db.reading() as s:
            captured = store.capture_local_edits(s, station_id, apply=False)
            result.counts["local_edits"] = len(captured)
            for acc_id, field, value, _at in captured[:REPORT_CAP]:
                result.note({"note": Reason("run.would_push", id=acc_id, field=field, value=value)})
            result.counts["queued"] = outbound.count_would_queue(s, station_id)
            while max_pages is None or result.counts["pages"] < max_pages:
                page, next_cursor = _fetch(client, cfg, cursor)
                _record_rejected(result, page)
                apply_records(s, station_id, page.records, result, utcnow(), overlay=overlay)
                result.counts["pages"] += 1
                cursor = next_cursor
                if not page.has_more:
                    break
            s.rollback()
    except (StationAuthError, StationUnavailable, ContractError) as e:
        result.status, result.error = "failed", str(e)
    return result


# -- file import ------------------------------------------------------------------------------------
def import_file(db, station_id, data, source_name, dry_run=False, apply_valid_rows=False, sheet=None, now=None):
    """Import a CSV/XLSX export of the station's book. With any bad row the file is rejected whole
    (every problem listed) unless ``apply_valid_rows``; the rows that are applied go in one transaction."""
    now = now or utcnow()
    result = RunResult(station_id, "file", source_name, dry_run)
    with db.reading() as s:
        if s.get(Station, station_id) is None:
            raise SyncError("no station %s" % station_id)
        src = s.get(StationSyncSource, station_id)
        keys = {str(station_id)} | ({src.remote_id} if src is not None else set())
    report = parse_file(data, source_name, station_keys=keys, sheet=sheet)
    result.parse_report = report
    result.counts["rejected"] = len(report.rejected_rows) + (1 if any(e.row is None for e in report.errors) else 0)
    records = [r for _, r in report.records]
    if not report.ok and (not apply_valid_rows or any(e.row is None for e in report.errors)):
        result.status = "rejected"
        result.error = Reason("run.file_rejected", problems=len(report.errors)).english()
        if not dry_run:
            _acquire(db, station_id, result, now)
            _finish(db, result)
        return result
    if dry_run:
        with db.reading() as s:
            result.counts["local_edits"] = len(store.capture_local_edits(s, station_id, apply=False))
            apply_records(s, station_id, records, result, now, overlay={})
            s.rollback()
        return result
    _acquire(db, station_id, result, now)
    try:
        def fn(s):
            # Locker-side edits first, so a row that changes the same field is seen as a conflict.
            result.counts["local_edits"] = len(store.capture_local_edits(s, station_id))
            apply_records(s, station_id, records, result, utcnow())
            _save_counts(s, result)
        db.run(fn, retries=0)
        if not report.ok:
            result.note({"note": Reason("run.rows_skipped", count=len(report.rejected_rows))})
    except BaseException as e:
        result.status, result.error = "failed", "%s: %s" % (type(e).__name__, e)
        result.counts = dict.fromkeys(COUNTS, 0)
        _finish(db, result)
        raise
    _finish(db, result)
    return result


def sync_all(db, dry_run=False):
    """Sync every enabled, configured station; one station's failure does not stop the others."""
    results = []
    for station_id in configured_stations(db):
        try:
            results.append(sync_station(db, station_id, dry_run=dry_run))
        except SyncError as e:
            r = RunResult(station_id, "http", "", dry_run)
            r.status, r.error = "failed", str(e)
            results.append(r)
    return results
