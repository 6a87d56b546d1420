"""Schema migrations (Alembic, scripts packaged in server/migrations) and `cunbox db ...`."""
import pathlib

import click
from alembic import command
from alembic.config import Config

from server import config as server_config

SCRIPTS = pathlib.Path(__file__).with_name("migrations")


def alembic_config(url):
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url, revision="head"):
    command.upgrade(alembic_config(url), revision)


def downgrade(url, revision="-1"):
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
