"""The merge engine on its own: per-field last-writer-wins, conflicts listed, tombstones, consent."""
import datetime as dt

from server.station_sync.merge import local_edit, merge_record, resolve_conflict
from server.station_sync.reasons import Reason

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
YES = {"given": True, "date": "2024-03-05", "source": "paper"}
NO = {"given": False, "date": "2026-11-01", "source": "paper"}


def rec(version, minutes=0, deleted=False, field_times=None, **values):
    return {"id": "A1", "version": version, "updated_at": T0 + dt.timedelta(minutes=minutes), "deleted": deleted,
            "values": values, "field_updated_at": field_times or {}}


def created(**values):
    base = dict(name="Zhang", phones=["13812345678"], consent=YES)
    base.update(values)
    out = merge_record(None, rec(1, **base))
    assert out.action == "create"
    return out.state


def test_create_fills_defaults_and_sets_base():
    st = created()
    assert st["values"]["household"] == "" and st["values"]["proxies"] == [] and st["values"]["accessibility"] == "none"
    assert st["base"] == st["values"] and st["pending"] == {} and st["version"] == 1


def test_replayed_or_older_record_is_stale():
    st = created()
    assert merge_record(st, rec(1, name="Other")).action == "stale"
    st2 = merge_record(st, rec(3, name="Zhang San")).state
    assert merge_record(st2, rec(2, name="Old")).action == "stale"
    assert st2["values"]["name"] == "Zhang San"


def test_same_content_newer_version_is_unchanged():
    st = created()
    out = merge_record(st, rec(2, name="Zhang", phones=["13812345678"], consent=YES))
    assert out.action == "unchanged" and out.state["version"] == 2


def test_local_edit_stands_when_station_did_not_touch_the_field():
    st = local_edit(created(), "accessibility", "low", T0 + dt.timedelta(minutes=5))
    out = merge_record(st, rec(2, minutes=10, name="Zhang S", accessibility="none"))
    assert out.state["values"]["accessibility"] == "low" and "accessibility" in out.state["pending"]
    assert out.changes == {"name": ("Zhang", "Zhang S")}


def test_station_confirming_our_edit_clears_pending():
    st = local_edit(created(), "accessibility", "low", T0)
    out = merge_record(st, rec(2, accessibility="low"))
    assert out.confirmed == ["accessibility"] and out.state["pending"] == {}


def test_later_writer_wins_on_both_sides():
    st = local_edit(created(), "name", "Zhang (locker)", T0 + dt.timedelta(minutes=30))
    later_station = merge_record(st, rec(2, minutes=60, name="Zhang (station)"))
    assert later_station.state["values"]["name"] == "Zhang (station)"
    assert later_station.superseded == [("name", "Zhang (locker)")] and not later_station.conflicts
    earlier_station = merge_record(st, rec(2, minutes=10, name="Zhang (station)"))
    assert earlier_station.state["values"]["name"] == "Zhang (locker)" and "name" in earlier_station.state["pending"]
    assert earlier_station.state["base"]["name"] == "Zhang (station)"


def test_per_field_timestamps_decide_per_field():
    st = local_edit(created(), "name", "L", T0 + dt.timedelta(minutes=30))
    r = rec(2, minutes=60, name="S", field_times={"name": T0 + dt.timedelta(minutes=20)})
    out = merge_record(st, r)
    assert out.state["values"]["name"] == "L"


def test_undecidable_conflict_is_listed_not_guessed():
    st = local_edit(created(), "household", "东村 5 组", T0 + dt.timedelta(minutes=10, seconds=1))
    out = merge_record(st, rec(2, minutes=10, household="西村 1 组"))
    assert out.conflicts == [{"field": "household", "local": "东村 5 组", "station": "西村 1 组",
                              "reason": Reason("conflict.same_time")}]
    assert str(out.conflicts[0]["reason"]) == "changed at the station and at the locker at nearly the same time"
    assert out.state["values"]["household"] == "东村 5 组"
    no_time = dict(rec(3, household="北村"), updated_at=None)
    assert merge_record(st, no_time).conflicts[0]["reason"] == Reason("conflict.no_time")
    taken = resolve_conflict(out.state, out.conflicts[0], "station", T0)
    assert taken["values"]["household"] == "西村 1 组" and taken["pending"] == {}


def test_consent_withdrawal_wins_even_inside_a_conflict():
    st = local_edit(created(), "consent", dict(YES, source="locker"), T0 + dt.timedelta(minutes=10))
    out = merge_record(st, rec(2, minutes=10, consent=NO))
    assert out.conflicts and out.conflicts[0]["field"] == "consent"
    assert out.state["values"]["consent"]["given"] is False and out.consent_withdrawn
    kept = resolve_conflict(out.state, out.conflicts[0], "local", T0 + dt.timedelta(hours=1))
    assert kept["values"]["consent"]["given"] is True and "consent" in kept["pending"]


def test_station_withdrawal_applies_at_once():
    out = merge_record(created(), rec(2, consent=NO))
    assert out.consent_withdrawn and out.state["values"]["consent"] == NO


def test_tombstone_keeps_the_account_and_lists_lost_edits():
    st = local_edit(created(), "accessibility", "high", T0)
    out = merge_record(st, rec(2, deleted=True))
    assert out.action == "delete" and out.state["deleted"] and out.consent_withdrawn
    assert out.state["values"]["name"] == "Zhang"
    assert out.conflicts[0]["field"] == "accessibility" and out.state["pending"] == {}
    assert merge_record(out.state, rec(2, deleted=True)).action == "stale"
    back = merge_record(out.state, rec(3, name="Zhang", phones=["13812345678"], consent=YES))
    assert back.action == "restore" and not back.state["deleted"]


def test_tombstone_for_unknown_account_is_ignored():
    assert merge_record(None, rec(1, deleted=True)).action == "ignored"


def test_merging_is_idempotent():
    st = local_edit(created(), "name", "L", T0 + dt.timedelta(minutes=10))
    r = rec(2, minutes=10, name="S", household="x")
    once = merge_record(st, r)
    twice = merge_record(once.state, r)
    assert twice.action == "stale"
