"""A locker board for fuzzing: the real firmware App and BusServer on in-memory hardware and flash.

Fuzzing builds one board per input, so everything here is cheap: the board is hardware_sim/fakes.py's
FakeBoard, the one the portable firmware tests use (flash a dict with firmware.flash.Flash's
atomic-write and CRC trailer semantics, plain pins, a clock that only moves when the rig moves it).
Doors pop open when their latch is pulsed (unless the compartment is jammed).
"""
from hardware_sim.fakes import FakeBoard

KEY = bytes(range(0x40, 0x60))      # the board's 32-byte key
ADDRESS = 5
COMPARTMENTS = 4


class FuzzBoard(FakeBoard):
    """One board: app + protocol server (hardware_sim/fakes.py's FakeBoard). `pulses()` counts lock
    pulses across all compartments."""

    def __init__(self, flash=None, clock=None, n=COMPARTMENTS, key=KEY):
        FakeBoard.__init__(self, flash, clock, n, key, ADDRESS, locker_id="LK-F", uid=b"\x0f\x0e")

    def receive(self, wire, handler):
        """Feed wire bytes to the board's session with `handler` (wrapping server._handle)."""
        return self.session.receive(wire, handler)
