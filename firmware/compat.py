# One place for the differences between MicroPython and CPython, so every other firmware module
# imports the same names on both runtimes (capability checks, not version checks).
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


try:
    from time import ticks_add, ticks_diff, ticks_ms
except ImportError:  # CPython: monotonic ints that never wrap, so a plain difference is right
    import time as _time

    def ticks_ms():
        return int(_time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b


try:
    import gc as _gc

    def collect():
        _gc.collect()
except ImportError:  # pragma: no cover

    def collect():
        pass


def u32_be(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


class TicksClock:
    """The board's monotonic millisecond clock (time.ticks_ms on MicroPython)."""

    def ms(self):
        return ticks_ms()
