"""A locker board for fuzzing: the real firmware App and BusServer on in-memory hardware and flash.

Fuzzing builds one board per input, so everything here is cheap: the hardware is hardware_sim/fakes.py's
(flash a dict with firmware.flash.Flash's atomic-write and CRC trailer semantics, plain pins, a clock
that only moves when the rig moves it). Doors pop open when their latch is pulsed (unless the
compartment is jammed), as in the firmware's own tests.
"""
from firmware.app import App
from firmware.inputs import DebouncedInputs
from firmware.lock_gpio import GpioLocks
from firmware.proto_server import BusServer
from hardware_sim.fakes import Clock, MemFlash, Pin, Uart

KEY = bytes(range(0x40, 0x60))      # the board's 32-byte key
ADDRESS = 5
COMPARTMENTS = 4


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
