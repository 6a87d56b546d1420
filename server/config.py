"""Every setting of cunbox in one place: name, environment variable, type, default and meaning.

Where a value comes from, weakest first: the default here; a settings file (TOML: CUNBOX_CONFIG_FILE,
else <instance folder>/cunbox.toml when it exists, keys named as in SETTINGS); the environment;
what a caller passes to create_app(config) or load(overrides). Nothing writes the environment: code
reads a setting with `get(name)` or the dict `load()` returns. docs/configuration.md holds the table
that `table_markdown()` prints (a test keeps the two the same).
"""
import json
import os
import pathlib
import tomllib


class ConfigError(ValueError):
    """A setting with a value of the wrong kind, or a settings file that cannot be used."""


class Setting:
    def __init__(self, name, env, kind, default, doc, group="server"):
        self.name, self.env, self.kind, self.default, self.doc, self.group = name, env, kind, default, doc, group

    def parse(self, raw, source):
        """The value of `raw` (text from the environment, or a file's value) as this setting's kind."""
        if raw is None:
            return None
        try:
            if self.kind == "int":
                if isinstance(raw, bool):
                    raise ValueError
                return int(raw)
            if self.kind == "float":
                return float(raw)
            if self.kind == "bool":
                if isinstance(raw, bool):
                    return raw
                text = str(raw).strip().lower()
                if text not in ("1", "yes", "true", "on", "0", "no", "false", "off", ""):
                    raise ValueError
                return text in ("1", "yes", "true", "on")
            if self.kind == "paths":
                items = raw if isinstance(raw, list) else str(raw).split(":")
                return [str(p) for p in items if str(p)]
            if self.kind == "json":
                value = json.loads(raw) if isinstance(raw, str) else raw
                if not isinstance(value, dict):
                    raise ValueError
                return value
            return str(raw)
        except (TypeError, ValueError):
            raise ConfigError("%s (%s) must be %s, not %r" % (self.name, source, _KIND_WORDS[self.kind], raw)) from None


_KIND_WORDS = {"int": "a whole number", "float": "a number", "bool": "yes/no (1/0, true/false, on/off)",
               "paths": "file paths separated by ':'", "json": "a JSON object", "str": "text"}

