"""Why a value, a row or a record was refused, or a conflict listed: a key and its parameters.

A reason travels and is stored as ``{"key": "phone.not_11_digits", "params": {"value": "1380013800"}}``,
never as a finished sentence, so each reader gets it in their own words: the pages word it from the
web catalogue ("sync.<key>", Chinese or English), the CLI and the API's readable ``message`` /
``reason`` strings from the English words in ``server/station_sync/english.py`` (the same English the
catalogue's English side uses). Pure: no Flask, no database.
"""
import json

from server.station_sync import english

STORED_MAX = 200           # station_sync_conflicts.reason is String(200)
VALUE_MAX = 60             # a value quoted in a report line is cut to this many characters

# Conflict reasons stored before reasons had keys: known sentences read back as their key, so old
# rows read in Chinese too; anything else is shown as it was stored.
LEGACY = {
    "account deleted at the station while edited at the locker": "conflict.deleted",
    "changed at the station and at the locker at nearly the same time": "conflict.same_time",
    "changed at the station and at the locker and the station gave no time for its change": "conflict.no_time",
}


class Reason:
    __slots__ = ("key", "params")

    def __init__(self, key, **params):
        self.key, self.params = key, params

    def as_dict(self):
        return {"key": self.key, "params": {k: _plain(v) for k, v in self.params.items()}}

    def english(self):
        return render(self, english.word)

    __str__ = english

    def __eq__(self, other):
        return isinstance(other, Reason) and self.as_dict() == other.as_dict()

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        return "Reason(%r, %r)" % (self.key, self.params)


class ReasonError(ValueError):
    """A refusal carrying its Reason; str() is the English sentence (logs, CLI, API messages)."""

    def __init__(self, key, **params):
        self.reason = key if isinstance(key, Reason) else Reason(key, **params)
        super().__init__(self.reason.english())


def _plain(v):
    """A parameter as JSON (it is stored in run reports and conflict rows)."""
    if isinstance(v, Reason):
        return v.as_dict()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return str(v)


def as_reason(obj):
    """A Reason from what was stored or passed: a Reason, its dict, an error dict with reason_key,
    a stored text (JSON form, or an old English sentence). Returns the text itself when it is
    neither: an old free-form reason is shown as it was written."""
    if isinstance(obj, Reason) or obj is None:
        return obj
    if isinstance(obj, dict):
        key = obj.get("key") or obj.get("reason_key")
        if key:
            return Reason(key, **(obj.get("params") or {}))
        return obj.get("message") or obj.get("reason")
    text = str(obj)
    if text.startswith("{"):
        try:
            return as_reason(json.loads(text))
        except ValueError:
            return text
    return Reason(LEGACY[text]) if text in LEGACY else text


def encode(reason):
    """The stored form (JSON text that fits the column); parameters are dropped if they do not fit."""
    d = reason.as_dict()
    text = json.dumps(d, ensure_ascii=False, separators=(",", ":"))
    if len(text) > STORED_MAX:
        text = json.dumps({"key": d["key"], "params": {}}, separators=(",", ":"))
    return text


def render(reason, word):
    """The sentence for a reason. ``word(key, **params)`` gives the catalogue text of a key in the
    reader's language, or None when the catalogue has no such key."""
    reason = as_reason(reason)
    if not isinstance(reason, Reason):
        return "" if reason is None else str(reason)
    params = {k: _param(k, v, word) for k, v in reason.params.items()}
    if "field" in reason.params and "value" in reason.params:
        # A value of a named field reads as that field's values do (a consent, a height band).
        params["value"] = value_text(reason.params["field"], reason.params["value"], word)
    text = word("sync." + reason.key, **params)
    return text if text is not None else "%s %s" % (reason.key, params or "")


def field_word(field, word):
    return word("sfield." + str(field)) or str(field)


def _param(name, v, word):
    if name == "field":
        return field_word(v, word)
    if name == "fields":
        return word("sync.list_sep").join(field_word(f, word) for f in v)
    if name == "reason" or (isinstance(v, dict) and "key" in v):
        return render(v, word)
    if isinstance(v, (list, tuple)):
        return word("sync.list_sep").join(str(x) for x in v)
    return "—" if v is None else str(v)


def value_text(field, value, word):
    """An account field's value in words (a conflict's two sides, a change in a report line)."""
    if value is None:
        return "—"
    if field == "consent" and isinstance(value, dict):
        src = source_text(value.get("source"), word) if value.get("source") else "—"
        if value.get("given"):
            return word("sval.consent_yes", date=value.get("date") or "—", source=src)
        return word("sval.consent_no")
    if field == "accessibility":
        return word("sval.acc_" + str(value)) or str(value)
    if field == "proxies" and isinstance(value, list):
        people = ["%s %s" % (p.get("name") or "", p.get("phone") or "") if isinstance(p, dict) else str(p)
                  for p in value]
        return word("sync.list_sep").join(people) or word("sval.none")
    if isinstance(value, bool):
        return word("sval.yes" if value else "sval.no")
    if isinstance(value, list):
        return word("sync.list_sep").join(str(x) for x in value) or word("sval.none")
    if value == "":
        return word("sval.empty")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_MAX else text[:VALUE_MAX - 1] + "…"


def source_key(source):
    """The catalogue key for how consent was recorded: "seed", "station_book", "paper form"..."""
    return "csource." + "_".join(str(source).lower().replace("-", " ").split())


def source_text(source, word):
    """A consent source in words; a source the catalogue does not know (the station's own text,
    e.g. "纸质同意书") is shown as written."""
    return word(source_key(source)) or str(source)


def detail_text(item, word):
    """One line of a run's report (what a record changed, a note) in words."""
    if isinstance(item, str):
        return item                     # a report stored before lines had structure
    if "note" in item:
        return render(item["note"], word)
    sep = word("sync.part_sep")
    parts = [word("sync.detail_head", action=word("sact." + item["action"]) or item["action"], id=item["id"])]
    for c in item.get("changes", []):
        parts.append(word("sync.detail_change", field=field_word(c["field"], word),
                          old=value_text(c["field"], c["old"], word), new=value_text(c["field"], c["new"], word)))
    for s in item.get("superseded", []):
        parts.append(word("sync.detail_superseded", field=field_word(s["field"], word),
                          value=value_text(s["field"], s["local"], word)))
    for c in item.get("conflicts", []):
        parts.append(word("sync.detail_conflict", field=field_word(c["field"], word),
                          local=value_text(c["field"], c["local"], word),
                          station=value_text(c["field"], c["station"], word), reason=render(c["reason"], word)))
    if item.get("consent_withdrawn"):
        parts.append(word("sync.detail_withdrawn"))
    return sep.join(parts)
