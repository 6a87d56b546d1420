"""Sync runs against the reference station system, on a real SQLite database file (and PostgreSQL)."""
import pytest
from sqlalchemy import select
from support.sync_world import NO, YES, accounts_of, add_station, configure, person, snapshot, sqlite_db

from server import clock
from server.clock import utcnow
from server.models.station_sync import StationSyncConflict, StationSyncRun, StationSyncSource
from server.station_sync import runner


@pytest.fixture
def db(tmp_path):
    d = sqlite_db(tmp_path)
    yield d
    d.dispose()


def setup_station(db, sim, n=120, token="tok-east", page_size=50, mode="cursor"):
    sid = add_station(db)
    sim.add_station(str(sid), token)
    sim.bulk_load(str(sid), (("A%04d" % i, person(i)) for i in range(n)))
    configure(db, sid, sim, token, page_size=page_size, mode=mode)
    return sid


def test_first_sync_creates_every_account(db, sim):
    sid = setup_station(db, sim)
    r = runner.sync_station(db, sid)
    assert r.ok, r.text()
    assert r.counts["created"] == 120 and r.counts["pages"] == 3
    accs = accounts_of(db, sid)
    assert len(accs) == 120
    a3, a5 = accs["A0003"], accs["A0005"]
    assert a3.consent_locker is False and a5.consent_locker is True and a5.height_preference == "low"
    assert a5.phone == "13800000005" and a5.consent_source == "paper form"
    assert clock.beijing_date(a5.consent_at).isoformat() == "2024-03-05"   # the station's date, in Beijing
    with db.reading() as s:
        run = s.get(StationSyncRun, r.run_id)
        assert run.status == "ok" and run.counts["created"] == 120
        assert s.get(StationSyncSource, sid).lease_until is None


def test_incremental_sync_fetches_only_changes(db, sim):
    sid = setup_station(db, sim)
    runner.sync_station(db, sid)
    sim.upsert(str(sid), "A0007", **person(7, name="新名字", phones=["+86 139-0000-0007"]))
    sim.upsert(str(sid), "A9999", **person(9999))
    r = runner.sync_station(db, sid)
    assert r.ok, r.text()
    assert r.counts["records"] == 2 and r.counts["updated"] == 1 and r.counts["created"] == 1
    accs = accounts_of(db, sid)
    assert accs["A0007"].name == "新名字" and accs["A0007"].phone == "13900000007"
    again = runner.sync_station(db, sid)
    assert again.counts["records"] == 0


def test_updated_since_mode_pages_by_time_and_id(db, sim):
    sid = setup_station(db, sim, n=75, mode="updated_since", page_size=20)
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["created"] == 75, r.text()
    sim.upsert(str(sid), "A0001", **person(1, household="新村"))
    r2 = runner.sync_station(db, sid)
    assert r2.counts["updated"] == 1 and r2.counts["created"] == 0
    assert snapshot(db, sid)["A0001"]["values"]["household"] == "新村"


def test_deletion_keeps_the_account_and_stops_locker_delivery(db, sim):
    sid = setup_station(db, sim)
    runner.sync_station(db, sid)
    assert accounts_of(db, sid)["A0001"].consent_locker is True
    sim.delete(str(sid), "A0001")
    r = runner.sync_station(db, sid)
    assert r.counts["deleted"] == 1 and r.counts["consent_withdrawn"] == 1
    a = accounts_of(db, sid)["A0001"]
    assert a.deleted_at is not None and a.consent_locker is False and a.name == "村民001"


def test_consent_withdrawn_at_station_applies_at_once(db, sim):
    sid = setup_station(db, sim)
    runner.sync_station(db, sid)
    sim.upsert(str(sid), "A0002", **person(2, consent=NO))
    runner.sync_station(db, sid)
    from server.services.accounts import consenting_account
    with db.reading() as s:
        acc, why = consenting_account(s, sid, "13800000002")
    assert acc is None and why == "no_consent"


