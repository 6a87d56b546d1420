"""Migrations: empty -> head, one step down and back up, on SQLite and PostgreSQL; the migrated
schema is exactly what the models describe; revision ids and file names sort in the order they
apply, and a database migrated under the old ids upgrades with its rows."""
import pathlib
import re
import shutil

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from support.server_world import private_pg_database

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
    migrate.downgrade(empty_url, "v001")
    assert migrate.current_revision(empty_url) == "v001"
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


def test_v007_lets_the_queue_hold_config_commands_and_downgrade_keeps_them(empty_url):
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

    migrate.upgrade(empty_url, "v006")
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
    migrate.upgrade(empty_url, "v007")
    insert("config")
    with pytest.raises(sa.exc.IntegrityError):
        insert("reboot")  # still a closed list
    with pytest.raises(RuntimeError, match="config command"):
        migrate.downgrade(empty_url, "v006")  # it would have to delete them: refused
    assert migrate.current_revision(empty_url) == "v007"


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


# ---- revision ids: sorted = applied; old ids from before the renumbering (issue 14) ----------------

# The chain as releases before the renumbering applied it (old id, file name after the id): data,
# so that the mapping in server/migrate.py is checked against what those releases shipped.
OLD_CHAIN = (("0001", "_core_schema.py"), ("0002", "_coldchain_alarms_ledger.py"),
             ("fw0001", "_firmware_releases_and_rollouts.py"), ("sync0001", "_station_sync.py"),
             ("link_0001", "_link_tables.py"), ("0003", "_sign_in_attempts.py"),
             ("0004", "_config_commands.py"), ("idem0001", "_idempotency_keys.py"),
             ("fwq0001", "_firmware_commands.py"), ("0005", "_open_deadlines.py"),
             ("0006", "_phone_checks.py"))


def _applied_in_order():
    """The revisions from base to head, following down_revision."""
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()  # one line, no branches
    return list(reversed(list(script.walk_revisions())))


def test_revision_ids_and_file_names_sort_in_the_order_they_apply():
    revisions = _applied_in_order()
    ids = [r.revision for r in revisions]
    assert ids == ["v%03d" % n for n in range(1, len(ids) + 1)]  # v001, v002, ... no gaps
    assert ids == sorted(ids)
    files = sorted(p.name for p in (migrate.SCRIPTS / "versions").glob("*.py") if p.name != "__init__.py")
    assert files == [pathlib.Path(r.path).name for r in revisions]
    for r in revisions:
        assert pathlib.Path(r.path).name.startswith(r.revision + "_"), r.path
    assert set(ids).isdisjoint(migrate.OLD_REVISION_IDS)  # an old id can never be read as a new one


def test_every_old_id_names_the_same_migration_under_its_new_id():
    revisions = _applied_in_order()
    assert [old for old, _ in OLD_CHAIN] == list(migrate.OLD_REVISION_IDS)
    for (old, rest), r in zip(OLD_CHAIN, revisions[:len(OLD_CHAIN)], strict=True):
        assert migrate.OLD_REVISION_IDS[old] == r.revision
        assert pathlib.Path(r.path).name == r.revision + rest


def _old_release_scripts(root):
    """The migration scripts as a release before the renumbering shipped them: the same files
    under their old ids (revisions added since have no old id and are left out)."""
    new_to_old = {new: old for old, new in migrate.OLD_REVISION_IDS.items()}
    (root / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        shutil.copy(migrate.SCRIPTS / name, root / name)
    for path in sorted((migrate.SCRIPTS / "versions").glob("v*.py")):
        source = path.read_text(encoding="utf-8")
        rev = re.search(r"^revision = '(\w+)'$", source, re.M).group(1)
        if rev not in new_to_old:
            continue
        source = re.sub(r"^((?:down_)?revision = )'(\w+)'$",
                        lambda m: "%s'%s'" % (m.group(1), new_to_old[m.group(2)]), source, flags=re.M)
        (root / "versions" / (new_to_old[rev] + path.name[len(rev):])).write_text(source, encoding="utf-8")
    return root


def _rows(url):
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: sorted(tuple(r) for r in conn.execute(text('SELECT * FROM "%s"' % t)))
                    for t in inspect(conn).get_table_names() if t != "alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("old", ["link_0001", "0006"])
def test_a_database_migrated_under_an_old_id_upgrades_to_head_and_keeps_its_rows(empty_url, tmp_path, old):
    """A station's database from a release before the renumbering (alembic_version written by that
    release's Alembic under the old ids) upgrades with this release's `cunbox db upgrade`."""
    cfg = migrate.alembic_config(empty_url)
    cfg.set_main_option("script_location", str(_old_release_scripts(tmp_path / "old-release")))
    command.upgrade(cfg, old)
    assert migrate.current_revision(empty_url) == old
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO carriers (id, code, name, kind) VALUES (7, 'cp', '中国邮政', 'postal')"))
            conn.execute(text("INSERT INTO townships (id, name, county) VALUES (3, '青山镇', '青山县')"))
    finally:
        engine.dispose()
    before = _rows(empty_url)

    migrate.upgrade(empty_url)
    head = _applied_in_order()[-1].revision
    assert migrate.current_revision(empty_url) == head
    after = _rows(empty_url)
    assert {t: after[t] for t in before} == before
    assert after["carriers"] == [(7, "cp", "中国邮政", "postal")]
    assert _tables(empty_url) == set(metadata.tables)
    assert _diff(empty_url) == []  # exactly the models' schema, as from empty
    migrate.downgrade(empty_url)  # and the new chain steps down from there
    assert migrate.current_revision(empty_url) == _applied_in_order()[-2].revision


def test_renumber_old_revision_rewrites_only_an_old_id(tmp_path):
    engine = create_engine("sqlite:///%s" % (tmp_path / "ids.sqlite3"))
    try:
        with engine.begin() as conn:
            assert migrate.renumber_old_revision(conn) == []  # empty database: nothing, no table made
            assert not inspect(conn).has_table("alembic_version")
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
            for old, new in migrate.OLD_REVISION_IDS.items():
                conn.execute(text("DELETE FROM alembic_version"))
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": old})
                assert migrate.renumber_old_revision(conn) == [(old, new)]
                assert migrate.renumber_old_revision(conn) == []  # already new: left alone
                assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == new
            conn.execute(text("UPDATE alembic_version SET version_num = 'abc123'"))
            assert migrate.renumber_old_revision(conn) == []  # unknown to this release: left to Alembic
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "abc123"
    finally:
        engine.dispose()


def test_downgrade_from_an_old_id_steps_down_the_new_chain(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "down.sqlite3")
    migrate.upgrade(url, "v011")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    finally:
        engine.dispose()
    migrate.downgrade(url)
    assert migrate.current_revision(url) == "v010"
