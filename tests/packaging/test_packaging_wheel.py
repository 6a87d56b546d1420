"""The package as a user gets it: a wheel built from the tree (no network) with no warning from the
build, holding every file of its packages, installed into a fresh venv, serves every page of each
role with its templates and static files from outside the checkout."""
import json
import os
import pathlib
import re
import shutil
import site
import subprocess
import sys
import zipfile

import pytest
from support import ROOT

PACKAGES = ("protocol", "firmware", "hardware_sim", "hostlink", "server")
BUILD_FILES = ("pyproject.toml", "setup.cfg", "README.md")

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(120)]


def _source_files():
    """The package files a checkout has: tracked, or new and not ignored (an uncommitted module counts)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *PACKAGES],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
    return sorted(p for p in out if p and (ROOT / p).is_file())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Built from a copy of the tree, so setuptools' build/ of an earlier build cannot leak stale files in."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    files = _source_files()
    for rel in files + list(BUILD_FILES):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, env=env, timeout=90)
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    (path,) = (tmp / "dist").glob("cunbox-*.whl")
    return path, files, output


def test_the_build_says_no_warning(wheel):
    _path, _files, output = wheel
    noisy = [ln for ln in output.splitlines() if "warning" in ln.lower() or ln.strip() == "!!"]
    assert noisy == [], output


def test_the_wheel_holds_every_file_of_its_packages_and_nothing_else(wheel):
    path, files, _output = wheel
    with zipfile.ZipFile(path) as z:
        held = {n for n in z.namelist() if ".dist-info/" not in n}
    wanted = {f for f in files if "__pycache__" not in f}
    assert {"missing": sorted(wanted - held), "extra": sorted(held - wanted)} == {"missing": [], "extra": []}


def test_build_output_in_the_tree_is_ignored_by_git():
    """Where an in-tree build or `make install` writes (setuptools' build/, dist/, the egg-info, the install log)."""
    for rel in ("build/lib/server/app.py", "build/install.log", "dist/cunbox-0.1.0-py3-none-any.whl",
                "cunbox.egg-info/PKG-INFO"):
        assert subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT).returncode == 0, rel


def test_the_installed_wheel_serves_every_page_of_each_role(wheel, tmp_path):
    path, _files, _output = wheel
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    # The dependencies, without downloading: the project's venv's site-packages, as a plain path (its
    # own .pth files, among them the editable install of the checkout, are not run from there).
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path(purelib, "cunbox-test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUNBOX_", "PYTHON"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                    "--quiet", str(path)], check=True, env=env, timeout=90)
    run = tmp_path / "elsewhere"
    run.mkdir()
    db_url = "sqlite:///%s" % (run / "cunbox.sqlite3")
    # the console script and the packaged migrations
    up = subprocess.run([str(venv / "bin" / "cunbox"), "db", "upgrade"], cwd=run, capture_output=True, text=True,
                        env=dict(env, CUNBOX_DATABASE_URL=db_url), timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr
    probe = run / "probe.py"
    shutil.copy(ROOT / "tests" / "packaging" / "wheel_probe.py", probe)
    out = subprocess.run([str(py), str(probe), db_url], cwd=run, capture_output=True, text=True, env=env, timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])

    assert report["server_file"].startswith(str(venv)), report["server_file"]  # not the checkout
    assert report["signed_in"] == {"courier": True, "operator": True, "maintainer": True}
    failed = {role: {p: why for p, why in pages.items() if why} for role, pages in report["pages"].items()}
    assert failed == {"public": {}, "courier": {}, "operator": {}, "maintainer": {}}
    fetched = {role: set(pages) for role, pages in report["pages"].items()}
    assert {"/", "/send", "/login"} <= fetched["public"] and any(p.startswith("/p/") for p in fetched["public"])
    assert {"/station/", "/station/fees", "/station/overdue", "/station/residents"} <= fetched["operator"]
    assert any(re.match(r"/station/parcels/\d+$", p) for p in fetched["operator"])
    assert {"/courier/", "/courier/collect"} <= fetched["courier"]
    assert {"/fleet/", "/fleet/releases"} <= fetched["maintainer"]
    assert any(re.match(r"/fleet/rollouts/\d+$", p) for p in fetched["maintainer"])
    assets = {url.rsplit("/", 1)[-1]: why for url, why in report["assets"].items()}
    assert {"app.css", "live.js", "rollout.js"} <= set(assets), assets
    assert {name: why for name, why in assets.items() if why} == {}
