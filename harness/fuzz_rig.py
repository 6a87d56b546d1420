"""A locker board for fuzzing: the real firmware App and BusServer on in-memory hardware and flash.

Fuzzing builds one board per input, so everything here is cheap: flash is a dict (same atomic-write
and CRC trailer semantics as firmware.flash.Flash, which it subclasses), pins are plain objects and
the clock only moves when the rig moves it. Doors pop open when their latch is pulsed (unless the
compartment is jammed), as in the firmware's own tests.
"""
from firmware.app import App
from firmware.flash import Flash
from firmware.inputs import DebouncedInputs
from firmware.lock_gpio import GpioLocks
from firmware.proto_server import BusServer

try:
    from binascii import crc32
except ImportError:  # pragma: no cover
    from zlib import crc32

KEY = bytes(range(0x40, 0x60))      # the board's 32-byte key
ADDRESS = 5
COMPARTMENTS = 4


class MemFlash(Flash):
    """firmware.flash.Flash with the files in a dict instead of a directory."""

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


class Clock:
    def __init__(self, t=1000):
        self.t = t

    def ms(self):
        return self.t

    def advance(self, dt):
        self.t += dt


class Pin:
    def __init__(self, v=0):
        self.v = v
        self.pulses = 0

    def value(self, v=None):
        if v is None:
            return self.v
        if v and not self.v:
            self.pulses += 1
        self.v = v


class Uart:
    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        data = bytes(self.rx)
        self.rx = bytearray()
        return data or None

    def write(self, data):
        self.tx.extend(data)
        return len(data)


class FuzzBoard:
    """One board: app + protocol server. `pulses()` counts lock pulses across all compartments."""

    def __init__(self, flash=None, clock=None, n=COMPARTMENTS, key=KEY):
        self.flash = flash or MemFlash()
        self.clock = clock or Clock()
        self.lock_pins = [Pin() for _ in range(n)]
        self.door_pins = [Pin(0) for _ in range(n)]
        self.fb_pins = [Pin(0) for _ in range(n)]
        self.jammed = set()
        now = self.clock.ms()
        locks = GpioLocks(self.lock_pins, feedback=DebouncedInputs(self.fb_pins, 1, 20, now), now=now)
        self.app = App({"locker_id": "LK-F"}, self.clock, self.flash, locks,
                       DebouncedInputs(self.door_pins, 1, 30, now), reset_cause=1, uid=b"\x0f\x0e")
        self.uart = Uart()
        cfg = {"address": ADDRESS, "key": key.hex() if key else ""}
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

    def receive(self, wire, handler):
        """Feed wire bytes to the board's session with `handler` (wrapping server._handle)."""
        return self.session.receive(wire, handler)
