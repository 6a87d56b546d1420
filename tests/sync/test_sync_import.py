"""File imports (CSV/XLSX, GBK and UTF-8) through `cunbox station import`, exports, conflicts, CLI."""
import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from support.sync_world import accounts_of, add_station, configure, person, snapshot, sqlite_db

from server.cli import main
from server.models.station_sync import StationSyncConflict, StationSyncRun
from server.station_sync import runner

HEADER = "账户编号,姓名,手机号,住址,同意柜递,同意日期,同意方式,代取人,无障碍\n"


def book(rows):
    return HEADER + "".join("%s\n" % r for r in rows)


ROWS = ["A1,张三,+86 138-1234-5678,东村3组12号,是,2024年3月5日,纸质同意书,李四:139 0000 0000,低位",
        "A2,王五,0086 13912345678,西村1组,否,,,,",
        "A3,赵六,137 1234 5678,东村5组,同意,2025/6/1,电话,,"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    db = sqlite_db(tmp_path)
    monkeypatch.setenv("CUNBOX_DATABASE_URL", db.url)
    sid = add_station(db)
    yield db, sid, tmp_path
    db.dispose()


def cli(*args):
    return CliRunner().invoke(main, ["station"] + [str(a) for a in args])


def test_gbk_csv_import_through_the_cli(env):
    db, sid, tmp = env
    f = tmp / "book.csv"
    f.write_bytes(book(ROWS).encode("gbk"))
    res = cli("import", f, "--station", sid)
    assert res.exit_code == 0, res.output
    assert "created 3" in res.output
    accs = accounts_of(db, sid)
    assert accs["A1"].name == "张三" and accs["A1"].phone == "13812345678" and accs["A1"].consent_locker
    assert accs["A1"].height_preference == "low" and accs["A2"].consent_locker is False
    st = snapshot(db, sid)["A1"]["values"]
    assert st["household"] == "东村3组12号" and st["proxies"] == [{"name": "李四", "phone": "13900000000"}]
    again = cli("import", f, "--station", sid, "--json")
    assert again.exit_code == 0
    assert json.loads(again.output)["counts"]["unchanged"] == 3


def test_duplicate_ids_reject_the_whole_file(env):
    db, sid, tmp = env
    f = tmp / "dup.csv"
    f.write_bytes(book(ROWS + ["A2,王五二,13900000002,西村,否,,,,", "A4,钱七,12345,北村,否,,,,"]).encode("utf-8"))
    res = cli("import", f, "--station", sid)
    assert res.exit_code == 1
    assert "row 3 [账户编号]: account id A2 appears in rows 3 and 5" in res.output
    assert "row 6 [手机号]" in res.output and "nothing was applied" in res.output
    assert accounts_of(db, sid) == {}
    with db.reading() as s:
        run = s.scalars(select(StationSyncRun)).one()
        assert run.status == "rejected" and len(run.report["file"]["errors"]) == 3
    # The keeper may choose to apply the good rows and fix the rest later.
    res = cli("import", f, "--station", sid, "--apply-valid-rows")
    assert res.exit_code == 0, res.output
    assert sorted(accounts_of(db, sid)) == ["A1", "A3"]


def test_missing_column_and_bad_encoding_rejected(env):
    db, sid, tmp = env
    f = tmp / "bad.csv"
    f.write_bytes("姓名,手机号\n张三,13812345678\n".encode("gbk"))
    res = cli("import", f, "--station", sid)
    assert res.exit_code == 1 and "missing required column(s): account id, consent" in res.output
    f.write_bytes(b"id,name,phone,consent\nA1,\xff\xfe\xfd,13812345678,no\n")
    res = cli("import", f, "--station", sid, "--apply-valid-rows")
    assert res.exit_code == 1 and "neither UTF-8 nor GBK" in res.output
    assert accounts_of(db, sid) == {}


def test_dry_run_import_writes_nothing(env):
    db, sid, tmp = env
    f = tmp / "book.csv"
    f.write_text(book(ROWS), encoding="utf-8-sig")
    res = cli("import", f, "--station", sid, "--dry-run")
    assert res.exit_code == 0 and "dry run" in res.output and "create A1" in res.output
    assert accounts_of(db, sid) == {}
    with db.reading() as s:
        assert s.scalars(select(StationSyncRun)).all() == []


def test_csv_without_times_against_a_locker_edit_is_a_conflict_then_resolved(env):
    db, sid, tmp = env
    f = tmp / "book.csv"
    f.write_text(book(ROWS), encoding="utf-8")
    assert cli("import", f, "--station", sid).exit_code == 0

    def withdraw_at_locker(s):
        from server.models import Account
        from server.services.accounts import set_consent
        a = s.scalar(select(Account).where(Account.station_id == sid, Account.station_account_id == "A3"))
        set_consent(s, a, False, "locker")
    db.run(withdraw_at_locker)
    changed = [r.replace("东村5组", "东村6组").replace("同意,2025/6/1,电话", "同意,2025/6/2,上门")
               for r in ROWS]
    f.write_text(book(changed), encoding="utf-8")
    res = cli("import", f, "--station", sid)
    assert res.exit_code == 0, res.output
    assert "CONFLICT consent" in res.output
    a3 = accounts_of(db, sid)["A3"]
    assert a3.consent_locker is False                      # the withdrawal holds while undecided
    assert snapshot(db, sid)["A3"]["values"]["household"] == "东村6组"
    listed = cli("conflicts", "--station", sid)
    assert "A3 consent" in listed.output
    cid = listed.output.split()[0].lstrip("#")
    other = add_station(db, "西村服务站")
    assert cli("resolve", "--station", other, cid, "--take", "station").exit_code == 2   # not its conflict
    res = cli("resolve", "--station", sid, cid, "--take", "station", "--by", "keeper")
    assert res.exit_code == 0, res.output
    assert accounts_of(db, sid)["A3"].consent_locker is True
    with db.reading() as s:
        c = s.scalars(select(StationSyncConflict)).one()
        assert c.resolution == "station" and c.resolved_by == "keeper"
    assert cli("conflicts", "--station", sid).output.strip() == "no open conflicts"


def test_import_never_touches_another_station(env):
    db, sid, tmp = env
    west = add_station(db, "西村服务站")
    f = tmp / "west.csv"
    f.write_text("id,name,phone,consent\nA1,西村张三,13800000001,no\n", encoding="utf-8")
    assert cli("import", f, "--station", west).exit_code == 0
    f2 = tmp / "east.csv"
    f2.write_text("id,name,phone,consent,station\nA1,东村张三,13800000002,no,%d\nA9,x,13800000009,no,%d\n"
                  % (sid, west), encoding="utf-8")
    res = cli("import", f2, "--station", sid)
    assert res.exit_code == 1 and "row belongs to station %d, not this one" % west in res.output
    assert cli("import", f2, "--station", sid, "--apply-valid-rows").exit_code == 0
    assert accounts_of(db, west)["A1"].name == "西村张三" and accounts_of(db, west)["A1"].phone == "13800000001"
    assert accounts_of(db, sid)["A1"].name == "东村张三" and "A9" not in accounts_of(db, sid)


def test_xlsx_import_and_export_round_trip(env):
    import openpyxl
    db, sid, tmp = env
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "姓名", "电话", "是否同意", "同意日期", "代取人"])
    ws.append(["B1", "孙八", 13812345670, "是", dt.datetime(2025, 6, 1), "周九 13912345670"])
    ws.append(["B2", "吴十", "13812345671", "否", None, None])
    wb.save(tmp / "book.xlsx")
    assert cli("import", tmp / "book.xlsx", "--station", sid).exit_code == 0
    res = cli("export", "--station", sid, tmp / "out")
    assert res.exit_code == 0 and "accounts.csv: 2 rows" in res.output
    again = cli("import", tmp / "out" / "accounts.csv", "--station", sid, "--json")
    doc = json.loads(again.output)
    assert again.exit_code == 0 and doc["counts"]["unchanged"] == 2 and doc["counts"]["updated"] == 0, again.output


