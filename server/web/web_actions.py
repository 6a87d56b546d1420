"""The state-changing calls the pages make, each a thin call into server/services/.

Parts of the product land issue by issue (the station-sync import, the locker link, the firmware
rollout); the pages ask `*_available()` and say plainly when a part is not installed rather than
offering a button that cannot work.
"""
import importlib
import importlib.util

from server.errors import Conflict
from server.services import alarms, overdue, pickups, sends
from server.texts import CATALOGUES
from server.web import sync_words

IMPORT_MAX_BYTES = 5 * 1024 * 1024


def _module(name):
    try:
        if importlib.util.find_spec(name) is None:
            return None
    except ModuleNotFoundError:
        return None
    return importlib.import_module(name)


def message_key(exc):
    """A catalogue key for a service refusal, or the service's own (English) message when there is none."""
    key = "svc." + exc.code
    return key if key in CATALOGUES["zh"] else exc.message


def attach_error(form, exc, field_by_code):
    """Put a service refusal next to the field it concerns, or above the form if it concerns none."""
    key = message_key(exc)
    name = field_by_code.get(exc.code) or exc.details.get("field")
    if name and any(f.name == name for f in form.fields):
        form.add_error(name, key)
    else:
        form.form_error = key


def acknowledge_alarm(db, principal, alarm_id):
    return alarms.acknowledge(db, principal, alarm_id)


def staff_open(db, principal, parcel_id, action):
    """Retrieve an overdue parcel to the counter, or return it to its carrier (both open its door)."""
    if action == "retrieve":
        return overdue.retrieve(db, principal, parcel_id)
    return overdue.return_to_carrier(db, principal, parcel_id)


def collect(db, principal, parcel_id):
    return sends.collect(db, principal, parcel_id)


def phone_open(db, token, code, source):
    return pickups.open_from_link(db, token, code, source)


# --- parts that land with other issues; each says whether it is installed -------------------------

def import_available():
    return _module("server.station_sync.runner") is not None


REPORT_COUNTS = ("created", "updated", "unchanged", "deleted", "conflicts", "rejected")


def import_residents(db, principal, filename, data, dry_run=False, apply_valid_rows=False):
    """Import the station book export (server.station_sync.runner) for the operator's own station.

    Returns what the page shows: the outcome, the counts and every refused row with its reason."""
    from server.station_sync import runner
    try:
        result = runner.import_file(db, principal.station_id, data, filename or "upload", dry_run=dry_run,
                                    apply_valid_rows=apply_valid_rows)
    except runner.SyncError as exc:    # e.g. a sync of this station is running right now
        raise Conflict(str(exc), code="import_busy") from None
    parsed = result.parse_report.as_dict() if result.parse_report is not None else {}
    summary = [("rows", parsed.get("rows_read", 0))] + [(k, result.counts.get(k, 0)) for k in REPORT_COUNTS]
    # Reasons are keys + parameters: worded here in the page's language ("第 12 行", "手机号不是11位").
    errors = sorted(parsed.get("errors", []), key=lambda e: -1 if e["row"] is None else e["row"])
    rejected = [{"row": e["row"], "where": sync_words.where_text(row=e["row"]), "reason_key": e["reason_key"],
                 "reason": sync_words.reason_text(e)} for e in errors]
    sep = sync_words.word("sync.part_sep")
    rejected += [{"row": None, "where": sync_words.where_text(record_id=r.get("id")),
                  "reason_key": r["reasons"][0]["reason_key"] if r["reasons"] else None,
                  "reason": sep.join(sync_words.reason_text(x) for x in r["reasons"])} for r in result.rejected]
    return {"ok": result.ok, "status": result.status, "error": result.error, "dry_run": dry_run,
            "summary": summary, "rejected": rejected,
            "details": [sync_words.detail_text(i) for i in result.items[:50]]}


def open_conflicts(db, station_id):
    """The station's conflicts waiting for the keeper, worded for the page (none if sync is not installed)."""
    if not import_available():
        return []
    from server.station_sync.conflicts import list_open
    rows = list_open(db, station_id)
    for c in rows:
        c["field_text"] = sync_words.field_text(c["field"])
        c["locker_text"] = sync_words.value_text(c["field"], c["locker"])
        c["station_text"] = sync_words.value_text(c["field"], c["station"])
        # An old row's free-text reason is shown as it was stored.
        c["reason_text"] = sync_words.reason_text(
            {"key": c["reason_key"], "params": c["reason_params"]} if c["reason_key"] else c["reason"])
    return rows


def resolve_conflict(db, principal, conflict_id, take):
    """The keeper's decision; returns the field's name in words, or None if there is no such open conflict."""
    from server.station_sync.conflicts import ConflictError, resolve
    try:
        out = resolve(db, principal.station_id, conflict_id, take, principal.actor)
    except ConflictError:
        return None
    return sync_words.field_text(out["field"])


def proxies_by_account(session, account_ids):
    """Who may collect for each account, from the station book as last synced (names and phones)."""
    if not account_ids or _module("server.models.station_sync") is None:
        return {}
    from sqlalchemy import select

    from server.models.station_sync import StationAccountState
    out = {}
    for account_id, values in session.execute(select(StationAccountState.account_id, StationAccountState.values)
                                              .where(StationAccountState.account_id.in_(account_ids))):
        out[account_id] = ["%s %s" % (p.get("name") or "", p.get("phone") or "") for p in (values or {})
                           .get("proxies") or []]
    return out


def rollouts_available():
    return _module("server.firmware_delivery.rollout") is not None


def firmware():
    """The firmware-rollout service (server.firmware_delivery.rollout) and its fleet keys, or None if not installed."""
    if not rollouts_available():
        return None
    from server.firmware_delivery import keys, rollout
    return rollout, keys.fleet_keys
