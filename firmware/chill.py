# Chilled zones: a probe per zone, a cooling relay driven with hysteresis, minimum on and off times
# to spare the compressor, readings journaled periodically (TEMPERATURE), an excursion journaled
# when it begins (TEMP_EXCURSION) and a reading when it ends. If the probe fails the relay cycles
# (min on / min off) so produce is not left warm, and a TEMPERATURE with the protocol's
# "unavailable" value (-32768) is journaled; the next good reading is journaled at once.
from firmware import events as ev
from firmware.compat import ticks_add, ticks_diff


class Zone:
    def __init__(self, index, probe, relay, setpoint=40, hysteresis=10, excursion=40, relay_on=1,
                 min_on_ms=60000, min_off_ms=180000, report_ms=600000, excursion_ms=300000, now=0):
        # temperatures in tenths of a degree C
        self.index = index
        self.probe = probe  # object with read() -> tenths (int) or None when the probe fails
        self.relay = relay
        self.setpoint = setpoint
        self.hysteresis = hysteresis
        self.excursion = excursion  # allowed rise above the setpoint before it counts as one
        self.relay_on = relay_on
        self.min_on_ms = min_on_ms
        self.min_off_ms = min_off_ms
        self.report_ms = report_ms
        self.excursion_ms = excursion_ms
        self.temp = None
        self.cooling = False
        self.probe_failed = False
        # deadlines, dropped once passed (ticks wrap on MicroPython): None = may switch / report now
        self._hold_until = None
        self._next_report = None
        self._warm_since = None
        self._in_excursion = False
        relay.value(1 - relay_on)

    def _set_relay(self, on, now):
        if on != self.cooling:
            self.cooling = on
            self._hold_until = ticks_add(now, self.min_on_ms if on else self.min_off_ms)
            self.relay.value(self.relay_on if on else 1 - self.relay_on)

    def poll(self, now, emit):
        t = self.probe.read()
        if self._hold_until is not None and ticks_diff(now, self._hold_until) >= 0:
            self._hold_until = None
        may_switch = self._hold_until is None
        if t is None:
            if not self.probe_failed:
                self.probe_failed = True
                emit(ev.TEMPERATURE, ev.BOARD, bytes((self.index,)) + ev.i16(ev.TEMP_INVALID))
            self.temp = None
            if may_switch:
                self._set_relay(not self.cooling, now)
            return
        if self.probe_failed:
            self.probe_failed = False
            self._next_report = None  # report the first good reading at once
        self.temp = t
        if may_switch:
            if t > self.setpoint + self.hysteresis:
                self._set_relay(True, now)
            elif t < self.setpoint - self.hysteresis:
                self._set_relay(False, now)
        if t > self.setpoint + self.excursion:
            if self._warm_since is None:
                self._warm_since = now
            elif not self._in_excursion and ticks_diff(now, self._warm_since) >= self.excursion_ms:
                self._in_excursion = True
                emit(ev.TEMP_EXCURSION, ev.BOARD, bytes((self.index,)) + ev.i16(t))
        elif self._warm_since is not None:
            if self._in_excursion:  # back in range: a reading marks the end of the excursion
                self._next_report = ticks_add(now, self.report_ms)
                emit(ev.TEMPERATURE, ev.BOARD, bytes((self.index,)) + ev.i16(t))
            self._warm_since = None
            self._in_excursion = False
        if self._next_report is None or ticks_diff(now, self._next_report) >= 0:
            self._next_report = ticks_add(now, self.report_ms)
            emit(ev.TEMPERATURE, ev.BOARD, bytes((self.index,)) + ev.i16(t))
