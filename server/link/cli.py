"""`cunbox link`: a link worker process. On PostgreSQL run several; they share the lockers by lease."""
import logging
import signal
import threading

import click


@click.command("link")
@click.option("--baud", default=19200, show_default=True, type=click.Choice(["9600", "19200", "115200"]))
@click.option("--status-period", default=1.0, show_default=True, type=float, help="seconds between STATUS polls")
@click.option("--lease-ttl", default=10.0, show_default=True, type=float,
              help="seconds a lease lasts; a dead worker's lockers move within about 4/3 of this")
@click.option("--max-lockers", type=int, help="hold at most this many lockers (default: as many as free)")
@click.option("--owner", help="this worker's name in the lease table (default: host:pid:random)")
def link_cmd(baud, status_period, lease_ttl, max_lockers, owner):
    """Drive the lockers' boards over their serial URLs until SIGINT/SIGTERM."""
    from server import config as server_config
    from server import migrate
    from server.db import Database
    from server.link.bus import Options
    from server.link.worker import LinkWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = server_config.load()
    if migrate.current_revision(cfg["DATABASE_URL"]) is None:
        raise click.ClickException("the database has no schema; run `cunbox db upgrade` first")
    db = Database(cfg["DATABASE_URL"], settings=cfg)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    worker = LinkWorker(db, owner=owner, options=Options(baud=int(baud), status_period_s=status_period),
                        lease_ttl_s=lease_ttl, max_lockers=max_lockers).start()
    click.echo("cunbox link worker %s on %s" % (worker.owner, db.url.split("@")[-1]))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        worker.stop()
        db.dispose()
