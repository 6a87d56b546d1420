"""The account fields the station contract carries, and how each value is checked and normalised.

Both inbound paths (CSV/XLSX files and the HTTP/JSON contract) end in the same canonical record, so
the merge engine sees one shape whatever the source:

    {"id": "A0001", "version": 12 or None, "updated_at": aware UTC datetime or None,
     "deleted": False, "values": {field: canonical value, ...}, "field_updated_at": {field: datetime}}

Canonical values are JSON-ready (lists, dicts, str, bool) because they are stored as the merge base
and shown in conflict reports. A field missing from ``values`` means "not provided", never "empty".
"""
import datetime as _dt
import re

from server import clock
from server.station_sync.phones import PhoneError, normalise_phone, split_phones
from server.station_sync.reasons import ReasonError

# Order matters only for reports.
FIELDS = ("name", "phones", "household", "consent", "proxies", "accessibility")

# Accessibility preference: which compartment height band suits the villager (the backend's
# height_preference). "low" = reachable from a wheelchair; "high" = no bending; "none" = any.
ACCESSIBILITY = ("none", "low", "middle", "high")
_ACCESSIBILITY_WORDS = {
    "": "none", "none": "none", "no": "none", "any": "none", "无": "none", "否": "none", "不限": "none",
    "low": "low", "lower": "low", "wheelchair": "low", "低": "low", "低位": "low", "下层": "low", "轮椅": "low",
    "middle": "middle", "中": "middle", "中层": "middle", "中位": "middle",
    "high": "high", "upper": "high", "高": "high", "高位": "high", "上层": "high",
}
_YES = {"1", "y", "yes", "true", "t", "是", "同意", "已同意", "√", "✓", "有"}
_NO = {"0", "n", "no", "false", "f", "否", "不同意", "未同意", "撤回", "已撤回", "withdrawn", "×", "无"}

MAX_TEXT = 200
EARLIEST_DATE = _dt.date(1990, 1, 1)


class FieldError(ReasonError):
    """A value the station sent cannot be used; its reason (a key, with the field as a contract key
    such as "consent_date") is worded for the station keeper by whoever shows it."""


def norm_text(value, what, required=False, max_len=MAX_TEXT):
    if value is None:
        value = ""
    if isinstance(value, float) and value == int(value):
        value = int(value)
    text = " ".join(str(value).split())
    if required and not text:
        raise FieldError("field.empty", field=what)
    if len(text) > max_len:
        raise FieldError("field.too_long", field=what, max=max_len)
    return text


def norm_phones(value, allow_landline=False):
    """One or more numbers (a list, or a cell with separators) -> de-duplicated canonical list."""
    parts = value if isinstance(value, (list, tuple)) else split_phones(value)
    if not parts:
        raise FieldError("phones.none")
    out = []
    for p in parts:
        try:
            n = normalise_phone(p, allow_landline=allow_landline)
        except PhoneError as e:
            raise FieldError(e.reason) from None
        if n not in out:
            out.append(n)
    if not any(len(n) == 11 and "-" not in n for n in out):
        raise FieldError("phones.no_mobile", numbers=out)
    return out


def parse_date(value, what="date", today=None):
    """A calendar date from a cell or JSON string; future and implausibly old dates are refused."""
    if isinstance(value, _dt.datetime):
        d = value.date()
    elif isinstance(value, _dt.date):
        d = value
    else:
        text = str(value if value is not None else "").strip()
        if not text:
            raise FieldError("field.empty", field=what)
        d = _parse_date_text(text)
        if d is None:
            raise FieldError("date.bad", field=what, value=text)
    today = today or clock.beijing_today()   # the station's day, not the server's
    if d > today + _dt.timedelta(days=1):
        raise FieldError("date.future", field=what, value=d.isoformat())
    if d < EARLIEST_DATE:
        raise FieldError("date.too_old", field=what, value=d.isoformat())
    return d


def _parse_date_text(text):
    m = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?$", text)
    if not m:
        m = re.match(r"^(\d{4})(\d{2})(\d{2})$", text)
    if not m:
        return None
    try:
        return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_timestamp(value, what="updated_at"):
    """An instant -> aware UTC datetime. Text without an offset is station local time (UTC+8)."""
    if isinstance(value, _dt.datetime):
        ts = value
    else:
        text = str(value if value is not None else "").strip()
        if not text:
            raise FieldError("field.empty", field=what)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            ts = _dt.datetime.fromisoformat(text.replace("/", "-"))
        except ValueError:
            raise FieldError("time.bad", field=what, value=text) from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=clock.BEIJING)
    return ts.astimezone(_dt.timezone.utc)


def parse_bool(value, what):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value if value is not None else "").strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    if not text:
        raise FieldError("bool.empty", field=what)
    raise FieldError("bool.bad", field=what, value=str(value).strip())


def norm_consent(given, date=None, source=None, today=None):
    """Consent to locker delivery: given or not, with its date and source.

    Consent given needs a date (the express rules require recorded consent); a withdrawal may carry
    the date of withdrawal.
    """
    g = parse_bool(given, "consent")
    d = None
    if date not in (None, ""):
        d = parse_date(date, "consent_date", today=today).isoformat()
    elif g:
        raise FieldError("consent.no_date")
    src = norm_text(source, "consent_source", max_len=64) or None
    return {"given": g, "date": d, "source": src}


def norm_accessibility(value):
    key = norm_text(value, "accessibility").lower()
    if key in _ACCESSIBILITY_WORDS:
        return _ACCESSIBILITY_WORDS[key]
    raise FieldError("accessibility.bad", value=key)


def norm_proxies(value):
    """People allowed to collect for the villager: a list of {"name", "phone"}, sorted by phone.

    From a cell: "张三:138 0000 0000；李四 13900000000". From JSON: a list of objects.
    """
    if value is None or value == "":
        return []
    items = []
    if isinstance(value, (list, tuple)):
        for p in value:
            if not isinstance(p, dict):
                raise FieldError("proxy.not_object", value=p)
            items.append((p.get("name"), p.get("phone")))
    else:
        for part in re.split(r"[;；、\n]+", str(value)):
            part = part.strip()
            if not part:
                continue
            m = re.match(r"^(.*?)[\s:：]*([+\d][\d\s\-+]{6,})$", part)
            if not m:
                raise FieldError("proxy.bad_format", value=part)
            items.append((m.group(1), m.group(2)))
    out = {}
    for name, phone in items:
        try:
            n = normalise_phone(phone)
        except PhoneError as e:
            raise FieldError("proxy.phone", name=name or "?", reason=e.reason) from None
        out[n] = {"name": norm_text(name, "proxy_name", required=True, max_len=64), "phone": n}
    return [out[k] for k in sorted(out)]
