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


def build(cfg, hw, clock, flash_root):
    """The App for this config and hardware (hw: what main.wire() returned; hw["flash"] may hold
    a Flash-like object to use instead of Flash(flash_root))."""
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
               hw.get("ui"))


def build_server(app, cfg, hw):
    from firmware.proto_server import BusServer

    server = BusServer(app, hw["bus"], cfg, hw.get("idle"), hw.get("reset"))
    if cfg.get("fw_pubkeys"):
        # fwupdate: firmware updates over the link when the config names the public keys that sign firmware
        # (docs/firmware-delivery.md); a config with only the retired HMAC "fw_keys" takes no updates
        from firmware import fw_handler
        fw_handler.attach(server, app, cfg, hw.get("fw_root", "/"), hw.get("fw_fs"))
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
