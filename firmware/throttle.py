# Wrong-code throttle for the whole board, kept on flash so pulling the power does not reset it.
# The first FREE wrong attempts cost nothing; every further wrong attempt locks the keypad and the
# scanner out for BASE_MS * 2**level (level grows by one each time, capped at MAX_MS). A correct
# code, or QUIET_MS without any wrong attempt, forgives everything. After a reboot a lock-out that
# was still running restarts in full (the board cannot know how long it was off): the safe side.
# Deadlines are dropped as soon as they pass (poll() runs from the app's housekeeping), so ticks
# that wrap (every 12.4 days on MicroPython) never revive an old lock-out.
from firmware.compat import ticks_add, ticks_diff, u32_be

FREE = 3
BASE_MS = 30000
MAX_MS = 3600000
QUIET_MS = 3600000


class Throttle:
    def __init__(self, flash, now, free=FREE, base_ms=BASE_MS, max_ms=MAX_MS, quiet_ms=QUIET_MS):
        self.flash = flash
        self.free = free
        self.base_ms = base_ms
        self.max_ms = max_ms
        self.quiet_ms = quiet_ms
        self.fails = 0
        self.level = 0
        self._lock_ms = 0  # the lock-out in force (0: none), as saved
        self._until = None
        self._forgive_at = None
        raw = flash.read_atomic("throttle")
        if raw is not None and len(raw) >= 7:
            self.fails = (raw[0] << 8) | raw[1]
            self.level = raw[2]
            self._lock_ms = u32_be(raw, 3)
            if self._lock_ms:
                self._until = ticks_add(now, self._lock_ms)
            if self.fails or self.level:
                self._forgive_at = ticks_add(now, quiet_ms)

    def poll(self, now):
        if self._until is not None and ticks_diff(now, self._until) >= 0:
            self._until = None
            self._lock_ms = 0
            self._save()
        if self._forgive_at is not None and ticks_diff(now, self._forgive_at) >= 0:
            self._forgive_at = None
            self.success()

    def remaining_ms(self, now):
        self.poll(now)
        if self._until is None:
            return 0
        return ticks_diff(self._until, now)

    def locked(self, now):
        return self.remaining_ms(now) > 0

    def failure(self, now):
        """Count a wrong code; returns the lock-out now in force (ms, 0 for none)."""
        self.poll(now)
        self.fails += 1
        self._forgive_at = ticks_add(now, self.quiet_ms)
        self._lock_ms = 0
        self._until = None
        if self.fails > self.free:
            ms = self.base_ms << self.level if self.level < 20 else self.max_ms
            self._lock_ms = ms if ms < self.max_ms else self.max_ms
            if self.level < 255:
                self.level += 1
            self._until = ticks_add(now, self._lock_ms)
        self._save()
        return self._lock_ms

    def success(self):
        if self.fails or self.level or self._lock_ms:
            self.fails = 0
            self.level = 0
            self._lock_ms = 0
            self._until = None
            self._forgive_at = None
            self._save()

    def _save(self):
        b = bytearray(7)
        b[0] = (self.fails >> 8) & 0xFF
        b[1] = self.fails & 0xFF
        b[2] = self.level
        b[3:7] = self._lock_ms.to_bytes(4, "big")
        self.flash.write_atomic("throttle", b)