SETTINGS = (
    Setting("INSTANCE_DIR", "CUNBOX_INSTANCE_DIR", "str", "instance",
            "Folder of the installation's own files: the SQLite database, the server secret, settings file."),
    Setting("DATABASE_URL", "CUNBOX_DATABASE_URL", "str", None,
            "SQLAlchemy URL of the database; unset: SQLite at <instance>/cunbox.sqlite3. "
            "PostgreSQL: postgresql+psycopg://user@host/db."),
    Setting("PUBLIC_URL", "CUNBOX_PUBLIC_URL", "str", "http://127.0.0.1:8000",
            "The address put in the pickup links sent to villagers; https:// makes session cookies secure-only."),
    Setting("SECRET", "CUNBOX_SECRET", "str", None,
            "The server secret (hex or text, 16 bytes or more) every server key is derived from; "
            "unset: <instance>/link-secret, made on first use."),
    Setting("THROTTLE_WINDOW_SECONDS", "CUNBOX_THROTTLE_WINDOW_SECONDS", "int", 600,
            "Window over which wrong pickup/drop-off codes are counted."),
    Setting("THROTTLE_PER_SOURCE", "CUNBOX_THROTTLE_PER_SOURCE", "int", 5,
            "Wrong codes one source (address, pickup link, keypad) may give per window."),
    Setting("THROTTLE_PER_LOCKER", "CUNBOX_THROTTLE_PER_LOCKER", "int", 30,
            "Wrong codes one locker accepts per window, from all sources."),
    Setting("SIGN_IN_FREE_PER_ACCOUNT", "CUNBOX_SIGN_IN_FREE_PER_ACCOUNT", "int", 5,
            "Failed sign-ins of one login before it is locked out for a while."),
    Setting("SIGN_IN_FREE_PER_SOURCE", "CUNBOX_SIGN_IN_FREE_PER_SOURCE", "int", 20,
            "Failed sign-ins from one address before it is locked out for a while."),
    Setting("SIGN_IN_LOCKOUT_SECONDS", "CUNBOX_SIGN_IN_LOCKOUT_SECONDS", "int", 60,
            "First lock-out after too many failed sign-ins; each further failure doubles it."),
    Setting("SIGN_IN_MAX_LOCKOUT_SECONDS", "CUNBOX_SIGN_IN_MAX_LOCKOUT_SECONDS", "int", 3600,
            "Longest sign-in lock-out."),
    Setting("SIGN_IN_MEMORY_SECONDS", "CUNBOX_SIGN_IN_MEMORY_SECONDS", "int", 86400,
            "Failed sign-ins older than this are forgotten."),
    Setting("CHECK_MINUTES", "CUNBOX_CHECK_MINUTES", "int", 10,
            "How long the one-time number texted before a villager's web send stays valid."),
    Setting("CHECK_TRIES", "CUNBOX_CHECK_TRIES", "int", 5, "Wrong one-time numbers allowed per check."),
    Setting("CHECKS_PER_PHONE", "CUNBOX_CHECKS_PER_PHONE", "int", 3,
            "One-time numbers one phone may be sent per CHECKS_WINDOW_MINUTES."),
    Setting("CHECKS_WINDOW_MINUTES", "CUNBOX_CHECKS_WINDOW_MINUTES", "int", 10,
            "Window of CHECKS_PER_PHONE."),
    Setting("OPEN_DEADLINE_SECONDS", "CUNBOX_OPEN_DEADLINE_SECONDS", "json", {},
            "Per purpose, seconds a door open may wait for its locker before it is withdrawn, e.g. "
            "{\"deposit\": 30, \"retrieve\": 60} (the rest keep services/doors.py's table)."),
    Setting("LINK_MODE", "CUNBOX_LINK", "str", "",
            "in-process: the locker link runs inside the server (SQLite); workers: separate `cunbox link` "
            "processes serve the lockers and requests wait for doors by reading the queue; empty: neither."),
    Setting("LINK_BAUD", "CUNBOX_LINK_BAUD", "int", 19200, "Serial speed of the locker buses."),
    Setting("LINK_WAIT_SECONDS", "CUNBOX_LINK_WAIT_SECONDS", "float", 8.0,
            "How long a request that opens a door waits for the locker's answer before it answers itself."),
    Setting("LINK_STATUS_PERIOD", "CUNBOX_LINK_STATUS_PERIOD", "float", 1.0,
            "Seconds between status polls of each board."),
    Setting("STATION_SYNC_INTERVAL", "CUNBOX_STATION_SYNC_INTERVAL", "float", None,
            "Seconds between station resident-book syncs run by the server; unset or 0: no schedule."),
    Setting("FW_SIGNING_KEY", "CUNBOX_FW_SIGNING_KEY", "str", None,
            "Ed25519 private key file that signs firmware releases (`cunbox firmware build` without --key)."),
    Setting("FW_PUBKEY_FILES", "CUNBOX_FW_PUBKEYS", "paths", [],
            "Public key files releases may be signed with; none: uploads are refused."),
    Setting("FW_RETIRED_KEY_FILE", "CUNBOX_FW_KEY_FILE", "str", None,
            "Retired (the HMAC fleet key of format-1 images): only named in error messages."),
    Setting("WEB_POLL_MS", "CUNBOX_WEB_POLL_MS", "int", 3000, "How often live pages poll the server."),
    Setting("TEXTS_DIR", "CUNBOX_TEXTS_DIR", "str", None,
            "Folder of the county's own wording (zh_CN.po, en.po: docs/texts.md); unset: <instance>/texts."),
    Setting("PORT", "CUNBOX_PORT", "int", 8000, "Port of `make run`'s server.", group="demo"),
    Setting("CONSOLE_PORT", "CUNBOX_CONSOLE_PORT", "int", 0,
            "First port of the demo's locker consoles; 0: free ports the system picks.", group="demo"),
    Setting("DEMO_FRESH", "CUNBOX_DEMO_FRESH", "bool", False,
            "`make run` starts afresh instead of keeping the last run's data (`make run FRESH=1`).", group="demo"),
    Setting("SIM_TRANSPORT", "CUNBOX_SIM_TRANSPORT", "str", "pty",
            "How the demo's simulated lockers are reached: pty (pseudo-terminals) or tcp.", group="demo"),
    Setting("VERBOSE", "CUNBOX_VERBOSE", "bool", False, "`make run` logs at INFO instead of WARNING.",
            group="demo"),
)
BY_NAME = {s.name: s for s in SETTINGS}
FILE_ENV = "CUNBOX_CONFIG_FILE"
FILE_NAME = "cunbox.toml"