def test_sync_cli_dry_run_and_exit_codes(env, tmp_path):
    from server.station_sync.simulator import StationSimulator
    db, sid, tmp = env
    with StationSimulator() as sim:
        sim.add_station(str(sid), "tok")
        sim.bulk_load(str(sid), [("A%d" % i, person(i)) for i in range(5)])
        configure(db, sid, sim, "tok")
        res = cli("sync", "--station", sid, "--dry-run")
        assert res.exit_code == 0 and "created 5" in res.output and accounts_of(db, sid) == {}
        res = cli("sync")
        assert res.exit_code == 0 and "created 5" in res.output
        sim.faults = {"mode": "http_500"}
        sim.upsert(str(sid), "A1", **person(1, name="x"))
        res = cli("sync", "--station", sid)
        assert res.exit_code == 1 and "HTTP 500" in res.output
        assert "failed" in cli("runs", "--station", sid).output
    assert cli("sync", "--station", 999).exit_code == 2


def test_configure_reads_the_credential_from_the_environment(env, monkeypatch):
    db, sid, tmp = env
    monkeypatch.setenv("EAST_TOKEN", "secret-east")
    res = cli("configure", "--station", sid, "--url", "http://127.0.0.1:44099", "--token-env", "EAST_TOKEN")
    assert res.exit_code == 0 and "secret-east" not in res.output and '"has_credential": true' in res.output
    assert cli("configure", "--station", sid, "--token-env", "NOPE_UNSET").exit_code == 2
    assert runner.configured_stations(db) == [sid]


