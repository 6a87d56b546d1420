# Runs on MicroPython's unix port built with boards/unix_manifest.py (tools/board_unix.py starts it):
#   micropython tools/board_unix_tests.py ROOT [NAME_FILTER]
# ROOT is a directory holding tests/portable/, hardware_sim/{__init__,fakes}.py, tools/portable_tests.py and
# protocol/test_vectors.json (data only: no .py of protocol/ or firmware/). It becomes the interpreter's "/"
# (a VfsPosix mounted there, as a board's flash is its "/"), sys.path is the frozen modules first, then "/",
# and the portable tests run as tools/portable_tests.py runs them on the WebAssembly port. Every firmware
# and protocol module they imported must come from the frozen image: a package's __path__ is
# ".frozen/<name>" and a module's __file__ is its frozen name (no leading "/"); anything else fails the run.
import sys
import vfs



class Flash:
    """VfsPosix(root), except rename: 1.27's VfsPosix with a root builds both rename paths in one buffer
    (vfs_posix_get_path_str), so the old name comes out as the new one (ENOENT). A VfsPosix without a root
    renames the host paths instead; relative names are already relative to its cwd inside the root."""

    def __init__(self, root):
        self.fs = vfs.VfsPosix(root)
        self.host = vfs.VfsPosix()
        self.root = root.rstrip("/")

    def __getattr__(self, name):
        return getattr(self.fs, name)

    def rename(self, old, new):
        if old.startswith("/"):
            old = self.root + old
        if new.startswith("/"):
            new = self.root + new
        self.host.rename(old, new)


root = sys.argv[1]
vfs.umount("/")
vfs.mount(Flash(root), "/")
sys.path[:] = [".frozen", "/"]

import firmware  # noqa: E402
import protocol  # noqa: E402

assert firmware.__path__ == ".frozen/firmware", firmware.__path__
assert protocol.__path__ == ".frozen/protocol", protocol.__path__


def check_frozen():
    n = 0
    for name, mod in sys.modules.items():
        if name.split(".")[0] not in ("firmware", "protocol"):
            continue
        where = getattr(mod, "__path__", None) or getattr(mod, "__file__", "")
        if not (where.startswith(".frozen/") or where.startswith(name.split(".")[0] + "/")):
            raise SystemExit("not frozen: %s from %s" % (name, where))
        n += 1
    print("frozen: %d firmware/protocol modules imported, all from the frozen image" % n)


sys.argv[:] = ["portable_tests.py"] + sys.argv[2:]
try:
    with open("/tools/portable_tests.py") as f:
        exec(f.read())
finally:
    check_frozen()
