# A matrix keypad (rows driven, columns read) scanned by the firmware, offered through the same
# any()/read() interface as a serial keypad so the app cannot tell them apart. One row is scanned
# per call, a key counts once it has been held debounce_ms, and it repeats only after release.
from firmware.compat import ticks_diff

KEYS_4X3 = "123456789*0#"


class MatrixKeypad:
    def __init__(self, rows, cols, clock, keys=KEYS_4X3, pressed_level=0, debounce_ms=30):
        if len(keys) != len(rows) * len(cols):
            raise ValueError("need one key per row and column")
        self.rows = rows  # output pins; the scanned row is driven to pressed_level
        self.cols = cols  # input pins with pull-ups
        self.clock = clock
        self.keys = keys
        self.level = pressed_level
        self.debounce_ms = debounce_ms
        self._row = 0
        self._down = -1  # key index held now
        self._since = 0
        self._sent = False
        self._buf = bytearray()
        for p in rows:
            p.value(1 - pressed_level)

    def _scan(self):
        now = self.clock.ms()
        r = self._row
        self.rows[r].value(self.level)
        hit = -1
        for c in range(len(self.cols)):
            if self.cols[c].value() == self.level:
                hit = r * len(self.cols) + c
                break
        self.rows[r].value(1 - self.level)
        if hit >= 0:
            if hit != self._down:
                self._down = hit
                self._since = now
                self._sent = False
            elif not self._sent and ticks_diff(now, self._since) >= self.debounce_ms:
                self._sent = True
                self._buf.append(ord(self.keys[hit]))
        elif self._down // len(self.cols) == r:
            self._down = -1  # released (its row shows nothing)
        self._row = (r + 1) % len(self.rows)

    def any(self):
        self._scan()
        return len(self._buf)

    def read(self, n=-1):
        data = bytes(self._buf)
        self._buf = bytearray()
        return data
