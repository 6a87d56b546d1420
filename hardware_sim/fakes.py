# The one set of stand-ins for a board's hardware: Clock, Pin, Uart and an in-memory MemFlash.
# Used by the portable firmware tests (on CPython and, copied by the Makefile's MPY_COPY, on
# MicroPython), the fuzzing rig (harness/fuzz_rig.py) and the simulated board that runs the real
# firmware (hardware_sim/fw_sim_board.py). So this module runs on both runtimes: no dataclasses, no
# typing, nothing CPython-only; it imports only firmware/ modules that a board has too.
from firmware.compat import ticks_add, ticks_ms
from firmware.flash import Flash

try:
    from binascii import crc32
except ImportError:  # pragma: no cover
    from zlib import crc32


class Clock:
    """Board ticks in ms. A test's clock (the default) moves only when told, by advance(), and wraps
    like time.ticks_ms() on MicroPython (ticks_add), never on CPython. Clock(real=True) follows the
    runtime's own ticks_ms() instead (a board running in real time)."""

    def __init__(self, t=1000, real=False):
        self.t = t
        self.real = real

    def ms(self):
        if self.real:
            return ticks_ms()
        return self.t

    def advance(self, dt):
        self.t = ticks_add(self.t, dt)


class Pin:
    """A GPIO pin: `v` its level; `history` every value written; `pulses` the rising edges written."""

    def __init__(self, v=0):
        self.v = v
        self.history = []
        self.pulses = 0

    def value(self, v=None):
        if v is None:
            return self.v
        if v and not self.v:
            self.pulses += 1
        self.v = v
        self.history.append(v)


class Uart:
    """A UART: bytes fed to `rx` are read (all, or `n` at a time), bytes written collect in `tx`
    until take()."""

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
        if n is None or n < 0 or n >= len(self.rx):
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


class MemFlash(Flash):
    """firmware.flash.Flash with the files in a dict (`files`) instead of a directory: the same
    atomic-write and CRC trailer semantics (read_atomic is Flash's own), nothing on disk."""

    def __init__(self):
        self.root = "/mem"
        self.files = {}

    def listdir(self):
        return sorted(self.files)

    def exists(self, name):
        return name in self.files

    def size(self, name):
        return len(self.files.get(name, b""))

    def remove(self, name):
        self.files.pop(name, None)

    def replace(self, old, new):
        self.files[new] = self.files.pop(old)

    def read(self, name):
        data = self.files.get(name)
        return bytes(data) if data is not None else None

    def append(self, name, data):
        self.files.setdefault(name, bytearray()).extend(data)

    def write_atomic(self, name, data):
        data = bytes(data)
        self.files[name + ".tmp"] = bytearray(data + (crc32(data) & 0xFFFFFFFF).to_bytes(4, "big"))
        self.replace(name + ".tmp", name)
