"""Crash safety of station sync: `cunbox station sync` SIGKILLed in the middle of a run, several times,
then run to the end; the accounts must equal those of one clean run (nothing lost, nothing twice).

The station's system is the sync's reference simulator (server/station_sync/simulator.py), serving pages
slowly enough that a kill lands mid-run; the kill comes once the database shows a chosen number of
accounts (so it hits between pages or inside one, not before the process has started).
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YES = {"given": True, "date": "2024-03-05", "source": "paper form"}
NO = {"given": False, "date": "2024-09-01", "source": "paper form"}  # in the past at any instant a run starts


def _person(i):
    return {"name": "村民%04d" % i, "phones": ["139%08d" % i], "household": "西村%d组" % (i % 9),
            "consent": YES if i % 3 else NO, "proxies": [], "accessibility": "low" if i % 5 == 0 else "none"}


def _database(url):
    from server.db import Database
    from server.migrate import upgrade
    upgrade(url)
    import server.models.station_sync  # noqa: F401  (maps the sync tables)
    return Database(url)


def _station(db):
    from server.models import Station, Township

    def fn(s):
        t = Township(name="城关镇", county="某县")
        s.add(t)
        s.flush()
        st = Station(township_id=t.id, name="西村服务站", address="西村 1号")
        s.add(st)
        s.flush()
        return st.id
    return db.run(fn)


def _count(db, sid):
    from sqlalchemy import func, select

    from server.models import Account
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(Account).where(Account.station_id == sid))


def run_sync_crash(people=600, page_size=20, kills=3, seed=4, log=print):
    from server.station_sync import runner, store
    from server.station_sync.simulator import StationSimulator
    rng = random.Random(seed)
    d = tempfile.mkdtemp(prefix="cunbox-sync-crash-")
    crash_url, clean_url = "sqlite:///%s/crash.sqlite3" % d, "sqlite:///%s/clean.sqlite3" % d
    crash_db, clean_db = _database(crash_url), _database(clean_url)
    sim = StationSimulator()
    sim.start()
    try:
        sid = _station(crash_db)
        assert _station(clean_db) == sid
        sim.add_station(str(sid), "tok")
        sim.bulk_load(str(sid), (("W%05d" % i, _person(i)) for i in range(people)))
        for db in (crash_db, clean_db):
            runner.configure(db, sid, base_url=sim.url, remote_id=str(sid), credential="tok", mode="cursor",
                             page_size=page_size)
        sim.page_delay = 0.03
        env = dict(os.environ, CUNBOX_DATABASE_URL=crash_url)
        cmd = [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())", "station", "sync",
               "--station", str(sid), "--json"]
        done_kills = 0
        seen = []
        for _ in range(kills):
            have = _count(crash_db, sid)
            if have >= people:
                break
            target = have + rng.randint(1, max(1, (people - have) // 2))
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            end = time.monotonic() + 120
            while proc.poll() is None and _count(crash_db, sid) < target and time.monotonic() < end:
                time.sleep(0.01)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                done_kills += 1
                seen.append(_count(crash_db, sid))
        sim.page_delay = 0.0
        final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        clean = runner.sync_station(clean_db, sid)
        with crash_db.reading() as s:
            got = store.snapshot(s, sid)
        with clean_db.reading() as s:
            want = store.snapshot(s, sid)
        out = {"people": people, "kills": done_kills, "accounts_at_kills": seen, "final_exit": final.returncode,
               "clean_ok": clean.ok, "accounts": _count(crash_db, sid), "equal_to_clean_run": got == want,
               "final_output": final.stdout[-500:] + final.stderr[-500:]}
        log("sync crash: %d kills at %s accounts, final run exit %d, %d accounts, equal to a clean run: %s" % (
            done_kills, seen, final.returncode, out["accounts"], out["equal_to_clean_run"]))
        return out
    finally:
        sim.stop()
        crash_db.dispose()
        clean_db.dispose()