def test_conflict_is_listed_for_the_keeper_not_guessed(db, sim):
    sid = setup_station(db, sim)
    runner.sync_station(db, sid)
    now = utcnow()

    def edit_at_locker(s):
        from server.models import Account
        a = s.scalar(select(Account).where(Account.station_id == sid, Account.station_account_id == "A0011"))
        a.height_preference = "high"
        a.updated_at = now
    db.run(edit_at_locker)
    # The station changes the same field with the same timestamp: undecidable.
    import datetime as dt
    sim.upsert(str(sid), "A0011", at=now.replace(tzinfo=dt.timezone.utc), **person(11, accessibility="low"))
    r = runner.sync_station(db, sid)
    assert r.counts["conflicts"] == 1 and r.counts["push_rejected"] == 1, r.text()
    with db.reading() as s:
        c = s.scalars(select(StationSyncConflict)).one()
        assert (c.field, c.local_value, c.station_value, c.resolved_at) == ("accessibility", "high", "low", None)
    assert accounts_of(db, sid)["A0011"].height_preference == "high"
    # The conflicting field is not pushed to the station while the conflict is open.
    assert all(u.get("field") != "accessibility" for u in sim.stations[str(sid)].updates.values())
    # A re-run does not list it twice.
    runner.sync_station(db, sid)
    with db.reading() as s:
        assert len(s.scalars(select(StationSyncConflict)).all()) == 1


def test_crash_halfway_and_rerun_equals_one_clean_run(tmp_path, sim, monkeypatch):
    clean_db = sqlite_db(tmp_path, "clean.sqlite3")
    crash_db = sqlite_db(tmp_path, "crash.sqlite3")
    sid = add_station(clean_db)
    assert add_station(crash_db) == sid
    sim.add_station(str(sid), "tok")
    sim.bulk_load(str(sid), (("A%04d" % i, person(i)) for i in range(200)))
    sim.delete(str(sid), "A0100")
    for d in (clean_db, crash_db):
        configure(d, sid, sim, "tok", page_size=30)

    calls = {"n": 0}
    real = runner.apply_records

    def crashing(s, *a, **kw):
        calls["n"] += 1
        real(s, *a, **kw)
        if calls["n"] == 4:
            s.flush()
            raise KeyboardInterrupt("power cut in the middle of page 4")
    monkeypatch.setattr(runner, "apply_records", crashing)
    with pytest.raises(KeyboardInterrupt):
        runner.sync_station(crash_db, sid)
    monkeypatch.setattr(runner, "apply_records", real)
    assert len(accounts_of(crash_db, sid)) == 90       # three whole pages, nothing of the fourth
    resumed = runner.sync_station(crash_db, sid)
    assert resumed.ok and resumed.counts["created"] == 110 - 1, resumed.text()
    clean = runner.sync_station(clean_db, sid)
    assert clean.ok
    assert snapshot(crash_db, sid) == snapshot(clean_db, sid)
    with crash_db.reading() as s:
        statuses = [r.status for r in s.scalars(select(StationSyncRun).order_by(StationSyncRun.id))]
    assert statuses == ["failed", "ok"]


def test_broken_json_halfway_keeps_earlier_pages_and_resumes(db, sim):
    sid = setup_station(db, sim)
    sim.faults = {"mode": "broken_json", "after_pages": 1}
    r = runner.sync_station(db, sid)
    assert r.status == "failed" and "not valid UTF-8 JSON" in r.error
    assert len(accounts_of(db, sid)) == 50
    r2 = runner.sync_station(db, sid)
    assert r2.ok and r2.counts["created"] == 70 and len(accounts_of(db, sid)) == 120


def test_http_500_halfway_then_resume(db, sim):
    sid = setup_station(db, sim)
    sim.faults = {"mode": "http_500", "after_pages": 2}
    r = runner.sync_station(db, sid)
    assert r.status == "failed" and "HTTP 500" in r.error and r.counts["pages"] == 2
    assert runner.sync_station(db, sid).ok and len(accounts_of(db, sid)) == 120


def test_invalid_record_rejected_alone_and_reported(db, sim):
    sid = setup_station(db, sim)
    sim.faults = {"mode": "bad_record", "after_pages": 0}
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["rejected"] == 1 and r.counts["created"] == 119
    assert r.rejected[0]["id"] == "A0000" and "phone" in r.rejected[0]["errors"][0][1]
    assert "A0000" not in accounts_of(db, sid)


def test_wrong_credentials_change_nothing(db, sim):
    sid = setup_station(db, sim)
    configure(db, sid, sim, "not-the-token")
    r = runner.sync_station(db, sid)
    assert r.status == "failed" and "refused our credential" in r.error and "401" in r.error
    assert accounts_of(db, sid) == {}


