# Small stand-ins for hardware used by the portable firmware tests (both runtimes).
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


class Clock:
    """Board ticks: they wrap like time.ticks_ms() on MicroPython (ticks_add), never on CPython."""

    def __init__(self, t=1000):
        self.t = t

    def ms(self):
        return self.t

    def advance(self, dt):
        from firmware.compat import ticks_add

        self.t = ticks_add(self.t, dt)


class Pin:
    def __init__(self, v=0):
        self.v = v
        self.history = []

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v
        self.history.append(v)


class Uart:
    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()

    def feed(self, data):
        self.rx.extend(data)

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        if not self.rx:
            return None
        if n < 0 or n >= len(self.rx):
            data = bytes(self.rx)
            self.rx = bytearray()
        else:
            data = bytes(self.rx[:n])
            self.rx = self.rx[n:]
        return data

    def write(self, data):
        self.tx.extend(data)
        return len(data)

    def take(self):
        data = bytes(self.tx)
        self.tx = bytearray()
        return data


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
