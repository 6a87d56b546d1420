"""Canonical account records, built from a flat mapping of contract keys (a CSV row, a JSON object).

Every value goes through ``fields``; every problem is collected (not just the first) so the station
keeper can fix a row in one go.
"""
from server.station_sync import fields as F
from server.station_sync.reasons import Reason

# Keys of the flat form, in report order. "id" is the station's own account id.
FLAT_KEYS = ("id", "name", "phones", "household", "consent", "consent_date", "consent_source", "proxies",
             "accessibility", "version", "updated_at", "deleted", "station")
MAX_ID = 64


def record_from_flat(flat, today=None, allow_landline=True):
    """Return (record, errors). ``flat`` maps FLAT_KEYS to raw values; a key absent = not provided.

    errors is a list of (key, Reason); when it is non-empty the record must not be applied.
    """
    errors = []
    rec = {"id": None, "version": None, "updated_at": None, "deleted": False, "values": {},
           "field_updated_at": {}}

    def attempt(key, fn):
        try:
            return fn()
        except F.FieldError as e:
            errors.append((key, e.reason))
            return None

    rec["id"] = attempt("id", lambda: _norm_id(flat.get("id")))
    if "version" in flat and flat["version"] not in (None, ""):
        rec["version"] = attempt("version", lambda: _norm_version(flat["version"]))
    if "updated_at" in flat and flat["updated_at"] not in (None, ""):
        rec["updated_at"] = attempt("updated_at", lambda: F.parse_timestamp(flat["updated_at"]))
    if "deleted" in flat and flat["deleted"] not in (None, ""):
        rec["deleted"] = bool(attempt("deleted", lambda: F.parse_bool(flat["deleted"], "deleted")))
    if rec["deleted"]:
        # A tombstone carries only its identity and version; the other fields are ignored.
        return rec, errors

    v = rec["values"]
    if "name" in flat:
        v["name"] = attempt("name", lambda: F.norm_text(flat["name"], "name", required=True, max_len=64))
    if "phones" in flat:
        v["phones"] = attempt("phones", lambda: F.norm_phones(flat["phones"], allow_landline=allow_landline))
    if "household" in flat:
        v["household"] = attempt("household", lambda: F.norm_text(flat["household"], "household"))
    if "consent" in flat:
        v["consent"] = attempt("consent", lambda: F.norm_consent(
            flat["consent"], flat.get("consent_date"), flat.get("consent_source"), today=today))
    elif "consent_date" in flat or "consent_source" in flat:
        errors.append(("consent", Reason("consent.without")))
    if "proxies" in flat:
        v["proxies"] = attempt("proxies", lambda: F.norm_proxies(flat["proxies"]))
    if "accessibility" in flat:
        v["accessibility"] = attempt("accessibility", lambda: F.norm_accessibility(flat["accessibility"]))
    for key in [k for k, val in v.items() if val is None]:
        del v[key]
    return rec, errors


def _norm_id(value):
    if isinstance(value, float) and value == int(value):
        value = int(value)
    text = "" if value is None else str(value).strip()
    if not text:
        raise F.FieldError("field.empty", field="id")
    if len(text) > MAX_ID or any(c.isspace() for c in text):
        raise F.FieldError("id.bad", value=text, max=MAX_ID)
    return text


def _norm_version(value):
    if isinstance(value, bool):
        raise F.FieldError("version.not_whole", value=value)
    try:
        n = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise F.FieldError("version.not_whole", value=value) from None
    if n < 0:
        raise F.FieldError("version.negative", value=n)
    return n
