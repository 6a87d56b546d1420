"""Shims that let one source run on CPython and MicroPython."""
try:
    from micropython import const  # noqa: F401
except ImportError:  # CPython
    def const(x):
        return x
