"""Server configuration: defaults, overridden by the environment, overridden by create_app(config)."""
import os
import pathlib

DEFAULT_INSTANCE = pathlib.Path(os.environ.get("CUNBOX_INSTANCE_DIR", "instance"))


def default_database_url():
    return "sqlite:///" + str((DEFAULT_INSTANCE / "cunbox.sqlite3").resolve())


def load(overrides=None):
    """Return the effective configuration dict.

    CUNBOX_DATABASE_URL picks the database (SQLite file under instance/ when unset);
    CUNBOX_PUBLIC_URL is the address put in pickup links sent to villagers.
    """
    cfg = {
        "DATABASE_URL": os.environ.get("CUNBOX_DATABASE_URL") or default_database_url(),
        "PUBLIC_URL": os.environ.get("CUNBOX_PUBLIC_URL", "http://127.0.0.1:8000"),
        # Code attempts allowed per window before the locker / the source is throttled.
        "THROTTLE_WINDOW_SECONDS": int(os.environ.get("CUNBOX_THROTTLE_WINDOW_SECONDS", "600")),
        "THROTTLE_PER_SOURCE": int(os.environ.get("CUNBOX_THROTTLE_PER_SOURCE", "5")),
        "THROTTLE_PER_LOCKER": int(os.environ.get("CUNBOX_THROTTLE_PER_LOCKER", "30")),
    }
    if overrides:
        cfg.update(overrides)
    return cfg
