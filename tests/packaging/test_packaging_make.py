"""The Makefile's install steps are quiet: one line each and the path of the log that keeps what pip
and npm said; a failing step shows the end of that log and stops make. The Makefile's own `logged`
macro runs here on stand-in commands (no real install)."""
import subprocess

import pytest
from support import ROOT

pytestmark = pytest.mark.packaging


def _make_with(tmp_path, command):
    log = tmp_path / "install.log"
    rule = "probe: ; @$(call logged,installing probes,%s)" % command
    out = subprocess.run(["make", "-s", "--no-print-directory", "INSTALL_LOG=%s" % log, "--eval", rule, "probe"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout + out.stderr, log.read_text()


def test_an_install_step_prints_one_line_and_keeps_its_output_in_the_log(tmp_path):
    rc, shown, log = _make_with(tmp_path, "for i in 1 2 3 4 5; do echo pip noise $$i; done")
    assert rc == 0
    assert shown.splitlines() == ["cunbox: installing probes (output in %s)" % (tmp_path / "install.log")]
    assert "pip noise 5" in log and "installing probes" in log


def test_a_failing_install_step_shows_the_end_of_the_log_and_fails(tmp_path):
    rc, shown, log = _make_with(tmp_path, "echo resolving; echo 'ERROR: no matching distribution' >&2; false")
    assert rc != 0
    assert "cunbox: installing probes failed; the end of %s:" % (tmp_path / "install.log") in shown
    assert "ERROR: no matching distribution" in shown and "ERROR: no matching distribution" in log


def test_the_install_targets_use_it():
    recipe = subprocess.run(["make", "-n", "-B", "--no-print-directory", ".venv/.stamp-installed",
                             "node_modules/.stamp-installed"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30).stdout
    assert "pip install -e '.[dev]'; } >>build/install.log 2>&1 ||" in recipe.replace("\n", " ")
    assert "npm ci --no-audit --no-fund; } >>build/install.log 2>&1 ||" in recipe
    assert "--quiet" not in recipe and "--silent" not in recipe  # nothing hidden from the log
