"""Flask application factory."""
from flask import Flask

from server import config as server_config
from server.db import Database


def create_app(config=None):
    """Build the app. `config` overrides the environment (CUNBOX_DATABASE_URL, ...); pass
    {"DATABASE": Database(...)} to share an existing Database. The schema must already exist
    (`cunbox db upgrade`); the app never creates tables."""
    import server.schema  # noqa: F401  (maps every table before any request)
    cfg = server_config.load(config)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(cfg)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    db = cfg.get("DATABASE") or Database(cfg["DATABASE_URL"], settings=cfg)
    app.extensions["cunbox_db"] = db

    from server.api import register
    register(app)
    app.register_blueprint(__import__("server.web", fromlist=["bp"]).bp)  # the web pages (server/web)
    _answer_errors_by_path(app)
    from server.station_sync.wiring import init_app as init_station_sync
    init_station_sync(app, db)  # station sync API; periodic sync when CUNBOX_STATION_SYNC_INTERVAL is set
    # the locker link: threads of this process (SQLite), or only the bounded wait for doors when
    # `cunbox link` workers run elsewhere (LINK_MODE / CUNBOX_LINK: in-process | workers)
    from server.link.worker import configure
    configure(app)
    return app


def _answer_errors_by_path(app):
    """Every error the blueprints' own handlers do not answer (those raised before a route is chosen
    too: an unknown URL, a wrong method) is answered by its path: JSON in the API's shape under /api/,
    the web error page, in the reader's language, everywhere else. The API and the web pages know
    nothing of each other; this is where the two meet."""
    from flask import request

    from server.api import errors as api_errors
    from server.web.blueprint import error_page

    def _answer(exc):
        return api_errors.answer(exc) if api_errors.owns(request.path) else error_page(exc)

    app.register_error_handler(Exception, _answer)

