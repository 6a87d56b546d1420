"""Shared pieces for the station sync tests: a migrated database file, stations, the simulator."""
import os
import uuid

import pytest

from server.station_sync.simulator import StationSimulator

YES = {"given": True, "date": "2024-03-05", "source": "paper form"}
NO = {"given": False, "date": "2024-09-01", "source": "paper form"}  # dates in the past at any instant the suite runs


def migrated_database(url):
    from server.db import Database
    from server.migrate import upgrade
    upgrade(url)
    import server.models.station_sync  # noqa: F401  (maps the sync tables)
    return Database(url)


def sqlite_db(tmp_path, name="cunbox.sqlite3"):
    return migrated_database("sqlite:///%s" % (tmp_path / name))


@pytest.fixture
def pg_sync_db():
    """A private, migrated database on the PostgreSQL server (dropped afterwards)."""
    url = os.environ.get("CUNBOX_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CUNBOX_TEST_POSTGRES_URL is not set (.ci/run sets it to the local PostgreSQL)")
    from sqlalchemy import create_engine, text
    name = "cunbox_sync_%s" % uuid.uuid4().hex[:12]
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "%s"' % name))
    db = migrated_database(url.rsplit("/", 1)[0] + "/" + name)
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        admin.dispose()


def add_station(db, name="东村服务站"):
    from server.models import Station, Township

    def fn(s):
        t = Township(name="城关镇", county="某县")
        s.add(t)
        s.flush()
        st = Station(township_id=t.id, name=name, address="%s 1号" % name)
        s.add(st)
        s.flush()
        return st.id
    return db.run(fn)


def configure(db, station_id, sim, token, remote_id=None, mode="cursor", page_size=50):
    from server.station_sync import runner
    return runner.configure(db, station_id, base_url=sim.url, remote_id=remote_id or str(station_id),
                            credential=token, mode=mode, page_size=page_size)


def person(i, **over):
    values = {"name": "村民%03d" % i, "phones": ["138%08d" % i], "household": "东村%d组" % (i % 7),
              "consent": YES if i % 3 else NO, "proxies": [], "accessibility": "low" if i % 5 == 0 else "none"}
    values.update(over)
    return values


@pytest.fixture
def sim():
    s = StationSimulator()
    s.start()
    yield s
    s.stop()


def accounts_of(db, station_id):
    from sqlalchemy import select

    from server.models import Account
    with db.reading() as s:
        return {a.station_account_id: a for a in s.scalars(select(Account).where(Account.station_id == station_id))}


def snapshot(db, station_id):
    from server.station_sync import store
    with db.reading() as s:
        return store.snapshot(s, station_id)
