# Helpers of the portable firmware tests (both runtimes): a temp directory, a probe, a recording ui.
# The hardware stand-ins (Clock, Pin, Uart, MemFlash) are hardware_sim/fakes.py's.
import os

try:
    import tempfile
except ImportError:
    tempfile = None

_n = [0]


def tmpdir():
    """A fresh empty directory: a temp dir on CPython, /tmp_fw<n> in MicroPython's memory fs."""
    if tempfile is not None:
        import atexit
        import shutil

        path = tempfile.mkdtemp(prefix="cunbox_fw_")
        atexit.register(shutil.rmtree, path, True)
        return path
    _n[0] += 1
    path = "/tmp_fw%d" % _n[0]
    try:
        os.mkdir(path)
    except OSError:
        for name in os.listdir(path):
            os.remove(path + "/" + name)
    return path


class Probe:
    def __init__(self, t):
        self.t = t

    def read(self):
        return self.t


class Said:
    """The app's ui (firmware.ui.Ui's interface): records each (prompt key, parameters) it is told to
    say into the list `said`."""

    def __init__(self, said=None):
        self.said = [] if said is None else said
        self.polled = 0

    def say(self, key, args=()):
        self.said.append((key, tuple(args)))

    def poll(self, now):
        self.polled += 1
