"""The merge engine: one incoming station record + cunbox's state of that account -> an outcome.

Pure functions, no database. The state of an account, as far as sync is concerned:

    {"values":  {field: value},        # what cunbox uses now
     "base":    {field: value},        # the station's value as last seen (the common ancestor)
     "pending": {field: datetime},     # fields edited on the locker side, not yet confirmed by the station
     "version": int or None, "updated_at": datetime or None,   # station record last applied
     "deleted": bool}

Rules (docs/station-sync.md):
- Records are keyed by the station's account id; a record whose version (or, without versions, whose
  updated_at) is not newer than the one applied is stale and changes nothing, so replaying a page or
  a file is harmless.
- Per field: untouched locally -> the station's value wins. Edited locally and the station still has
  the old value -> the local edit stands (and is pushed out). Both changed to different values -> the
  later timestamp wins when the two are more than ``skew`` apart; otherwise the conflict is listed
  for the station keeper and the local value stays (not guessed).
- Consent withdrawn by either side wins at once for new deposits, even inside a conflict.
- A tombstone marks the account deleted; it is never removed, so its parcel history stays.
"""
import datetime as _dt

from server.station_sync.fields import FIELDS
from server.station_sync.reasons import Reason

DEFAULT_SKEW = _dt.timedelta(seconds=2)
DEFAULTS = {"household": "", "proxies": [], "accessibility": "none",
            "consent": {"given": False, "date": None, "source": None}}


class Outcome:
    """What merging one record does. ``state`` is the new state (None: nothing to store)."""

    __slots__ = ("account_id", "action", "changes", "conflicts", "confirmed", "superseded", "state",
                 "consent_withdrawn")

    def __init__(self, account_id, action, state=None):
        self.account_id = account_id
        self.action = action          # create | update | delete | restore | unchanged | stale | ignored
        self.changes = {}             # field -> (old, new) of the effective value
        self.conflicts = []           # {"field", "local", "station", "reason": Reason}
        self.confirmed = []           # local edits the station now has
        self.superseded = []          # local edits replaced by a later station edit: (field, local value)
        self.state = state
        self.consent_withdrawn = False

    def as_dict(self):
        return {"id": self.account_id, "action": self.action,
                "changes": {f: {"old": o, "new": n} for f, (o, n) in self.changes.items()},
                "conflicts": [dict(c, reason=c["reason"].as_dict()) for c in self.conflicts],
                "confirmed": self.confirmed,
                "superseded": [{"field": f, "local": v} for f, v in self.superseded],
                "consent_withdrawn": self.consent_withdrawn}


def new_state():
    return {"values": {}, "base": {}, "pending": {}, "version": None, "updated_at": None, "deleted": False}


def copy_state(state):
    return {"values": dict(state["values"]), "base": dict(state["base"]), "pending": dict(state["pending"]),
            "version": state["version"], "updated_at": state["updated_at"], "deleted": state["deleted"]}


def consent_given(values):
    c = values.get("consent") or {}
    return bool(c.get("given"))


def is_stale(state, record):
    """True when ``record`` is not newer than what was applied (replays, out-of-order pages)."""
    if record["version"] is not None and state["version"] is not None:
        return record["version"] <= state["version"]
    if record["version"] is None and record["updated_at"] is not None and state["updated_at"] is not None:
        return record["updated_at"] < state["updated_at"]
    return False


def merge_record(state, record, skew=DEFAULT_SKEW):
    """Merge one canonical record (see records.py) into ``state`` (None for an unknown account)."""
    rid = record["id"]
    if state is None:
        if record["deleted"]:
            return Outcome(rid, "ignored")
        st = new_state()
        values = dict(DEFAULTS)
        values.update(record["values"])
        st["values"] = values
        st["base"] = dict(values)
        _stamp(st, record)
        out = Outcome(rid, "create", st)
        out.changes = {f: (None, values[f]) for f in FIELDS if f in values}
        return out
    if is_stale(state, record):
        return Outcome(rid, "stale")

    st = copy_state(state)
    _stamp(st, record)
    if record["deleted"]:
        if state["deleted"]:
            return Outcome(rid, "unchanged", st)
        out = Outcome(rid, "delete", st)
        st["deleted"] = True
        # The station removed the resident: edits made here cannot be pushed any more; list them.
        for f in sorted(st["pending"]):
            out.conflicts.append({"field": f, "local": st["values"].get(f), "station": None,
                                  "reason": Reason("conflict.deleted")})
        st["pending"] = {}
        out.consent_withdrawn = consent_given(state["values"])
        return out

    out = Outcome(rid, "restore" if state["deleted"] else "update", st)
    st["deleted"] = False
    values, base, pending = st["values"], st["base"], st["pending"]
    for f in FIELDS:
        if f not in record["values"]:
            continue
        remote = record["values"][f]
        local = values.get(f)
        if f not in pending:
            base[f] = remote
            if remote != local:
                values[f] = remote
                out.changes[f] = (local, remote)
            continue
        if remote == local:                      # the station took our edit (or made the same one)
            base[f] = remote
            del pending[f]
            out.confirmed.append(f)
            continue
        if remote == base.get(f):                # station unchanged here: our edit stands, to be pushed
            continue
        base[f] = remote
        r_at = record["field_updated_at"].get(f) or record["updated_at"]
        l_at = pending[f]
        if r_at is not None and l_at is not None and abs(r_at - l_at) > skew:
            if r_at > l_at:
                values[f] = remote
                del pending[f]
                out.changes[f] = (local, remote)
                out.superseded.append((f, local))
            continue                             # local is later: it stands and is pushed again
        reason = Reason("conflict.same_time" if r_at is not None and l_at is not None else "conflict.no_time")
        out.conflicts.append({"field": f, "local": local, "station": remote, "reason": reason})
        if f == "consent" and consent_given({"consent": local}) and not consent_given({"consent": remote}):
            # A withdrawal is never held back by a conflict: no locker delivery until the keeper decides.
            values[f] = remote
            out.changes[f] = (local, remote)
    if consent_given(state["values"]) and not consent_given(values):
        out.consent_withdrawn = True
    if out.action == "update" and not out.changes and not out.conflicts:
        out.action = "unchanged"
    return out


def local_edit(state, field, value, at):
    """Record an edit made on the locker side (e.g. consent given or withdrawn at the locker)."""
    if field not in FIELDS:
        raise ValueError("unknown account field %r" % field)
    st = copy_state(state)
    st["values"][field] = value
    if value == st["base"].get(field):
        st["pending"].pop(field, None)           # edited back to what the station has: nothing to push
    else:
        st["pending"][field] = at
    return st


def resolve_conflict(state, conflict, take, at):
    """The keeper's decision on a listed conflict: take the "station" value or the "local" one.

    Taking "local" makes it a fresh locker-side edit (pushed to the station on the next run).
    """
    field = conflict["field"]
    if take == "station":
        st = copy_state(state)
        st["values"][field] = st["base"].get(field)
        st["pending"].pop(field, None)
        return st
    if take == "local":
        return local_edit(state, field, conflict["local"], at)
    raise ValueError("take must be 'station' or 'local'")


def _stamp(st, record):
    if record["version"] is not None:
        st["version"] = record["version"]
    if record["updated_at"] is not None:
        st["updated_at"] = record["updated_at"]
