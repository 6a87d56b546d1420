# Builds the app from a board config (the JSON written at provisioning) and the hardware main.py
# wired from it, and runs the loop. The simulator calls the same functions with its fake machine.
from firmware.app import App
from firmware.chill import Zone
from firmware.flash import Flash
from firmware.inputs import DebouncedInputs
from firmware.lock_gpio import GpioLocks
from firmware.lock_serial import KerongLocks, X8aLocks
from firmware.probes import NtcProbe

LOCK_TYPES = ("gpio", "kerong", "8a")
DISPLAY_TYPES = ("st7920", "segment")
VOICE_TYPES = ("syn6288",)


def make_locks(cfg, hw, now):
    lk = cfg.get("locks", {})
    kind = lk.get("type", "gpio")
    n = cfg["compartments"]
    if kind == "gpio":
        fb = None
        if hw.get("feedback_pins"):
            fb = DebouncedInputs(hw["feedback_pins"], lk.get("feedback_released", 1), 20, now)
        return GpioLocks(hw["lock_pins"], lk.get("kind", "solenoid"), lk.get("pulse_ms", 0),
                         lk.get("rest_factor", 4), lk.get("gap_ms", 50), lk.get("active", 1), fb, now)
    if kind == "kerong":
        return KerongLocks(hw["lock_uart"], n, now=now, timeout_ms=lk.get("timeout_ms", 150))
    if kind == "8a":
        return X8aLocks(hw["lock_uart"], n, lk.get("per_board", 24), now=now, timeout_ms=lk.get("timeout_ms", 150))
    raise ValueError("locks.type must be one of gpio, kerong, 8a")


def make_ui(cfg, hw, clock):
    """The person's screen and voice (firmware.ui.Ui) from the config's "display" and "voice", or None.
    A config with neither keeps what boards did before them: a `ui` text callable in hw (the English
    prompts), or no screen at all. The modules load only when a config names the hardware."""
    dcfg = cfg.get("display") or {}
    vcfg = cfg.get("voice") or {}
    kind = dcfg.get("type")
    voice_kind = vcfg.get("type")
    if kind is not None and kind not in DISPLAY_TYPES:
        raise ValueError("display.type must be one of %s" % ", ".join(DISPLAY_TYPES))
    if voice_kind is not None and voice_kind not in VOICE_TYPES:
        raise ValueError("voice.type must be one of %s" % ", ".join(VOICE_TYPES))
    if kind is None and voice_kind is None and hw.get("ui") is None:
        return None
    from firmware import ui

    if kind == "st7920":
        from firmware.st7920 import St7920

        lcd = St7920(hw["lcd_spi"], hw["lcd_cs"], hw.get("sleep_ms"))
        lcd.init()
        screen = ui.LcdScreen(lcd)
    elif kind == "segment":
        screen = ui.SegmentScreen(hw["segment_uart"].write, dcfg.get("width", 0), True)
    else:
        screen = ui.SegmentScreen(hw["ui"]) if hw.get("ui") is not None else None
    voice = None
    if voice_kind == "syn6288":
        from firmware.syn6288 import Syn6288

        voice = Syn6288(hw["voice_uart"])
    # the idle prompt only on a configured screen: a legacy text callable sees prompts as before
    return ui.Ui(clock, screen, voice, dcfg.get("hold_s", 20) * 1000 if kind else 0)


def build(cfg, hw, clock, flash_root):
    """The App for this config and hardware (hw: what main.wire() returned; hw["flash"] may hold
    a Flash-like object to use instead of Flash(flash_root), hw["ui"] a text callable for the person's
    prompts when the config names no display)."""
    now = clock.ms()
    n = cfg["compartments"]
    if not 1 <= n <= 128:
        raise ValueError("compartments must be 1..128")
    if len(cfg.get("zones", [])) > 8:
        raise ValueError("at most 8 chilled zones")
    dcfg = cfg.get("doors", {})
    doors = DebouncedInputs(hw["door_pins"], dcfg.get("open_level", 1), dcfg.get("debounce_ms", 30), now)
    occ = None
    if hw.get("occupancy_pins"):
        occ = DebouncedInputs(hw["occupancy_pins"], cfg.get("occupancy", {}).get("active", 1), 200, now)
    zones = []
    zcfg = cfg.get("zones", [])
    zhw = hw.get("zones", [])
    for i in range(min(len(zcfg), len(zhw))):
        z = zcfg[i]
        adc, relay = zhw[i]
        zones.append(Zone(i, NtcProbe(adc), relay, z.get("setpoint", 40), z.get("hysteresis", 10),
                          z.get("excursion", 40), z.get("relay_on", 1), z.get("min_on_ms", 60000),
                          z.get("min_off_ms", 180000), z.get("report_ms", 600000),
                          z.get("excursion_ms", 300000), now))
    flash = hw.get("flash") or Flash(flash_root)
    return App(cfg, clock, flash, make_locks(cfg, hw, now), doors, occ, hw.get("keypad"),
               hw.get("scanner"), zones, hw.get("wdt"), hw.get("reset_cause", 0), hw.get("uid", b""),
               make_ui(cfg, hw, clock))


def build_server(app, cfg, hw):
    from firmware.proto_server import BusServer

    server = BusServer(app, hw["bus"], cfg, hw.get("idle"), hw.get("reset"))
    if cfg.get("fw_pubkeys"):
        # updater: firmware updates over the link when the config names the public keys that sign firmware
        # (docs/firmware-delivery.md); a config with only the retired HMAC "fw_keys" takes no updates
        from firmware import update_handler
        update_handler.attach(server, app, cfg, hw.get("fw_root", "/"), hw.get("fw_fs"))
    return server


def run_forever(app, server, sleep_ms, log=print):
    """The main loop. A step that raises is logged and the watchdog goes unfed for it, so a fault
    that keeps recurring ends in a watchdog reset instead of a board that looks alive but is not."""
    while True:
        try:
            now = app.step()
            server.poll(now)
            app.feed(now)
        except Exception as exc:  # noqa: B902 - any firmware fault: keep the doors loop alive
            log("loop error: %r" % (exc,))
        sleep_ms(2)
