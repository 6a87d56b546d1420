"""Schema migrations (Alembic, scripts packaged in server/migrations) and `cunbox db ...`."""
import pathlib

import click
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from server import config as server_config

SCRIPTS = pathlib.Path(__file__).with_name("migrations")

# Revision ids before they were renumbered so that their file names sort in the order they apply
# (issue 14): old id -> new id. A database migrated by an older release carries an old id in
# alembic_version; upgrade() and downgrade() rewrite it first (renumber_old_revision). The old ids
# are never reused: '0003' was the sixth revision, not the third.
OLD_REVISION_IDS = {
    "0001": "v001", "0002": "v002", "fw0001": "v003", "sync0001": "v004", "link_0001": "v005",
    "0003": "v006", "0004": "v007", "idem0001": "v008", "fwq0001": "v009", "0005": "v010", "0006": "v011",
}


def alembic_config(url):
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def renumber_old_revision(connection):
    """Rewrite an old revision id in alembic_version to its new one (OLD_REVISION_IDS), in the
    caller's transaction. Returns the [(old, new)] rewritten: none for a database without the table
    (empty), already at a new id, or at an id this release does not know (Alembic then refuses it
    as before)."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    changed = []
    for old in connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all():
        new = OLD_REVISION_IDS.get(old)
        if new is not None:
            connection.execute(text("UPDATE alembic_version SET version_num = :new WHERE version_num = :old"),
                               {"new": new, "old": old})
            changed.append((old, new))
    return changed


def _renumber(url):
    from server.db import make_engine
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return renumber_old_revision(conn)
    finally:
        engine.dispose()


def upgrade(url, revision="head"):
    _renumber(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url, revision="-1"):
    _renumber(url)
    command.downgrade(alembic_config(url), revision)


def current_revision(url):
    from alembic.runtime.migration import MigrationContext

    from server.db import make_engine
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@click.group("db")
def db_cli():
    """Database schema: upgrade, downgrade, show the current revision."""


def _url(url):
    return url or server_config.load()["DATABASE_URL"]


@db_cli.command("upgrade")
@click.argument("revision", default="head")
@click.option("--url", help="database URL (default: CUNBOX_DATABASE_URL or the SQLite file under instance/)")
def upgrade_cmd(revision, url):
    """Upgrade the schema to REVISION (default: head)."""
    upgrade(_url(url), revision)
    click.echo("database at %s" % current_revision(_url(url)))


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
@click.option("--url", help="database URL")
def downgrade_cmd(revision, url):
    """Downgrade the schema to REVISION (default: one step back)."""
    downgrade(_url(url), revision)
    click.echo("database at %s" % current_revision(_url(url)))


@db_cli.command("current")
@click.option("--url", help="database URL")
def current_cmd(url):
    """Print the schema revision the database is at."""
    click.echo(current_revision(_url(url)) or "empty")
