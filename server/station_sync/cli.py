"""`cunbox station ...`: configure a station's system, sync, import a file, export, conflicts, runs.

Exit status: 0 when the run did what was asked, 1 when it failed or the file was rejected, 2 for
usage errors (unknown station, not configured, another run in progress).
"""
import json
import os
import pathlib
import sys

import click


def _db():
    import server.models.station_sync  # noqa: F401  (maps the sync tables)
    from server import config as server_config
    from server.db import Database
    return Database(server_config.load()["DATABASE_URL"])


def _emit(result, as_json):
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(result.text())


@click.group("station")
def station_cli():
    """Village station account sync (docs/station-sync.md)."""


@station_cli.command("configure")
@click.option("--station", "station_id", type=int, required=True, help="cunbox station id")
@click.option("--url", help="base URL of the station's system (http(s)://...)")
@click.option("--remote-id", help="the station's id in its own system (default: the cunbox id)")
@click.option("--token-env", help="name of an environment variable holding this station's credential")
@click.option("--mode", type=click.Choice(["cursor", "updated_since"]))
@click.option("--page-size", type=click.IntRange(1, 1000))
@click.option("--enable/--disable", default=None, help="include in `sync` without --station and the schedule")
def configure_cmd(station_id, url, remote_id, token_env, mode, page_size, enable):
    """Set where and how a station's system is reached. The credential is read from an environment
    variable (never typed on the command line, where shell history would keep it)."""
    from server.station_sync import runner
    credential = None
    if token_env:
        credential = os.environ.get(token_env)
        if not credential:
            raise click.UsageError("environment variable %s is empty" % token_env)
    try:
        cfg = runner.configure(_db(), station_id, base_url=url, remote_id=remote_id, credential=credential,
                               mode=mode, page_size=page_size, enabled=enable)
    except runner.SyncError as e:
        raise click.UsageError(str(e)) from None
    click.echo(json.dumps(cfg, ensure_ascii=False))


@station_cli.command("sync")
@click.option("--station", "station_id", type=int, help="only this station (default: every enabled one)")
@click.option("--dry-run", is_flag=True, help="report what would change; write nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable report")
def sync_cmd(station_id, dry_run, as_json):
    """Push locker-side changes and pull account changes from the station system(s)."""
    from server.station_sync import runner
    db = _db()
    try:
        if station_id is not None:
            results = [runner.sync_station(db, station_id, dry_run=dry_run)]
        else:
            results = runner.sync_all(db, dry_run=dry_run)
            if not results:
                click.echo("no station has a station system configured (cunbox station configure)")
    except runner.SyncError as e:
        raise click.UsageError(str(e)) from None
    for r in results:
        _emit(r, as_json)
    sys.exit(0 if all(r.ok for r in results) else 1)


@station_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option("--station", "station_id", type=int, required=True, help="the station whose book this is")
@click.option("--dry-run", is_flag=True, help="check the file and report what would change; write nothing")
@click.option("--apply-valid-rows", is_flag=True,
              help="apply the rows without problems even if others have some (default: reject the whole file)")
@click.option("--sheet", help="XLSX sheet name (default: the first sheet)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable report")
def import_cmd(file, station_id, dry_run, apply_valid_rows, sheet, as_json):
    """Import a CSV or XLSX export of the station's resident book (UTF-8 or GBK)."""
    from server.station_sync import runner
    try:
        result = runner.import_file(_db(), station_id, file.read_bytes(), file.name, dry_run=dry_run,
                                    apply_valid_rows=apply_valid_rows, sheet=sheet)
    except runner.SyncError as e:
        raise click.UsageError(str(e)) from None
    _emit(result, as_json)
    sys.exit(0 if result.ok else 1)


@station_cli.command("export")
@click.option("--station", "station_id", type=int, required=True)
@click.argument("directory", type=click.Path(file_okay=False, path_type=pathlib.Path))
def export_cmd(station_id, directory):
    """Write accounts.csv, parcels.csv and fees.csv for a station without a system to push to."""
    from server.station_sync.export import export_station
    for name, n in export_station(_db(), station_id, directory).items():
        click.echo("%s: %d rows" % (directory / name, n))


@station_cli.command("conflicts")
@click.option("--station", "station_id", type=int, required=True)
def conflicts_cmd(station_id):
    """List the conflicts waiting for the station keeper."""
    from server.station_sync.conflicts import list_open
    rows = list_open(_db(), station_id)
    for c in rows:
        click.echo("#%(id)s %(account)s %(field)s: locker %(locker)s / station %(station)s (%(reason)s)" % {
            k: (json.dumps(v, ensure_ascii=False) if k in ("locker", "station") else v) for k, v in c.items()})
    if not rows:
        click.echo("no open conflicts")


@station_cli.command("resolve")
@click.option("--station", "station_id", type=int, required=True)
@click.argument("conflict_id", type=int)
@click.option("--take", type=click.Choice(["station", "local"]), required=True)
@click.option("--by", default="cli", help="who decided (kept with the conflict)")
def resolve_cmd(station_id, conflict_id, take, by):
    """Resolve a conflict by taking the station's or the locker side's value."""
    from server.station_sync.conflicts import ConflictError, resolve
    try:
        click.echo(json.dumps(resolve(_db(), station_id, conflict_id, take, by), ensure_ascii=False))
    except ConflictError as e:
        raise click.UsageError(str(e)) from None


@station_cli.command("runs")
@click.option("--station", "station_id", type=int, required=True)
@click.option("--limit", default=20, show_default=True)
def runs_cmd(station_id, limit):
    """The latest sync and import runs of a station."""
    from sqlalchemy import select

    from server.models.station_sync import StationSyncRun
    with _db().reading() as s:
        for r in s.scalars(select(StationSyncRun).where(StationSyncRun.station_id == station_id)
                           .order_by(StationSyncRun.id.desc()).limit(limit)):
            counts = ", ".join("%s %s" % kv for kv in sorted(r.counts.items()) if kv[1])
            click.echo("#%d %s %s %s %s%s" % (r.id, r.started_at, r.kind, r.status, counts,
                                             " error: %s" % r.error if r.error else ""))
