"""The simulated locker's time: the real monotonic clock, optionally sped up.

One SimClock is shared by every board's firmware (as its ticks_ms clock), the physics and the
watchdog check, so a locker run at scale 20 lives 20 seconds per real second: lock-outs, left-open
limits and chilled-zone reports come quickly in a demo or a test. Only the serial line keeps real
time (its pacing is real bytes on a real pty or socket).
"""
import time


class SimClock:
    def __init__(self, scale=1.0):
        if scale <= 0:
            raise ValueError("clock scale must be positive")
        self.scale = scale
        self._t0 = time.monotonic()

    def ms(self):
        return int((time.monotonic() - self._t0) * 1000.0 * self.scale) + 1

    def seconds(self, real_seconds):
        """Real seconds that make `real_seconds` of simulated time (for sleeps in tests)."""
        return real_seconds / self.scale
