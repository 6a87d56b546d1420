# Locks driven straight from GPIO through a driver chip (ULN2803 or MOSFETs): one output per lock.
# A pulse is bounded (default 500 ms solenoid, 1000 ms motor); only one lock is energised at a
# time (the supply is sized for one); each lock rests at least `rest_factor` times its pulse
# before the next one, so no coil runs beyond its duty cycle. All outputs are off at boot.
from firmware.compat import ticks_add, ticks_diff
from firmware.lock_queue import LockQueue

PULSE_MS = {"solenoid": 500, "motor": 1000}


class GpioLocks(LockQueue):
    def __init__(self, pins, kind="solenoid", pulse_ms=0, rest_factor=4, gap_ms=50, active_level=1,
                 feedback=None, now=0):
        if kind not in PULSE_MS:
            raise ValueError("lock kind must be solenoid or motor")
        LockQueue.__init__(self, len(pins))
        self.pins = pins
        self.pulse_ms = pulse_ms or PULSE_MS[kind]
        self.rest_ms = self.pulse_ms * rest_factor
        self.gap_ms = gap_ms
        self.on_level = active_level
        self.feedback_inputs = feedback  # DebouncedInputs, active = latch released; or None
        self._on = -1
        self._on_at = now
        # Rest and gap deadlines are kept only while they run and dropped once passed, so ticks
        # that wrap (every 12.4 days on MicroPython) never turn an old time into a new wait.
        self._gap_until = None
        self._resting = []  # [lock, until]
        self.faults = []  # same interface as the lock-board drivers; GPIO has none to report
        self.all_off()

    def all_off(self):
        for p in self.pins:
            p.value(1 - self.on_level)
        self._on = -1

    def release(self, lock, now):
        """The door is open: switch this lock's coil off early (saves the coil and the next lock's wait)."""
        if self._on == lock:
            self.pins[lock].value(1 - self.on_level)
            self._switched_off(lock, now)

    def stuck(self, now):
        """True if a coil has been on far longer than its pulse (the loop or a pin is broken)."""
        return self._on >= 0 and ticks_diff(now, self._on_at) > 3 * self.pulse_ms

    def pending(self, lock):
        if self._on == lock:
            return True
        for q in self._queue:
            if q[0] == lock:
                return True
        return False

    def poll(self, now):
        if self._on >= 0:
            if ticks_diff(now, self._on_at) >= self.pulse_ms:
                self.pins[self._on].value(1 - self.on_level)
                self._switched_off(self._on, now)
            return
        rs = self._resting
        k = 0
        while k < len(rs):
            if ticks_diff(now, rs[k][1]) >= 0:
                rs.pop(k)
            else:
                k += 1
        if self._gap_until is not None:
            if ticks_diff(now, self._gap_until) < 0:
                return
            self._gap_until = None
        for k in range(len(self._queue)):
            lock, cb = self._queue[k]
            if not self._is_resting(lock):
                self._queue.pop(k)
                self._on = lock
                self._on_at = now
                self.pins[lock].value(self.on_level)
                cb(lock, True, now)
                return

    def _switched_off(self, lock, now):
        self._on = -1
        self._gap_until = ticks_add(now, self.gap_ms)
        self._resting.append([lock, ticks_add(now, self.rest_ms)])

    def _is_resting(self, lock):
        for r in self._resting:
            if r[0] == lock:
                return True
        return False

    def feedback(self, lock):
        """True when the latch reports released, False engaged, None when not wired."""
        fb = self.feedback_inputs
        if fb is None or not fb.wired(lock):
            return None
        return fb.active(lock)

    def poll_inputs(self, now, changed):
        if self.feedback_inputs is not None:
            self.feedback_inputs.poll(now, changed)

    def healthy(self):
        return True
