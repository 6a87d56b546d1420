"""`cunbox serve`: the API under waitress (a production WSGI server), with the housekeeping loop
(expired reservations, overdue parcels, notification delivery) in a background thread."""
import logging
import pathlib
import socket
import threading

import click

log = logging.getLogger("cunbox.serve")


def make_server(app, host="127.0.0.1", port=8000, threads=8):
    from waitress.server import create_server
    return create_server(app, host=host, port=port, threads=threads, ident="cunbox", connection_limit=200,
                         channel_timeout=60)


class BackgroundServer:
    """A waitress server running in a thread (tests and benchmarks talk to it over loopback)."""

    def __init__(self, app, host="127.0.0.1", port=0, threads=8):
        # port 0: the OS picks a free one as the socket binds (no window for another process to take it)
        self.server = make_server(app, host, port, threads)
        self.port = int(self.server.effective_port)
        self.url = "http://%s:%d" % (host, self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="waitress")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        # Close the sockets from inside the loop thread (a trigger thunk), so the loop never sits in
        # select() on a descriptor another thread closed; an empty map then ends the loop.
        if self.thread.is_alive():
            try:
                self.server.trigger.pull_trigger(self._close_in_loop)
            except OSError:
                # the loop's wake-up pipe is gone (closed under it): close from here, as below
                log.warning("waitress trigger unusable while closing; closing the server directly")
            else:
                self.thread.join(timeout=5)
        if self.thread.is_alive() or self.server._map:
            self.server.close()
            self.thread.join(timeout=5)
        else:
            self.server.task_dispatcher.shutdown()

    def _close_in_loop(self):
        from waitress import wasyncore
        wasyncore.close_all(self.server._map, ignore_all=True)


def free_port(host="127.0.0.1", first=42000, last=42099):
    """A free TCP port in cunbox's development range."""
    for port in range(first, last + 1):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in %d-%d" % (first, last))


def housekeeping_loop(db, adapter, stop, period=60.0):
    from server import housekeeping
    while not stop.wait(period):
        try:
            housekeeping.run_once(db, adapter)
        except Exception:  # noqa: BLE001 - keep serving; the next round retries
            log.exception("housekeeping failed")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--housekeeping-period", default=60.0, show_default=True, type=float,
              help="seconds between housekeeping rounds (0 disables)")
def serve(host, port, threads, housekeeping_period):
    """Serve the cunbox API (waitress). The database must be migrated (`cunbox db upgrade`)."""
    from server import migrate
    from server.app import create_app
    from server.services.notify import FileSmsAdapter

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    db = app.extensions["cunbox_db"]
    if migrate.current_revision(db.url) is None:
        raise click.ClickException("the database at %s has no schema; run `cunbox db upgrade` first" % db.url)
    stop = threading.Event()
    if housekeeping_period > 0:
        adapter = FileSmsAdapter(pathlib.Path("instance") / "sms-outbox.log")
        threading.Thread(target=housekeeping_loop, args=(db, adapter, stop, housekeeping_period), daemon=True,
                         name="housekeeping").start()
    server = make_server(app, host, port, threads)
    click.echo("cunbox API on http://%s:%d/api/v1 (OpenAPI: /api/v1/openapi.json)" % (host, port))
    try:
        server.run()
    finally:
        stop.set()


@click.command("housekeeping")
def housekeeping_cmd():
    """Run one housekeeping round now: expire reservations, flag overdue parcels, forget old idempotency
    keys, send notifications."""
    from server import housekeeping
    from server.app import create_app
    from server.services.notify import FileSmsAdapter
    app = create_app()
    out = housekeeping.run_once(app.extensions["cunbox_db"], FileSmsAdapter(pathlib.Path("instance") /
                                                                              "sms-outbox.log"))
    click.echo(" ".join("%s=%s" % kv for kv in out.items()))
