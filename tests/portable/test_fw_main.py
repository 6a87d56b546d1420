# main.py's wiring, run on both runtimes with a minimal stand-in for `machine`: the config names
# pins and UARTs, wire() builds them, and the app and its protocol server come up on them.
from _fw_fakes import Clock, Uart, tmpdir

from firmware import board
from firmware import main as fw_main


class FakeMachine:
    PWRON_RESET = 1
    HARD_RESET = 2
    WDT_RESET = 3

    def __init__(self):
        self.pins = {}
        self.uarts = {}
        self.fed = 0
        m = self

        class Pin:
            IN = 0
            OUT = 1
            PULL_UP = 1
            PULL_DOWN = 2

            def __init__(self, n, mode=-1, pull=-1, value=None):
                self.n = n
                if value is not None:
                    m.pins[n] = value
                m.pins.setdefault(n, 0)

            def value(self, v=None):
                if v is None:
                    return m.pins[self.n]
                m.pins[self.n] = v

        class UART(Uart):
            def __init__(self, n, baudrate=9600):
                Uart.__init__(self)
                m.uarts[n] = self

            def init(self, **kw):
                pass

        class ADC:
            def __init__(self, pin):
                pass

            def read_u16(self):
                return 30000

        class WDT:
            def __init__(self, timeout=0):
                pass

            def feed(self):
                m.fed += 1

        self.Pin, self.UART, self.ADC, self.WDT = Pin, UART, ADC, WDT

    def reset_cause(self):
        return self.WDT_RESET

    def unique_id(self):
        return b"\xaa\xbb"

    def reset(self):
        raise RuntimeError("reset")


def _cfg(locks):
    return {"address": 2, "locker_id": "LK-9", "key": "00" * 16, "compartments": 3, "locks": locks,
            "doors": {"pins": [20, 21, 22]}, "occupancy": {"pins": [30, 31, None]},
            "bus": {"uart": 2, "tx": 4, "rx": 5, "de": 6, "baud": 9600}, "keypad": {"uart": 0},
            "zones": [{"adc": 34, "relay": 12}], "wdt_ms": 5000}


def test_wire_gpio_board_outputs_off_and_app_runs():
    mach = FakeMachine()
    cfg = _cfg({"type": "gpio", "active": 1, "pins": [10, 11, 12], "feedback_pins": [13, 14, 15]})
    hw = fw_main.wire(cfg, mach)
    assert [mach.pins[n] for n in (10, 11, 12)] == [0, 0, 0]
    assert hw["reset_cause"] == 3 and hw["uid"] == b"\xaa\xbb"
    assert hw["occupancy_pins"][2] is None
    app = board.build(cfg, hw, Clock(), tmpdir())
    server = board.build_server(app, cfg, hw)
    now = app.step()
    server.poll(now)
    app.feed(now)
    assert mach.fed == 1 and app.count == 3 and len(app.zones) == 1 and mach.pins[6] == 0


def test_wire_matrix_keypad():
    mach = FakeMachine()
    cfg = _cfg({"type": "gpio", "pins": [10, 11, 12]})
    cfg["keypad"] = {"rows": [40, 41, 42, 43], "cols": [44, 45, 46]}
    hw = fw_main.wire(cfg, mach)
    assert hw["keypad"].any() == 0 and [mach.pins[n] for n in (40, 41, 42, 43)] == [1, 1, 1, 1]


def test_wire_lock_board_on_a_uart():
    mach = FakeMachine()
    cfg = _cfg({"type": "kerong", "uart": 1, "baud": 9600})
    hw = fw_main.wire(cfg, mach)
    app = board.build(cfg, hw, Clock(), tmpdir())
    for _ in range(3):
        app.clock.advance(300)
        app.step()
    assert mach.uarts[1].take()[:3] == bytes((0x02, 0x00, 0x30))  # status query to lock board 0
