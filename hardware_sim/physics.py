"""The physical world of a locker: latches, spring doors, sensors with bounce, chilled zones.

Everything here is stepped by the locker's physics thread with the real monotonic time in ms.
Lock coils are read from the board's output pins (GPIO boards) or driven by a simulated lock board
(Kerong / 8A); door, feedback and occupancy sensors are written to the board's input pins.
"""
import random

from firmware.probes import adc_for

SIZES = ("S", "M", "L", "XL")


class Compartment:
    """One compartment: solenoid latch, spring-loaded door, door switch, occupancy sensor."""

    RETRACT_MS = 30  # coil energised this long pulls the latch back
    POP_MS = 80  # the spring needs this long to swing a free door open past its switch
    BOUNCE_MS = 8

    def __init__(self, size="M", rng=None):
        self.size = size
        self.rng = rng or random.Random(1)
        self.coil = False
        self._coil_since = None
        self.retracted = False
        self.door_open = False
        self.parcel = False
        self.pulses = 0  # rising edges of the coil: how often this lock was driven
        self.openings = 0  # times the door swung open
        self.jammed = False  # latch does not move
        self.sensor_stuck = None  # dead door sensor: None (works) or the level it is stuck at
        self.left_open = False  # the person walks away: auto-close never closes this door
        self.auto_close_ms = None
        self._pop_at = None
        self._bounce_until = 0
        self._opened_at = None
        self.now = 0
        self.on_open = None  # callable(compartment) run (on the physics thread) when the door swings open

    # -- the person ----------------------------------------------------------------------------
    def close(self):
        if self.door_open:
            self.door_open = False
            self._bounce_until = self.now + self.BOUNCE_MS
            self._pop_at = None

    def force(self):
        """Pry the door open without the lock (a forced door)."""
        self._swing_open()

    def put(self):
        self.parcel = True

    def take(self):
        self.parcel = False

    def _swing_open(self):
        if not self.door_open:
            self.door_open = True
            self.openings += 1
            self._opened_at = self.now
            self._bounce_until = self.now + self.BOUNCE_MS
            if self.on_open is not None:
                self.on_open(self)

    # -- time ----------------------------------------------------------------------------------
    def set_coil(self, on, now):
        if on and not self.coil:
            self.pulses += 1
            self._coil_since = now
        self.coil = on

    def step(self, now):
        self.now = now
        if self.coil and not self.jammed and now - self._coil_since >= self.RETRACT_MS:
            self.retracted = True
        elif not self.coil:
            self.retracted = False
        if not self.door_open and self.retracted:
            if self._pop_at is None:
                self._pop_at = now + self.POP_MS
            elif now >= self._pop_at:
                self._pop_at = None
                self._swing_open()
        elif not self.retracted:
            self._pop_at = None
        if (self.door_open and self.auto_close_ms is not None and not self.left_open
                and now - self._opened_at >= self.auto_close_ms):
            self.close()

    # -- sensors -------------------------------------------------------------------------------
    def door_sensor(self):
        if self.sensor_stuck is not None:
            return self.sensor_stuck
        if self.now < self._bounce_until:
            return self.rng.randint(0, 1)
        return 1 if self.door_open else 0

    def hook_released(self):
        """The lock's feedback switch: released unless a closed door is held by the latch."""
        return 1 if (self.door_open or self.retracted) else 0

    def state(self):
        return {"size": self.size, "door_open": self.door_open, "latched": not self.hook_released(),
                "parcel": self.parcel, "pulses": self.pulses, "openings": self.openings,
                "jammed": self.jammed, "sensor_stuck": self.sensor_stuck, "left_open": self.left_open}


class ChillZone:
    """Air in an insulated zone: warms toward ambient, cools toward the evaporator when running.

    time_scale speeds the thermal clock up so a demo shows cycles within minutes."""

    def __init__(self, temp=20.0, ambient=25.0, evaporator=-10.0, tau_on_s=900.0, tau_off_s=3600.0,
                 time_scale=1.0):
        self.temp = temp
        self.ambient = ambient
        self.evaporator = evaporator
        self.tau_on_s = tau_on_s
        self.tau_off_s = tau_off_s
        self.time_scale = time_scale
        self.compressor = False
        self.probe_dead = False
        self.doors_open = 0
        self.runtime_s = 0.0
        self._last = None

    def step(self, now):
        if self._last is None:
            self._last = now
            return
        dt = (now - self._last) / 1000.0 * self.time_scale
        self._last = now
        target = self.evaporator if self.compressor else self.ambient
        tau = self.tau_on_s if self.compressor else self.tau_off_s
        tau /= 1 + 4 * self.doors_open  # an open door lets the warm air in
        self.temp += (target - self.temp) * min(1.0, dt / tau)
        if self.compressor:
            self.runtime_s += dt

    def adc(self):
        if self.probe_dead:
            return 0
        return adc_for(int(round(self.temp * 10)))
