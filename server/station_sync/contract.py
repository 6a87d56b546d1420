"""The station system's HTTP/JSON contract, read side: one response page -> validated records.

Pure (bytes in, records out). A page that is not what the contract says (not JSON, not an object,
no account list, another station's id) is rejected whole with ContractError and nothing from it is
applied. A record inside a good page that fails validation is rejected on its own and reported; the
rest of the page is used. The contract itself is written down in docs/station-sync.md.
"""
import json

from server.station_sync.reasons import Reason
from server.station_sync.records import record_from_flat

PAGE_LIMIT_MAX = 1000


class ContractError(ValueError):
    """The station system broke the contract (its fault, not ours); the run stops, nothing applied."""


class Page:
    __slots__ = ("records", "rejected", "next_cursor", "has_more", "last_key")

    def __init__(self, records, rejected, next_cursor, has_more, last_key):
        self.records = records        # canonical records
        self.rejected = rejected      # {"id", "errors": [(key, Reason)], "raw"}
        self.next_cursor = next_cursor
        self.has_more = has_more
        self.last_key = last_key      # (updated_at text, id) of the page's last entry: updated_since paging


def parse_page(body, station_id, today=None):
    """Validate one page of ``GET /stations/<id>/accounts`` for station ``station_id``."""
    try:
        doc = json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ContractError("the response is not valid UTF-8 JSON: %s" % e) from None
    if not isinstance(doc, dict):
        raise ContractError("the response is not a JSON object")
    if str(doc.get("station_id")) != str(station_id):
        raise ContractError("the response is for station %r, not %r; refused" % (doc.get("station_id"), station_id))
    accounts = doc.get("accounts")
    if not isinstance(accounts, list):
        raise ContractError("the response has no 'accounts' list")
    if len(accounts) > PAGE_LIMIT_MAX:
        raise ContractError("the page holds %d accounts; at most %d" % (len(accounts), PAGE_LIMIT_MAX))
    has_more = doc.get("has_more", False)
    if not isinstance(has_more, bool):
        raise ContractError("'has_more' is not true/false")
    next_cursor = doc.get("next_cursor")
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise ContractError("'next_cursor' is not a string")

    by_id = {}
    rejected = []
    for raw in accounts:
        rec, errors = record_from_json(raw, station_id, today)
        if errors:
            rejected.append({"id": rec["id"] if rec else None, "errors": errors, "raw": raw})
            continue
        prev = by_id.get(rec["id"])
        if prev is None or rec["version"] > prev["version"]:
            by_id[rec["id"]] = rec
        elif rec["version"] == prev["version"] and rec != prev:
            rejected.append({"id": rec["id"], "raw": raw, "errors": [(
                "version", Reason("record.same_version", version=rec["version"]))]})
            by_id[rec["id"]] = None
    records = [r for r in by_id.values() if r is not None]
    last_key = None
    if accounts and isinstance(accounts[-1], dict):
        last_key = (accounts[-1].get("updated_at"), accounts[-1].get("id"))
    return Page(records, rejected, next_cursor, has_more, last_key)


def record_from_json(raw, station_id, today=None):
    """One account object of the contract -> (record or None, errors)."""
    if not isinstance(raw, dict):
        return None, [("record", Reason("record.not_object"))]
    if "station_id" in raw and str(raw["station_id"]) != str(station_id):
        return {"id": raw.get("id")}, [("station_id", Reason("record.other_station", station=raw["station_id"]))]
    flat = {}
    errors = []
    for key in ("id", "version", "updated_at"):
        if raw.get(key) in (None, ""):
            errors.append((key, Reason("record.missing", field=key)))
        flat[key] = raw.get(key)
    if not isinstance(raw.get("version", 0), int) or isinstance(raw.get("version"), bool):
        errors.append(("version", Reason("record.not_integer", field="version")))
    deleted = raw.get("deleted", False)
    if not isinstance(deleted, bool):
        errors.append(("deleted", Reason("record.not_bool", field="deleted")))
        deleted = False
    flat["deleted"] = deleted
    if not deleted:
        for key in ("name", "phones", "consent"):
            if key not in raw:
                errors.append((key, Reason("record.missing", field=key)))
        for key in ("name", "household", "proxies", "accessibility"):
            if key in raw:
                flat[key] = raw[key]
        if "phones" in raw:
            if not isinstance(raw["phones"], list):
                errors.append(("phones", Reason("record.not_list", field="phones")))
            else:
                flat["phones"] = raw["phones"]
        if "proxies" in raw and not isinstance(raw["proxies"], list):
            errors.append(("proxies", Reason("record.not_list", field="proxies")))
            flat.pop("proxies")
        c = raw.get("consent")
        if c is not None:
            if not isinstance(c, dict) or not isinstance(c.get("given"), bool):
                errors.append(("consent", Reason("record.consent_shape")))
            else:
                flat["consent"] = c["given"]
                flat["consent_date"] = c.get("date")
                flat["consent_source"] = c.get("source")
    if errors:
        return {"id": raw.get("id")}, errors
    rec, errs = record_from_flat(flat, today=today)
    fua = raw.get("field_updated_at")
    if fua is not None:
        from server.station_sync.fields import FIELDS, FieldError, parse_timestamp
        if not isinstance(fua, dict):
            errs.append(("field_updated_at", Reason("record.not_map", field="field_updated_at")))
        else:
            for f, ts in fua.items():
                if f not in FIELDS:
                    errs.append(("field_updated_at", Reason("record.unknown_field", value=f)))
                    continue
                try:
                    rec["field_updated_at"][f] = parse_timestamp(ts, "field_updated_at")
                except FieldError as e:
                    errs.append(("field_updated_at", e.reason))
    return rec, errs
