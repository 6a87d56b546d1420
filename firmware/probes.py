# Temperature probes: an NTC thermistor in a divider read by an ADC (read_u16), reported in
# tenths of a degree C. The simulator uses adc_for() to produce the reading a real probe would.
import math

_K0 = 273.15


class NtcProbe:
    def __init__(self, adc, beta=3950, r25=10000, r_fixed=10000):
        self.adc = adc
        self.beta = beta
        self.r25 = r25
        self.r_fixed = r_fixed

    def read(self):
        v = self.adc.read_u16()
        if v <= 200 or v >= 65335:  # open or shorted probe
            return None
        r = self.r_fixed * v / (65535 - v)  # thermistor on the low side of the divider
        t = 1.0 / (1.0 / (25 + _K0) + math.log(r / self.r25) / self.beta) - _K0
        return int(round(t * 10))


def adc_for(tenths, beta=3950, r25=10000, r_fixed=10000):
    t = tenths / 10.0 + _K0
    r = r25 * math.exp(beta * (1.0 / t - 1.0 / (25 + _K0)))
    return int(round(65535 * r / (r + r_fixed)))
