"""The suite never runs at today's date: every test process starts at a pinned instant.

time-machine moves the wall clock (time.time, datetime.now, date.today: what the product's clock seam
reads) to CUNBOX_TEST_AT, or to one of the named instants (tests/support/instants.py), and lets it tick from there, so
timeouts and waits behave as usual. time.monotonic and the threads' timers are not touched.
Python processes the suite starts (a `cunbox serve`, a link worker) run at the same instant: see
tests/timewarp/sitecustomize.py. `make test-dates` runs the suite once at each named instant.

Each test process also has an instance folder of its own (CUNBOX_INSTANCE_DIR), never the checkout's.

The fixtures every part uses live here too: a migrated database (SQLite, or PostgreSQL when asked), the
app and its test client. A part's own fixtures are in tests/<part>/conftest.py; builders and checks that
are not fixtures are in tests/support/, imported by name.
"""
import os
import pathlib
import shutil
import tempfile
import time

import pytest
import time_machine
from support.instants import pinned_instant
from sqlalchemy import text

def _real_time():
    """The real time, even in a process that already travels: a pytest-xdist worker is started by the
    controller with the controller's CUNBOX_TEST_CLOCK_OFFSET_S and tests/timewarp on PYTHONPATH, so its
    sitecustomize has moved time.time() to the pinned instant before this file is imported. An offset
    taken from that time.time() is about 0, and the worker's subprocesses would run at today's date."""
    hatch = time_machine.escape_hatch
    return hatch.time.time() if hatch.is_travelling() else time.time()


def _pin_subprocesses(at):
    os.environ["CUNBOX_TEST_CLOCK_OFFSET_S"] = repr(at.timestamp() - _real_time())
    warp = str(pathlib.Path(__file__).resolve().parent / "timewarp")
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != warp]
    os.environ["PYTHONPATH"] = os.pathsep.join([warp] + paths)


_pin_subprocesses(pinned_instant())     # before this process travels: the offset is from the real time
_TRAVEL = time_machine.travel(pinned_instant(), tick=True)
_TRAVEL.start()     # at import, before any test module builds its data at "now"

# After the clock is pinned: these import the product, which must not see today's date.
from support.openapi_check import response_problem  # noqa: E402
from support.server_world import PG_URL, SETTINGS, private_pg_database  # noqa: E402

# The app signs web sessions with a key from <instance>/link-secret (made on first use) and reads its
# settings from <instance>/cunbox.toml. Unset, the instance folder is ./instance, the checkout's own, which
# `cunbox serve` and `make run` use too and every pytest-xdist worker would share: two workers making the
# secret at once on a fresh checkout collide. Each test process gets its own; its subprocesses inherit it.
_INSTANCE = os.environ["CUNBOX_INSTANCE_DIR"] = tempfile.mkdtemp(prefix="cunbox-test-instance-")


def pytest_report_header(config):
    return "cunbox: wall clock pinned to %s (CUNBOX_TEST_AT), ticking" % pinned_instant().isoformat()


def pytest_unconfigure(config):
    _TRAVEL.stop()
    shutil.rmtree(_INSTANCE, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the marks (--dist loadgroup)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test`: -n auto --dist loadgroup) the tests of a module that share a
    module- or class-scoped fixture (a Chromium, a live server, a built wheel, a compiled firmware) stay
    on one worker, in file order: the fixture is built once, as in a serial run. Every other test goes
    to whichever worker is free."""
    if getattr(config.option, "dist", "no") != "loadgroup":
        return
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info else ()
        if any(d.scope in ("module", "class", "package") for chain in defs for d in chain):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


# -- databases ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """One migrated SQLite file per test process; every `db` is a copy of it (migrating is the slow part)."""
    from server import migrate
    path = tmp_path_factory.mktemp("cbx-template") / "template.sqlite3"
    migrate.upgrade("sqlite:///%s" % path)
    return path


def _sqlite_copy(template, path):
    from server.db import Database
    shutil.copy(template, path)
    return Database("sqlite:///%s" % path, settings=dict(SETTINGS))


@pytest.fixture
def db(request, tmp_path):
    """A migrated SQLite file per test. CUNBOX_TEST_SERVER_ON_POSTGRES=1 (with CUNBOX_TEST_POSTGRES_URL)
    runs every server test on PostgreSQL instead (slower; the concurrency and migration tests run on
    both anyway)."""
    if os.environ.get("CUNBOX_TEST_SERVER_ON_POSTGRES"):
        yield request.getfixturevalue("pg_db")
        return
    database = _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "cunbox.sqlite3")
    yield database
    database.dispose()


@pytest.fixture
def other_db(sqlite_template, tmp_path):
    """A second migrated SQLite file beside `db`: its ids repeat db's (what per-database state is for)."""
    database = _sqlite_copy(sqlite_template, tmp_path / "other.sqlite3")
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def pg_server_url():
    if not PG_URL:
        pytest.skip("PostgreSQL tests need CUNBOX_TEST_POSTGRES_URL (.ci/run sets it)")
    return PG_URL


@pytest.fixture
def private_pg_url(pg_server_url):
    """An empty database of its own on the PostgreSQL server (for a whole stack), dropped afterwards."""
    url, drop = private_pg_database(pg_server_url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def pg_migrated(pg_server_url):
    """One migrated database on the PostgreSQL server per test process; every `pg_db` empties it."""
    from server import migrate
    url, drop = private_pg_database(pg_server_url)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop()


@pytest.fixture
def pg_db(pg_migrated):
    from server.db import Database
    from server.models import Base
    database = Database(pg_migrated, settings=dict(SETTINGS))
    names = ", ".join('"%s"' % t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text("TRUNCATE %s RESTART IDENTITY CASCADE" % names))
    yield database
    database.dispose()


# -- the app --------------------------------------------------------------------------------------------------

@pytest.fixture
def app(db):
    """The app, with every JSON response it sends checked against its own OpenAPI document."""
    from flask import request

    from server.app import create_app
    application = create_app({"DATABASE": db, "TESTING": True, "PUBLIC_URL": SETTINGS["PUBLIC_URL"]})
    seen = []

    @application.after_request
    def _record(resp):
        rule = request.url_rule.rule if request.url_rule else None
        seen.append((rule, request.method, resp.status_code, resp.mimetype,
                     resp.get_json(silent=True) if resp.is_json else None))
        return resp

    yield application
    problems = [p for p in (response_problem(*s) for s in seen) if p]
    assert not problems, "responses that do not match the OpenAPI document:\n" + "\n".join(problems)


@pytest.fixture
def client(app):
    return app.test_client()
