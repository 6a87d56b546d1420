"""A fake MicroPython `machine` module, so firmware/ runs unmodified on CPython.

Every board of a simulated locker runs in its own thread; the thread's `SimHardware` (set with
`use()`) is what Pin(5) or UART(1) refer to, just as a pin number means that board's own pin on
real hardware. `install()` puts this module in sys.modules as `machine`.
"""
import sys
import threading
import time

from hardware_sim.fakes import Uart

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_ctx = threading.local()


class SimReset(BaseException):
    """Raised in a board thread by machine.reset() or the watchdog: the board restarts.

    A BaseException, so the firmware's `except Exception` never swallows it (nor does it on a real
    board, where reset() does not return)."""

    def __init__(self, cause):
        super().__init__("reset cause %d" % cause)
        self.cause = cause


class PowerLoss(BaseException):
    """The simulated supply dropped: the board thread stops exactly where it was."""


class PinLine:
    """One wire: its level and, for inputs, what drives it. Shared by the firmware and the physics.
    Not hardware_sim/fakes.py's Pin: a wire fires the IRQ handlers on its edges and keeps no history
    of its levels (a simulated locker runs for hours); machine.Pin below is MicroPython's API on it."""

    def __init__(self, value=0):
        self.v = value
        self.mode = None
        self.handlers = []

    def set(self, v):
        v = 1 if v else 0
        if v != self.v:
            self.v = v
            for h in list(self.handlers):
                h(v)


class SimUart(Uart):
    """A UART's receive buffer (filled by the world, from other threads: hence the lock) and its
    transmit sink (read by the world): hardware_sim/fakes.py's Uart receive side with a lock. Written
    bytes go to the sink as they are written (none: nowhere, like an unconnected TX pin), not to `tx`."""

    def __init__(self, sink=None):
        Uart.__init__(self)
        self.sink = sink  # callable(bytes) or None
        self._lock = threading.Lock()
        self.baudrate = 9600
        self.written = 0

    def feed(self, data):
        with self._lock:
            Uart.feed(self, data)

    def clear(self):
        with self._lock:
            self.rx = bytearray()

    def read(self, n=-1):
        with self._lock:
            return Uart.read(self, n)

    def write(self, data):
        self.written += len(data)
        if self.sink is not None:
            self.sink(bytes(data))
        return len(data)


class SimSpiBus:
    """An SPI bus's MOSI: what the firmware writes goes to the device wired to it (sink), if any."""

    def __init__(self):
        self.sink = None  # callable(bytes)
        self.baudrate = 0
        self.written = 0

    def write(self, data):
        data = bytes(data)
        self.written += len(data)
        if self.sink is not None:
            self.sink(data)


class SimHardware:
    """Everything one board's `machine` calls reach."""

    def __init__(self, uid=b"\x00" * 6, reset_cause=PWRON_RESET):
        self.pins = {}
        self.uarts = {}
        self.spis = {}
        self.adcs = {}  # pin id -> callable() -> u16
        self.uid = uid
        self.reset_cause = reset_cause
        self.wdt_timeout_ms = None
        self.wdt_fed = None

    def line(self, pin_id):
        if pin_id not in self.pins:
            self.pins[pin_id] = PinLine()
        return self.pins[pin_id]

    def uart(self, uart_id):
        if uart_id not in self.uarts:
            self.uarts[uart_id] = SimUart()
        return self.uarts[uart_id]

    def spi(self, spi_id):
        if spi_id not in self.spis:
            self.spis[spi_id] = SimSpiBus()
        return self.spis[spi_id]


def use(hw):
    """Make `hw` the hardware of the calling thread."""
    _ctx.hw = hw


def current():
    hw = getattr(_ctx, "hw", None)
    if hw is None:
        raise RuntimeError("no simulated board in this thread (hardware_sim.machine.use(hw) first)")
    return hw


def install():
    sys.modules["machine"] = sys.modules[__name__]


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self._line = current().line(pin_id)
        if mode != -1:
            self._line.mode = mode
        if value is not None:
            self._line.set(value)

    def init(self, mode=-1, pull=-1, value=None):
        if value is not None:
            self._line.set(value)

    def value(self, v=None):
        if v is None:
            return self._line.v
        self._line.set(v)
        return None

    __call__ = value

    def on(self):
        self._line.set(1)

    def off(self):
        self._line.set(0)

    def irq(self, handler=None, trigger=IRQ_RISING | IRQ_FALLING):
        # The handler runs on the physics thread, as an IRQ interrupts whatever the CPU was doing.
        line = self._line
        pin = self

        def fire(v):
            if (v and trigger & Pin.IRQ_RISING) or (not v and trigger & Pin.IRQ_FALLING):
                handler(pin)

        if handler is not None:
            line.handlers.append(fire)


class UART:
    def __init__(self, uart_id, baudrate=9600, **kw):
        self._port = current().uart(uart_id)
        self._port.baudrate = baudrate

    def init(self, baudrate=9600, **kw):
        self._port.baudrate = baudrate

    def any(self):
        return self._port.any()

    def read(self, n=-1):
        return self._port.read(n)

    def write(self, data):
        return self._port.write(data)

    def flush(self):
        pass


class SPI:
    """A write-only SPI master (the board's displays need no MISO)."""

    def __init__(self, spi_id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None,
                 miso=None):
        self._bus = current().spi(spi_id)
        self._bus.baudrate = baudrate

    def init(self, baudrate=1000000, **kw):
        self._bus.baudrate = baudrate

    def write(self, data):
        self._bus.write(data)

    def deinit(self):
        pass


class ADC:
    def __init__(self, pin, atten=None):
        self._hw = current()
        self._id = pin.id if isinstance(pin, Pin) else pin

    def read_u16(self):
        reader = self._hw.adcs.get(self._id)
        return reader() if reader is not None else 0


class WDT:
    def __init__(self, id=0, timeout=5000):
        hw = current()
        hw.wdt_timeout_ms = timeout
        hw.wdt_fed = time.monotonic()
        self._hw = hw

    def feed(self):
        self._hw.wdt_fed = time.monotonic()


def reset():
    raise SimReset(HARD_RESET)


def soft_reset():
    raise SimReset(SOFT_RESET)


def reset_cause():
    return current().reset_cause


def unique_id():
    return current().uid


def freq(hz=None):
    return 240000000


def idle():
    time.sleep(0.001)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
