# Debounced binary inputs (door switches, occupancy sensors, lock feedback pins). A reading must
# hold for debounce_ms before it counts, so contact bounce never produces a spurious event.
from firmware.compat import ticks_diff


class DebouncedInputs:
    def __init__(self, pins, active_level=1, debounce_ms=30, now=0):
        self.pins = pins  # objects with .value(); None where nothing is wired
        self.active_level = active_level
        self.debounce_ms = debounce_ms
        n = len(pins)
        self.stable = bytearray(n)
        self._cand = bytearray(n)
        self._since = [now] * n
        for i in range(n):
            v = self._raw(i)
            self.stable[i] = v
            self._cand[i] = v

    def __len__(self):
        return len(self.pins)

    def wired(self, i):
        return self.pins[i] is not None

    def _raw(self, i):
        p = self.pins[i]
        return 1 if p is not None and p.value() == self.active_level else 0

    def poll(self, now, changed):
        """Sample every input; append the index of each input whose stable state changed."""
        for i in range(len(self.pins)):
            if self.pins[i] is None:
                continue
            v = self._raw(i)
            if v != self._cand[i]:
                self._cand[i] = v
                self._since[i] = now
            elif v != self.stable[i] and ticks_diff(now, self._since[i]) >= self.debounce_ms:
                self.stable[i] = v
                changed.append(i)

    def settling(self, i):
        """True while a new reading is waiting out its debounce time."""
        return self._cand[i] != self.stable[i]

    def active(self, i):
        return self.stable[i] == 1
