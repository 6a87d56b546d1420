# Chilled zones: a probe per zone, a cooling relay driven with hysteresis, minimum on and off times
# to spare the compressor, readings journaled periodically and excursions journaled when they
# start and end. If the probe fails the relay cycles (min on / min off) so produce is not left
# warm, and a SENSOR_FAULT is journaled.
from firmware import events as ev
from firmware.compat import ticks_diff


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
        self._switched = now - min_off_ms  # the compressor may start at once after boot
        self._reported = now - report_ms
        self._warm_since = None
        self._in_excursion = False
        relay.value(1 - relay_on)

    def _set_relay(self, on, now):
        if on != self.cooling:
            self.cooling = on
            self._switched = now
            self.relay.value(self.relay_on if on else 1 - self.relay_on)

    def poll(self, now, emit):
        t = self.probe.read()
        held = ticks_diff(now, self._switched)
        may_switch = held >= (self.min_on_ms if self.cooling else self.min_off_ms)
        if t is None:
            if not self.probe_failed:
                self.probe_failed = True
                emit(ev.SENSOR_FAULT, ev.BOARD, bytes((0xFF, ev.WHAT_PROBE, self.index)))
            self.temp = None
            if may_switch:
                self._set_relay(not self.cooling, now)
            return
        if self.probe_failed:
            self.probe_failed = False
            emit(ev.SENSOR_FAULT, ev.BOARD, bytes((0, ev.WHAT_PROBE, self.index)))
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
                secs = ticks_diff(now, self._warm_since) // 1000
                emit(ev.TEMP_EXCURSION, ev.BOARD, bytes((self.index,)) + ev.i16(t) + bytes((1,)) + ev.u16(secs))
        elif self._warm_since is not None:
            if self._in_excursion:
                secs = ticks_diff(now, self._warm_since) // 1000
                emit(ev.TEMP_EXCURSION, ev.BOARD, bytes((self.index,)) + ev.i16(t) + bytes((0,)) + ev.u16(secs))
            self._warm_since = None
            self._in_excursion = False
        if ticks_diff(now, self._reported) >= self.report_ms:
            self._reported = now
            emit(ev.TEMPERATURE, ev.BOARD, bytes((self.index,)) + ev.i16(t) + bytes((1 if self.cooling else 0,)))