def test_cross_station_access_is_refused(db, sim):
    east = setup_station(db, sim, n=10, token="tok-east")
    west = add_station(db, "西村服务站")
    sim.add_station(str(west), "tok-west")
    sim.bulk_load(str(west), [("A0001", person(1, name="西村张三"))])
    configure(db, west, sim, "tok-west")
    assert runner.sync_station(db, west).ok
    # East's credential used for west's feed: the station system refuses it.
    configure(db, west, sim, "tok-east")
    r = runner.sync_station(db, west)
    assert r.status == "failed" and "403" in r.error
    # A reply that names another station is refused whole.
    sim.faults = {"mode": "wrong_station"}
    r = runner.sync_station(db, east)
    assert r.status == "failed" and "refused" in r.error and accounts_of(db, east) == {}
    # A record marked as another station's inside east's page is refused alone.
    sim.faults = {"mode": "foreign_record"}
    r = runner.sync_station(db, east)
    assert r.counts["rejected"] == 1 and "belongs to station" in r.rejected[0]["errors"][0][1]
    # Same account id at both stations: two separate accounts; east's sync never touched west's.
    assert accounts_of(db, west)["A0001"].name == "西村张三"
    assert accounts_of(db, east)["A0001"].name == "村民001"


def test_dry_run_reports_and_writes_nothing(db, sim):
    sid = setup_station(db, sim)
    r = runner.sync_station(db, sid, dry_run=True)
    assert r.ok and r.counts["created"] == 120 and r.dry_run
    assert any(d.startswith("create A0000") for d in r.details)
    assert accounts_of(db, sid) == {}
    with db.reading() as s:
        assert s.scalars(select(StationSyncRun)).all() == []
        assert s.get(StationSyncSource, sid).cursor is None


def test_second_run_refused_while_lease_held(db, sim):
    sid = setup_station(db, sim)
    import datetime as dt

    def hold(s):
        src = s.get(StationSyncSource, sid)
        src.lease_until = utcnow() + dt.timedelta(minutes=5)
        src.lease_owner = "elsewhere:1"
    db.run(hold)
    with pytest.raises(runner.SyncError, match="another sync"):
        runner.sync_station(db, sid)

    def dead_holder(s):
        s.get(StationSyncSource, sid).lease_owner = "%s:%d" % (runner.LEASE_OWNER.rsplit(":", 1)[0], 2 ** 22 + 7)
    db.run(dead_holder)
    assert runner.sync_station(db, sid).ok


@pytest.mark.postgres
def test_first_incremental_and_crash_resume_on_postgres(pg_sync_db, sim, monkeypatch):
    db = pg_sync_db
    sid = setup_station(db, sim)
    real = runner.apply_records
    calls = {"n": 0}

    def crashing(s, *a, **kw):
        calls["n"] += 1
        real(s, *a, **kw)
        if calls["n"] == 2:
            s.flush()
            raise KeyboardInterrupt("crash in page 2")
    monkeypatch.setattr(runner, "apply_records", crashing)
    with pytest.raises(KeyboardInterrupt):
        runner.sync_station(db, sid)
    monkeypatch.setattr(runner, "apply_records", real)
    assert len(accounts_of(db, sid)) == 50
    assert runner.sync_station(db, sid).counts["created"] == 70
    sim.upsert(str(sid), "A0004", **person(4, consent=YES, name="改名"))
    r = runner.sync_station(db, sid)
    assert r.counts["updated"] == 1 and accounts_of(db, sid)["A0004"].name == "改名"


def test_schedule_in_the_server_syncs_when_configured(db, sim, monkeypatch):
    import time

    from server.app import create_app
    sid = setup_station(db, sim, n=30)
    monkeypatch.delenv("CUNBOX_STATION_SYNC_INTERVAL", raising=False)
    assert "cunbox_station_sync" not in create_app({"DATABASE": db}).extensions   # off unless configured
    app = create_app({"DATABASE": db, "STATION_SYNC_INTERVAL": 0.2})
    scheduler = app.extensions["cunbox_station_sync"]
    try:
        deadline = time.time() + 20
        while len(accounts_of(db, sid)) < 30 and time.time() < deadline:
            time.sleep(0.1)
        assert len(accounts_of(db, sid)) == 30
        sim.upsert(str(sid), "A0001", **person(1, name="定时同步"))
        while accounts_of(db, sid)["A0001"].name != "定时同步" and time.time() < deadline:
            time.sleep(0.1)
        assert accounts_of(db, sid)["A0001"].name == "定时同步"
    finally:
        scheduler.stop()
    assert not scheduler.alive and scheduler.runs >= 2