def test_a_phone_on_two_accounts_is_a_conflict_until_the_book_gives_it_to_one(env):
    """张三 (A1, consenting) and a new A4 on his phone: the import reports the phone as a conflict on both
    accounts, a deposit for it is refused meanwhile, the keeper cannot 'take a side' here (the book
    decides), and the import of the corrected book closes both conflicts."""
    from server.services import accounts
    from server.station_sync import conflicts
    db, sid, tmp = env
    f = tmp / "book.csv"
    f.write_text(book(ROWS + ["A4,张小三,13812345678,东村3组12号,是,2024-06-01,纸质同意书,,"]), encoding="utf-8")
    res = cli("import", f, "--station", sid)
    assert res.exit_code == 0, res.output
    assert "CONFLICT" in res.output and "13812345678 is on 2 accounts" in res.output
    listed = conflicts.list_open(db, sid)
    assert sorted((c["account"], c["field"], c["reason_key"], c["station"]) for c in listed) == [
        ("A1", "phone", "conflict.shared_phone", "13812345678"),
        ("A4", "phone", "conflict.shared_phone", "13812345678")]
    assert "also A4" in [c["reason"] for c in listed if c["account"] == "A1"][0]
    with db.reading() as s:
        assert accounts.consenting_account(s, sid, "13812345678") == (None, "shared_phone")
    with pytest.raises(conflicts.ConflictError, match="resident book"):
        conflicts.resolve(db, sid, listed[0]["id"], "station", "op:test")
    assert cli("import", f, "--station", sid).exit_code == 0
    assert len(conflicts.list_open(db, sid)) == 2          # reported once per account, not once per import
    f.write_text(book(ROWS + ["A4,张小三,13812340000,东村3组12号,是,2024-06-01,纸质同意书,,"]), encoding="utf-8")
    assert cli("import", f, "--station", sid).exit_code == 0
    assert conflicts.list_open(db, sid) == []
    with db.reading() as s:
        assert {c.resolution for c in s.scalars(select(StationSyncConflict))} == {"book_fixed"}
        assert accounts.consenting_account(s, sid, "13812345678")[0].station_account_id == "A1"
