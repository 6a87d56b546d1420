"""Migrations: empty -> head, one step down and back up, on SQLite and PostgreSQL; the migrated
schema is exactly what the models describe."""
import pytest
from _server_helpers import *  # noqa: F403 - the shared fixtures (db, app, client, ...)
from _server_helpers import private_pg_database
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from server import migrate
from server.db import make_engine
from server.schema import metadata  # every table, through the one registry


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite:///%s" % (tmp_path / "empty.sqlite3")
        return
    url, drop = private_pg_database(request.getfixturevalue("pg_server_url"))
    try:
        yield url
    finally:
        drop()


def _tables(url):
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _diff(url):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()


def test_upgrade_from_empty_downgrade_one_step_and_back(empty_url):
    head = ScriptDirectory.from_config(migrate.alembic_config(empty_url)).get_current_head()
    assert migrate.current_revision(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == head
    assert _tables(empty_url) == set(metadata.tables)
    assert _diff(empty_url) == []  # the migrations build exactly the models' schema

    script = ScriptDirectory.from_config(migrate.alembic_config(empty_url))
    migrate.downgrade(empty_url)  # one step
    assert migrate.current_revision(empty_url) == script.get_revision(head).down_revision
    migrate.downgrade(empty_url, "0001")
    assert migrate.current_revision(empty_url) == "0001"
    assert {"temperature_readings", "alarms", "ledger_lines"}.isdisjoint(_tables(empty_url))
    assert "parcels" in _tables(empty_url)
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == head
    migrate.downgrade(empty_url, "base")
    assert _tables(empty_url) == set()


def test_cli_db_upgrade_and_downgrade(tmp_path):
    from click.testing import CliRunner

    from server.cli import main
    url = "sqlite:///%s" % (tmp_path / "cli.sqlite3")
    script = ScriptDirectory.from_config(migrate.alembic_config(url))
    head = script.get_current_head()
    below = script.get_revision(head).down_revision
    runner = CliRunner()
    r = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert r.exit_code == 0, r.output
    assert "database at %s" % head in r.output
    r = runner.invoke(main, ["db", "downgrade", "--url", url])
    assert r.exit_code == 0 and "database at %s" % below in r.output
    r = runner.invoke(main, ["db", "current", "--url", url])
    assert r.output.strip() == below


def test_0004_lets_the_queue_hold_config_commands_and_downgrade_keeps_them(empty_url):
    import sqlalchemy as sa

    from server.db import Database
    from server.services import provisioning

    def insert(kind):
        engine = make_engine(empty_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO locker_commands (locker_id, kind, state, requested_by, "
                                     "created_at, updated_at) VALUES (:l, :k, 'queued', 't', "
                                     "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"k": kind, "l": locker_id})
        finally:
            engine.dispose()

    migrate.upgrade(empty_url, "0003")
    db = Database(empty_url)
    try:
        with db.transaction() as s:
            town = provisioning.township(s, "T", "C")
            st = provisioning.station(s, town, "S", "A", storage_hours=72, free_hours=72,
                                      recipient_fee_cents_per_day=0)
            locker_id = provisioning.locker(s, st, "L", "pending://", [(1, [("S", False, "high")])]).id
    finally:
        db.dispose()
    insert("open")
    with pytest.raises(sa.exc.IntegrityError):
        insert("config")  # the old CHECK constraint
    migrate.upgrade(empty_url, "0004")
    insert("config")
    with pytest.raises(sa.exc.IntegrityError):
        insert("reboot")  # still a closed list
    with pytest.raises(RuntimeError, match="config command"):
        migrate.downgrade(empty_url, "0003")  # it would have to delete them: refused
    assert migrate.current_revision(empty_url) == "0004"


AUTOGENERATE_IN_A_FRESH_PROCESS = """
import sys
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from server import migrate
from server.db import make_engine
migrate.upgrade(sys.argv[1])
from server.schema import metadata
engine = make_engine(sys.argv[1])
with engine.connect() as conn:
    diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
print(sorted(metadata.tables))
print(diff)
"""


def test_the_schema_registry_alone_shows_autogenerate_every_table_and_no_difference(tmp_path):
    """In a fresh interpreter that imports nothing but the registry (as `alembic revision
    --autogenerate` does through env.py), every table is known, station sync's included, and the
    migrations at head build exactly that schema."""
    import subprocess
    import sys
    url = "sqlite:///%s" % (tmp_path / "fresh.sqlite3")
    out = subprocess.run([sys.executable, "-c", AUTOGENERATE_IN_A_FRESH_PROCESS, url], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    tables, diff = out.stdout.strip().splitlines()[-2:]
    for name in ("parcels", "link_events", "fw_releases", "station_sync_runs", "station_account_states"):
        assert "'%s'" % name in tables, (name, tables)
    assert diff == "[]"
