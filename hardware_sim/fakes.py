# The one set of stand-ins for a board's hardware handed to the firmware as objects: Clock, Pin, Uart
# and an in-memory MemFlash. Used by the portable firmware tests (on CPython and, copied by the
# Makefile's MPY_COPY, on MicroPython) and the fuzzing rig (harness/fuzz_rig.py); the simulator's
# fake `machine` (hardware_sim/machine.py) builds its UART on Uart. So this module runs on both
# runtimes: no dataclasses, no typing, nothing CPython-only; it imports only firmware/ modules that
# a board has too.
from firmware.compat import ticks_add
from firmware.flash import Flash

try:
    from binascii import crc32
except ImportError:  # pragma: no cover
    from zlib import crc32


class Clock:
    """Board ticks in ms, moved only when told, by advance(); wraps like time.ticks_ms() on
    MicroPython (ticks_add), never on CPython. Not hardware_sim/clock.py's SimClock, which follows
    real time (optionally sped up) for a whole simulated locker and is CPython's time.monotonic()."""

    def __init__(self, t=1000):
        self.t = t

    def ms(self):
        return self.t

    def advance(self, dt):
        self.t = ticks_add(self.t, dt)


class Pin:
    """A GPIO pin: `v` its level; `history` every value written; `pulses` the rising edges written.
    Not the simulator's machine.Pin / PinLine (hardware_sim/machine.py): those are MicroPython's
    machine.Pin(id, mode, ...) API on a wire shared with the physics thread, which fires IRQ
    handlers and keeps no history (a simulated locker runs for hours)."""

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


class FakeBoard:
    """The real firmware's App and BusServer on these fakes, in one thread and in memory: GPIO locks
    with latch feedback (lock_pins, fb_pins), door switches (door_pins), the bus a Uart, `clock` a
    Clock, `flash` a MemFlash unless one is given (pass the same flash and clock to a new FakeBoard
    for a power cut and back). While the firmware waits (idle) the world moves: the clock advances
    5 ms and a pulsed latch pops its spring door, unless the compartment is in `jammed`.
    For the portable tests (tests/portable/test_firmware_proto.py) and fuzzing (harness/fuzz_rig.py); the
    simulator's hardware_sim/board.py SimBoard is the same firmware on the fake `machine` with physics,
    threads and real serial links, which MicroPython and a fuzzer's thousands of boards cannot have."""

    def __init__(self, flash=None, clock=None, n=4, key=b"k" * 32, address=5, locker_id="LK-1", uid=b"\x01\x02"):
        from firmware.app import App
        from firmware.inputs import DebouncedInputs
        from firmware.lock_gpio import GpioLocks
        from firmware.proto_server import BusServer

        self.flash = flash if flash is not None else MemFlash()
        self.clock = clock or Clock()
        self.lock_pins = [Pin() for _ in range(n)]
        self.door_pins = [Pin(0) for _ in range(n)]
        self.fb_pins = [Pin(0) for _ in range(n)]
        self.jammed = set()
        now = self.clock.ms()
        locks = GpioLocks(self.lock_pins, feedback=DebouncedInputs(self.fb_pins, 1, 20, now), now=now)
        self.app = App({"locker_id": locker_id}, self.clock, self.flash, locks,
                       DebouncedInputs(self.door_pins, 1, 30, now), reset_cause=1, uid=uid)  # 1: power-on
        self.uart = Uart()
        cfg = {"address": address, "key": "".join("%02x" % b for b in key) if key else ""}
        self.server = BusServer(self.app, self.uart, cfg, idle=self.idle)
        self.session = self.server.session

    def idle(self):
        self.clock.advance(5)
        for i, p in enumerate(self.lock_pins):
            if p.v and i not in self.jammed:
                self.fb_pins[i].v = 1
                self.door_pins[i].v = 1

    def close_doors(self):
        for i in range(len(self.door_pins)):
            self.door_pins[i].v = 0
            self.fb_pins[i].v = 0
        for _ in range(12):
            self.clock.advance(10)
            self.app.step()

    def pulses(self):
        return sum(p.pulses for p in self.lock_pins)
