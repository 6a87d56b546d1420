"""Engine and transactions. Services run their work inside `Database.transaction()`.

SQLite: WAL journal, a busy timeout, and BEGIN IMMEDIATE for write transactions, so concurrent
writers queue on the database lock instead of failing half-way. PostgreSQL: READ COMMITTED with
row locks taken by the services (SELECT ... FOR NO KEY UPDATE [SKIP LOCKED]: "no key" so that the
KEY SHARE locks which foreign-key checks take on the same rows never turn into lock-upgrade
deadlocks); unique constraints are the last line of defence (models.Parcel.active_compartment_id).
"""
import contextlib
import pathlib
import threading

from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker


def make_engine(url, **kw):
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **kw)
        _sqlite_setup(engine)
        return engine
    if "poolclass" not in kw:
        kw.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
    return create_engine(url, **kw)


def _sqlite_setup(engine):
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the database lock up front: no read-then-upgrade deadlocks between writers.
        mode = "IMMEDIATE" if conn.get_execution_options().get("cunbox_write") else "DEFERRED"
        conn.exec_driver_sql("BEGIN " + mode)


def settings_of(session, *names):
    """These settings as the session's Database holds them (its `settings`, from config.load() in the
    app), each setting's default (server/config.py) where it holds none."""
    from server import config
    held = session.info.get("settings", {})
    return {n: held.get(n, config.default(n)) for n in names}


class Database:
    def __init__(self, url, engine=None, settings=None):
        self.url = url
        self.settings = settings or {"PUBLIC_URL": "http://127.0.0.1:8000"}
        self.engine = engine or make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.retries = 0  # transactions re-run after losing a race (see run())
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(cunbox_write=True), expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue on a lock instead of
        # polling the database lock (sqlite's busy handler sleeps in coarse steps under contention);
        # other processes still wait through the busy timeout.
        self._write_lock = threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction: committed when the block ends, rolled back if it raises."""
        if self.is_sqlite and getattr(self._local, "writing", False):
            # A second write transaction from inside the first would wait for itself forever.
            raise RuntimeError("nested write transaction: pass the session to helpers instead")
        with self._write_lock:
            self._local.writing = True
            try:
                with self._write() as session, session.begin():
                    session.info["settings"] = self.settings
                    session.info["cunbox_db"] = self  # whose bus masters to wake after commit (link/driver.py)
                    yield session
            finally:
                self._local.writing = False

    @contextlib.contextmanager
    def reading(self):
        with self._read() as session, session.begin():
            yield session

    def run(self, fn, retries=4):
        """Run fn(session) in a write transaction, retrying when a concurrent writer won a race.

        A unique-constraint violation (two requests inserting the same tracking number, two
        transactions reserving one compartment) or a PostgreSQL serialization failure / deadlock
        rolls back everything fn did; the retry then sees the winner's committed rows.
        """
        for attempt in range(retries + 1):
            try:
                with self.transaction() as session:
                    return fn(session)
            except IntegrityError:
                if attempt == retries:
                    raise
            except DBAPIError as exc:
                code = getattr(getattr(exc, "orig", None), "sqlstate", None)
                if code not in ("40001", "40P01") or attempt == retries:
                    raise
            self.retries += 1

    def dispose(self):
        self.engine.dispose()
