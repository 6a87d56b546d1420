"""Station account sync: 50,000 accounts from empty, then a re-sync with 1% changed.

Against the reference station system (server/station_sync/simulator.py) over loopback HTTP, into a
migrated SQLite database file (and PostgreSQL when CUNBOX_TEST_POSTGRES_URL is set). The re-sync
with nothing changed is the floor a re-sync is read against; a CSV import of the same book is
shown beside the HTTP figure.
"""
import tempfile
import time
import uuid

ACCOUNTS = 50000
CHANGED = ACCOUNTS // 100
PAGE = 1000
CMD = "make bench  (or: .venv/bin/python -m bench sync)"


def _values(i, household=None):
    return {"name": "村民%05d" % i, "phones": ["13%d%08d" % (5 + i % 5, i)],
            "household": household or "东村%d组" % (i % 9),
            "consent": {"given": i % 4 != 0, "date": "2024-03-05" if i % 4 else None, "source": "paper form"},
            "proxies": [], "accessibility": ("none", "low", "high")[i % 3]}


def _station(db):
    from server.models import Station, Township

    def fn(s):
        t = Township(name="城关镇", county="某县")
        s.add(t)
        s.flush()
        st = Station(township_id=t.id, name="东村服务站", address="东村 1 号")
        s.add(st)
        s.flush()
        return st.id
    return db.run(fn)


def _bench(report, label, db):
    from server.station_sync import runner
    from server.station_sync.simulator import StationSimulator
    sid = _station(db)
    with StationSimulator() as sim:
        sim.add_station(str(sid), "bench-token")
        sim.bulk_load(str(sid), (("V%06d" % i, _values(i)) for i in range(ACCOUNTS)))
        runner.configure(db, sid, base_url=sim.url, remote_id=str(sid), credential="bench-token", page_size=PAGE)
        t0 = time.perf_counter()
        first = runner.sync_station(db, sid)
        t_first = time.perf_counter() - t0
        assert first.ok and first.counts["created"] == ACCOUNTS, first.text()
        report.add("Station sync (%s)" % label, "first sync, %d accounts from empty" % ACCOUNTS, round(t_first, 2),
                   "s", command=CMD, note="%d pages of %d" % (first.counts["pages"], PAGE))
        report.add("Station sync (%s)" % label, "first sync throughput", round(ACCOUNTS / t_first), "accounts/s")

        t0 = time.perf_counter()
        idle = runner.sync_station(db, sid)
        t_idle = time.perf_counter() - t0
        assert idle.ok and idle.counts["records"] == 0

        for i in range(0, ACCOUNTS, ACCOUNTS // CHANGED):
            sim.upsert(str(sid), "V%06d" % i, **_values(i, household="新村%d号" % i))
        t0 = time.perf_counter()
        again = runner.sync_station(db, sid)
        t_again = time.perf_counter() - t0
        assert again.ok and again.counts["updated"] == CHANGED, again.text()
        report.add("Station sync (%s)" % label, "re-sync with 1%% changed (%d accounts)" % CHANGED, round(t_again, 2),
                   "s", reference=round(t_idle, 2), reference_name="s re-sync with nothing changed", command=CMD)
    return sid


def _csv_import(report, db):
    from server.station_sync import runner
    sid = _station(db)
    lines = ["id,name,phone,household,consent,consent_date,consent_source,accessibility"]
    for i in range(ACCOUNTS):
        v = _values(i)
        c = v["consent"]
        lines.append("V%06d,%s,%s,%s,%s,%s,%s,%s" % (i, v["name"], v["phones"][0], v["household"],
                                                     "是" if c["given"] else "否", c["date"] or "", c["source"],
                                                     v["accessibility"]))
    data = ("\n".join(lines) + "\n").encode("gbk")
    t0 = time.perf_counter()
    r = runner.import_file(db, sid, data, "bench.csv")
    t = time.perf_counter() - t0
    assert r.ok and r.counts["created"] == ACCOUNTS, r.text()
    report.add("Station sync (SQLite)", "GBK CSV import, %d accounts into an empty station" % ACCOUNTS, round(t, 2),
               "s", command=CMD, note="parse + validate + apply in one transaction")


def run(report):
    import server.models.station_sync  # noqa: F401
    from server.db import Database
    from server.migrate import upgrade
    with tempfile.TemporaryDirectory(prefix="cunbox-bench-sync-") as tmp:
        url = "sqlite:///%s/bench.sqlite3" % tmp
        upgrade(url)
        db = Database(url)
        try:
            _bench(report, "SQLite", db)
            _csv_import(report, db)
        finally:
            db.dispose()
    from harness.county import PG_URL as pg
    if pg:
        from sqlalchemy import create_engine, text
        name = "cunbox_bench_sync_%s" % uuid.uuid4().hex[:8]
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "%s"' % name))
        url = pg.rsplit("/", 1)[0] + "/" + name
        try:
            upgrade(url)
            db = Database(url)
            try:
                _bench(report, "PostgreSQL", db)
            finally:
                db.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
            admin.dispose()
