"""The database's raw single-row transaction rate: the reference every server write is read against.

One connection, one table, `INSERT one row; COMMIT` in a loop for a few seconds, with the settings the
server uses (SQLite: WAL, synchronous=NORMAL, BEGIN IMMEDIATE; PostgreSQL: psycopg 3, autocommit off,
the server's default durability). No SQLAlchemy ORM, no HTTP: only the database.
"""
import time


def sqlite_tx_per_s(path, seconds=3.0):
    import sqlite3
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS ref (id INTEGER PRIMARY KEY, v TEXT)")
    n = 0
    end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < end:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ref (v) VALUES (?)", ("x" * 40,))
        conn.execute("COMMIT")
        n += 1
    rate = n / (time.perf_counter() - t0)
    conn.close()
    return rate


def postgres_tx_per_s(sqlalchemy_url, seconds=3.0):
    import psycopg
    dsn = sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE ref (id serial PRIMARY KEY, v text)")
        conn.commit()
        n = 0
        end = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while time.perf_counter() < end:
            conn.execute("INSERT INTO ref (v) VALUES (%s)", ("x" * 40,))
            conn.commit()
            n += 1
        return n / (time.perf_counter() - t0)


def tx_per_s(kind, url=None, seconds=3.0):
    if kind == "sqlite":
        import os
        import tempfile
        d = tempfile.mkdtemp(prefix="cunbox-dbref-")
        try:
            return sqlite_tx_per_s(os.path.join(d, "ref.sqlite3"), seconds)
        finally:
            import shutil
            shutil.rmtree(d, ignore_errors=True)
    return postgres_tx_per_s(url, seconds)
