"""Shared pieces for the station sync tests: a migrated database file, stations, people, what was stored.
Their fixtures (the station simulator, a PostgreSQL database) are in tests/sync/conftest.py."""

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


def accounts_of(db, station_id):
    from sqlalchemy import select

    from server.models import Account
    with db.reading() as s:
        return {a.station_account_id: a for a in s.scalars(select(Account).where(Account.station_id == station_id))}


def snapshot(db, station_id):
    from server.station_sync import store
    with db.reading() as s:
        return store.snapshot(s, station_id)
