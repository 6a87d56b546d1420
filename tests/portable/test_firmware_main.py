# main.py's wiring, run on both runtimes with a minimal stand-in for `machine`: the config names
# pins and UARTs, wire() builds them, and the app and its protocol server come up on them.
from _firmware_fakes import tmpdir

from firmware import board, gb2312, prompts, syn6288
from firmware import main as fw_main
from firmware import prompt_keys as K
from hardware_sim.fakes import Clock, Uart


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

        class SPI:
            def __init__(self, n, baudrate=0, polarity=0, phase=0, sck=None, mosi=None):
                self.baudrate = baudrate
                self.writes = []  # (level of pin 5, the LCD's chip select, at the write; bytes)
                m.spis[n] = self

            def write(self, buf):
                self.writes.append((m.pins.get(5), bytes(buf)))

        self.spis = {}
        self.Pin, self.UART, self.ADC, self.WDT, self.SPI = Pin, UART, ADC, WDT, SPI

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


def test_a_config_without_display_or_voice_keeps_the_old_behaviour():
    mach = FakeMachine()
    cfg = _cfg({"type": "gpio", "pins": [10, 11, 12]})
    hw = fw_main.wire(cfg, mach)
    assert "lcd_spi" not in hw and "voice_uart" not in hw and mach.spis == {}
    assert board.build(cfg, hw, Clock(), tmpdir()).ui is None  # no screen at all, as before
    shown = []
    hw["ui"] = shown.append  # a text callable, as the simulator used to pass: the English prompts
    app = board.build(cfg, hw, Clock(), tmpdir())
    assert app.enter_code(b"12345678", 1) == "wrong" and shown == ["WRONG"]


def test_wire_st7920_lcd_and_syn6288_voice():
    mach = FakeMachine()
    cfg = _cfg({"type": "gpio", "pins": [10, 11, 12]})
    cfg["display"] = {"type": "st7920", "spi": 2, "sck": 18, "mosi": 23, "cs": 5}
    cfg["voice"] = {"type": "syn6288", "uart": 3, "baud": 9600}
    hw = fw_main.wire(cfg, mach)
    assert mach.spis[2].baudrate == 200000 and mach.pins[5] == 0
    app = board.build(cfg, hw, Clock(), tmpdir())
    spi = mach.spis[2]
    # initialised (function set twice, display on, entry mode), then the idle prompt, CS high each time
    assert [w[1] for w in spi.writes[:4]] == [b"\xf8\x30\x00", b"\xf8\x30\x00", b"\xf8\x00\xc0", b"\xf8\x00\x60"]
    assert spi.writes[4] == (1, b"\xf8\x80\x00") and all(w[0] == 1 for w in spi.writes)
    del spi.writes[:]
    assert app.enter_code(b"12345678", 1) == "wrong"
    assert spi.writes[0][1] == b"\xf8\x80\x00" and spi.writes[1][1][:3] == b"\xfa\xc0\x80"  # 0xC8 (取)
    said = gb2312.encode(prompts.spoken(K.WRONG_CODE))
    assert mach.uarts[3].take() == bytes(syn6288.frame(said))


def test_wire_segment_display():
    mach = FakeMachine()
    cfg = _cfg({"type": "gpio", "pins": [10, 11, 12]})
    cfg["display"] = {"type": "segment", "uart": 4, "width": 8}
    app = board.build(cfg, fw_main.wire(cfg, mach), Clock(), tmpdir())
    assert mach.uarts[4].take() == b"\r\n"  # the idle prompt: a blank line
    app.enter_code(b"12345678", 1)
    assert mach.uarts[4].take() == b"WRONG\r\n"


def test_an_unknown_display_or_voice_is_refused():
    for key, spec in (("display", {"type": "oled"}), ("voice", {"type": "jq8900", "uart": 3})):
        mach = FakeMachine()
        cfg = _cfg({"type": "gpio", "pins": [10, 11, 12]})
        cfg[key] = spec
        try:
            board.build(cfg, fw_main.wire(cfg, mach), Clock(), tmpdir())
        except ValueError as exc:
            assert key in str(exc)
        else:
            raise AssertionError("%s %r accepted" % (key, spec))
