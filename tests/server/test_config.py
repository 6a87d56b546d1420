"""The one table of settings (server/config.py): where values come from, what a bad one says, the
documented table, and that the code reads the environment only through it."""
import ast
import re

import pytest
from support import ROOT

from server import config


def test_the_documented_table_is_the_code_table():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert config.table_markdown() in doc


def test_defaults_then_file_then_environment_then_overrides(tmp_path):
    base = {"CUNBOX_INSTANCE_DIR": str(tmp_path)}
    cfg = config.load(environ=base)
    assert cfg["PUBLIC_URL"] == "http://127.0.0.1:8000" and cfg["LINK_BAUD"] == 19200
    assert cfg["DATABASE_URL"] == "sqlite:///%s" % (tmp_path / "cunbox.sqlite3").resolve()
    (tmp_path / "cunbox.toml").write_text('public_url = "https://county.example.cn"\nLINK_BAUD = 9600\n'
                                          'open_deadline_seconds = {deposit = 45}\n', encoding="utf-8")
    cfg = config.load(environ=base)
    assert (cfg["PUBLIC_URL"], cfg["LINK_BAUD"], cfg["OPEN_DEADLINE_SECONDS"]) == (
        "https://county.example.cn", 9600, {"deposit": 45})
    cfg = config.load(environ=dict(base, CUNBOX_LINK_BAUD="115200"))
    assert cfg["LINK_BAUD"] == 115200 and cfg["PUBLIC_URL"] == "https://county.example.cn"
    cfg = config.load({"LINK_BAUD": 4800}, environ=dict(base, CUNBOX_LINK_BAUD="115200"))
    assert cfg["LINK_BAUD"] == 4800
    assert config.get("LINK_BAUD", environ=dict(base, CUNBOX_LINK_BAUD="57600")) == 57600


def test_a_named_file_is_used_and_must_exist(tmp_path):
    f = tmp_path / "station.toml"
    f.write_text("throttle_per_source = 3\n", encoding="utf-8")
    assert config.load(environ={"CUNBOX_CONFIG_FILE": str(f)})["THROTTLE_PER_SOURCE"] == 3
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(environ={"CUNBOX_CONFIG_FILE": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize("environ, file_text, words", [
    ({"CUNBOX_LINK_BAUD": "fast"}, None, "LINK_BAUD (environment CUNBOX_LINK_BAUD) must be a whole number"),
    ({"CUNBOX_DEMO_FRESH": "perhaps"}, None, "DEMO_FRESH (environment CUNBOX_DEMO_FRESH) must be yes/no"),
    ({"CUNBOX_OPEN_DEADLINE_SECONDS": "[1, 2]"}, None, "must be a JSON object"),
    ({}, "link_bauds = 9600\n", "unknown setting 'link_bauds'"),
    ({}, "link_baud = \n", "cannot be read"),
    ({}, 'link_baud = "fast"\n', "LINK_BAUD (file "),
])
def test_a_bad_value_says_which_setting_and_where_it_came_from(tmp_path, environ, file_text, words):
    if file_text is not None:
        (tmp_path / "cunbox.toml").write_text(file_text, encoding="utf-8")
    with pytest.raises(config.ConfigError) as exc:
        config.load(environ=dict(environ, CUNBOX_INSTANCE_DIR=str(tmp_path)))
    assert words in str(exc.value)


def test_the_app_refuses_to_start_on_a_bad_setting(monkeypatch, tmp_path):
    from server.app import create_app
    monkeypatch.setenv("CUNBOX_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("CUNBOX_THROTTLE_PER_LOCKER", "many")
    with pytest.raises(config.ConfigError, match="THROTTLE_PER_LOCKER"):
        create_app({"DATABASE_URL": "sqlite:///%s" % (tmp_path / "x.sqlite3")})


def _server_modules():
    return [p for p in (ROOT / "server").rglob("*.py") if "migrations" not in p.parts]


def test_every_environment_variable_the_server_names_is_in_the_table():
    known = {s.env for s in config.SETTINGS} | {config.FILE_ENV}
    named = {m for p in _server_modules() for m in re.findall(r"CUNBOX_[A-Z_]+", p.read_text(encoding="utf-8"))}
    assert named - known == set()


def _environ_uses(tree):
    """(line, what) of each read or write of os.environ / os.getenv / os.putenv in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                and node.attr in ("environ", "getenv", "putenv", "unsetenv"):
            yield node.lineno, node.attr


def test_only_the_settings_module_reads_the_environment_and_nothing_writes_it():
    found = {}
    for p in _server_modules():
        rel = str(p.relative_to(ROOT))
        if rel == "server/config.py":
            continue
        uses = list(_environ_uses(ast.parse(p.read_text(encoding="utf-8"))))
        if uses:
            found[rel] = uses
    # the station-sync CLI reads the credential variable a source's settings name (a secret kept
    # out of the database, not a setting of cunbox)
    allowed = {"server/station_sync/cli.py"}
    assert {k: v for k, v in found.items() if k not in allowed} == {}


def test_processes_starting_together_get_one_server_secret(tmp_path):
    """The first use makes instance/link-secret; two processes doing it at once must not end up with
    two secrets (keys sealed under one would not open under the other)."""
    import subprocess
    import sys
    import time
    # each process waits for the go file, so they all look for the secret at the same moment
    code = ("import os, sys, time; from server.secret import load_secret\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.0005)\n"
            "sys.stdout.write(load_secret(sys.argv[1]).decode())")
    for attempt in range(5):
        folder, go = tmp_path / str(attempt), tmp_path / ("go%d" % attempt)
        procs = [subprocess.Popen([sys.executable, "-c", code, str(folder), str(go)], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True,
                                  env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
                 for _ in range(6)]
        try:
            time.sleep(0.5)        # all started and waiting
            go.write_text("go")
            seen = {p.communicate(timeout=60)[0] for p in procs}
        finally:
            for p in procs:        # none left spinning if the test fails
                if p.poll() is None:
                    p.kill()
        assert all(p.returncode == 0 for p in procs)
        assert seen == {(folder / "link-secret").read_text().strip()}
        assert [f.name for f in folder.iterdir()] == ["link-secret"]    # no temporary file left