def default(name):
    return BY_NAME[name].default


_parsed_files = {}   # path -> ((mtime, size), {name: value}): a settings file is parsed once per version


def _file_values(environ):
    """({name: value} from the settings file, its path); {} when there is none; a bad file raises
    ConfigError."""
    named = environ.get(FILE_ENV)
    # plain strings, not pathlib: texts ask for a setting on every lookup (server/texts)
    path = named or os.path.join(environ.get("CUNBOX_INSTANCE_DIR") or "instance", FILE_NAME)
    try:
        st = os.stat(path)
    except OSError:
        if named:
            raise ConfigError("%s names %s, which does not exist" % (FILE_ENV, path)) from None
        return {}, path
    version = (st.st_mtime_ns, st.st_size)
    cached = _parsed_files.get(path)
    if cached and cached[0] == version:
        return cached[1], path
    try:
        with open(path, encoding="utf-8") as f:
            data = tomllib.loads(f.read())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("settings file %s cannot be read: %s" % (path, exc)) from None
    out = {}
    for key, value in data.items():
        name = key.upper()
        if name not in BY_NAME:
            raise ConfigError("settings file %s: unknown setting %r (known: see docs/configuration.md)" % (path, key))
        out[name] = value
    _parsed_files[path] = (version, out)
    return out, path


def _value(s, environ, from_file, path):
    if s.env in environ:
        return s.parse(environ[s.env], "environment " + s.env)
    if s.name in from_file:
        return s.parse(from_file[s.name], "file %s" % path)
    return s.default


def _sqlite_in(instance_dir):
    return "sqlite:///" + str((pathlib.Path(instance_dir) / "cunbox.sqlite3").resolve())


def load(overrides=None, environ=None):
    """Every setting's effective value, as a dict by name, with `overrides` (create_app's config) on
    top; overrides may carry more keys than SETTINGS (e.g. a shared DATABASE object). Every value is
    checked, so a bad one anywhere stops the caller (create_app) at once."""
    environ = os.environ if environ is None else environ
    from_file, path = _file_values(environ)
    cfg = {s.name: _value(s, environ, from_file, path) for s in SETTINGS}
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = _sqlite_in(cfg["INSTANCE_DIR"])
    if overrides:
        cfg.update(overrides)
    return cfg


def get(name, environ=None):
    """One setting's effective value now (environment, else file, else default). Cheap enough for a
    request's path: only this setting is read, and the file is parsed again only when it changes."""
    s = BY_NAME[name]
    environ = os.environ if environ is None else environ
    from_file, path = _file_values(environ)
    value = _value(s, environ, from_file, path)
    if name == "DATABASE_URL" and not value:
        return _sqlite_in(get("INSTANCE_DIR", environ))
    return value


def table_markdown():
    """The settings as docs/configuration.md shows them."""
    lines = ["| setting | environment | kind | default | meaning |", "|---|---|---|---|---|"]
    for group in ("server", "demo"):
        for s in (x for x in SETTINGS if x.group == group):
            shown = "—" if s.default in (None, "", [], {}) else "`%s`" % json.dumps(s.default, ensure_ascii=False)
            lines.append("| %s%s | `%s` | %s | %s | %s |" % (s.name, " (demo)" if group == "demo" else "", s.env,
                                                            s.kind, shown, s.doc))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table_markdown(), end="")