def test_killed_process_then_rerun_equals_one_clean_run(tmp_path, sim):
    """A real crash: the sync runs in a child process that is killed (SIGKILL) half-way."""
    import os
    import signal
    import subprocess
    import sys
    import time
    clean_db = sqlite_db(tmp_path, "clean.sqlite3")
    crash_db = sqlite_db(tmp_path, "crash.sqlite3")
    sid = add_station(clean_db)
    assert add_station(crash_db) == sid
    sim.add_station(str(sid), "tok")
    sim.bulk_load(str(sid), (("A%04d" % i, person(i)) for i in range(300)))
    for d in (clean_db, crash_db):
        configure(d, sid, sim, "tok", page_size=25)
    sim.page_delay = 0.15
    env = dict(os.environ, CUNBOX_DATABASE_URL=crash_db.url)
    child = subprocess.Popen([sys.executable, "-c", "from server.cli import main; main()", "station", "sync",
                              "--station", str(sid)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(accounts_of(crash_db, sid)) < 100:
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    got = len(accounts_of(crash_db, sid))
    assert 100 <= got < 300 and got % 25 == 0, got      # whole pages only
    sim.page_delay = 0
    resumed = runner.sync_station(crash_db, sid)         # the dead child's lease does not block it
    assert resumed.ok and resumed.counts["created"] == 300 - got, resumed.text()
    assert runner.sync_station(clean_db, sid).ok
    assert snapshot(crash_db, sid) == snapshot(clean_db, sid)
    with crash_db.reading() as s:
        first = s.scalars(select(StationSyncRun).order_by(StationSyncRun.id)).first()
        assert first.status == "failed" and "interrupted" in first.error


def test_per_field_times_from_the_station_decide_last_writer(db, sim):
    import datetime as dt
    sid = setup_station(db, sim, n=5)
    runner.sync_station(db, sid)
    t_local = utcnow()

    def edit(s):
        from server.models import Account
        a = s.scalar(select(Account).where(Account.station_id == sid, Account.station_account_id == "A0001"))
        a.name, a.updated_at = "柜端改名", t_local
    db.run(edit)
    utc = dt.timezone.utc
    # The station renamed too, an hour before the locker edit (its record is newer, the field is not).
    sim.upsert(str(sid), "A0001", field_times={"name": t_local.replace(tzinfo=utc) - dt.timedelta(hours=1)},
               **person(1, name="站点改名"))
    r = runner.sync_station(db, sid)
    assert r.counts["conflicts"] == 0, r.text()
    assert accounts_of(db, sid)["A0001"].name == "柜端改名"
    assert snapshot(db, sid)["A0001"]["pending"].keys() == {"name"}   # still to be pushed with the new base


def _race(db, sid):
    """Start two syncs of one station at the same moment; return what each did."""
    import threading
    barrier = threading.Barrier(2)
    outcomes = []

    def one():
        barrier.wait()
        try:
            outcomes.append(runner.sync_station(db, sid).status)
        except runner.SyncError as e:
            outcomes.append("busy" if "another sync" in str(e) else str(e))
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sorted(outcomes)


def test_two_runs_at_once_one_is_refused(db, sim):
    sid = setup_station(db, sim)
    sim.page_delay = 0.2
    assert _race(db, sid) == ["busy", "ok"]
    assert len(accounts_of(db, sid)) == 120


@pytest.mark.postgres
def test_two_runs_at_once_on_postgres_and_a_gbk_import(pg_sync_db, sim, tmp_path):
    db = pg_sync_db
    sid = setup_station(db, sim)
    sim.page_delay = 0.2
    assert _race(db, sid) == ["busy", "ok"]
    other = add_station(db, "西村服务站")
    book = "账户编号,姓名,手机号,同意柜递,同意日期\n" + "".join(
        "B%03d,村民%d,138%08d,是,2024-03-05\n" % (i, i, i) for i in range(300))
    r = runner.import_file(db, other, book.encode("gbk"), "book.csv")
    assert r.ok and r.counts["created"] == 300, r.text()
    assert accounts_of(db, other)["B007"].name == "村民7" and len(accounts_of(db, sid)) == 120


def test_a_sync_that_gives_two_accounts_one_phone_reports_it_and_a_later_one_closes_it(db, sim):
    from server.station_sync import conflicts
    sid = setup_station(db, sim, n=10)
    assert runner.sync_station(db, sid).ok
    sim.upsert(str(sid), "A0007", phones=["13800000005"])            # A0005's phone, typed in twice
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["conflicts"] == 2, r.text()
    assert sorted(c["account"] for c in conflicts.list_open(db, sid)) == ["A0005", "A0007"]
    sim.upsert(str(sid), "A0007", phones=["13800000007"])
    r = runner.sync_station(db, sid)
    assert r.ok and r.counts["conflicts"] == 0 and conflicts.list_open(db, sid) == []
