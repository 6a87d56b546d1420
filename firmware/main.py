# Board entry point. Copied to the board's root as main.py (next to the protocol/ and firmware/
# folders). It only wires the real hardware from /config.json and starts the app; all logic lives
# in modules that receive their hardware, so the simulator can run them with a fake `machine`.
#
# /config.json (written at provisioning), pins are GPIO numbers:
# {"address": 3, "locker_id": "LK-0001", "key": "<32+ hex chars>", "compartments": 16,
#  "locks": {"type": "gpio", "kind": "solenoid", "pins": [...], "feedback_pins": [...]}
#        or {"type": "kerong" | "8a", "uart": 1, "tx": 17, "rx": 16, "baud": 19200, "boards": [0, 1],
#            "per_board": 16, "polarity": "hook_1_is_locked", "ir": true, "window_ms": 300}
#            (docs/lock-boards.md: every key but type and uart has the dialect's default),
#  "doors": {"pins": [...], "open_level": 1, "pull": "up"}, "occupancy": {"pins": [...]},
#  "bus": {"uart": 2, "tx": 25, "rx": 26, "de": 27, "baud": 9600},
#  "keypad": {"uart": 0, ...} or {"rows": [...], "cols": [...], "keys": "123456789*0#"},
#  "scanner": {"uart": ..., "baud": 9600},
#  "zones": [{"adc": 34, "relay": 5, "setpoint": 40, "hysteresis": 10}], "wdt_ms": 8000,
#  "display": {"type": "st7920", "spi": 2, "sck": 18, "mosi": 23, "cs": 5, "baud": 200000, "hold_s": 20}
#          or {"type": "segment", "uart": ..., "baud": 9600, "width": 8}   (none: no screen, as before),
#  "voice": {"type": "syn6288", "uart": ..., "tx": ..., "rx": ..., "baud": 9600}}   (none: silent)
import json

CONFIG = "/config.json"
FLASH = "/flash"

# machine.reset_cause() values -> protocol RESET_* numbers
_CAUSES = (("PWRON_RESET", 1), ("HARD_RESET", 2), ("WDT_RESET", 3), ("DEEPSLEEP_RESET", 4), ("SOFT_RESET", 5))


def reset_cause(machine):
    c = machine.reset_cause()
    for name, value in _CAUSES:
        if getattr(machine, name, None) == c:
            return value
    return 0


def wire(cfg, machine):
    """The hardware objects the config names, as the dict firmware.board.build() takes."""
    Pin = machine.Pin
    pull = {"up": Pin.PULL_UP, "down": getattr(Pin, "PULL_DOWN", None), None: None}

    def outputs(nums, off):
        return [Pin(n, Pin.OUT, value=off) for n in nums]

    def inputs(spec):
        p = pull[spec.get("pull", "up")]
        return [None if n is None else Pin(n, Pin.IN, p) for n in spec.get("pins", [])]

    def uart(spec):
        u = machine.UART(spec["uart"], baudrate=spec.get("baud", 9600))
        if "tx" in spec:
            u.init(baudrate=spec.get("baud", 9600), tx=Pin(spec["tx"]), rx=Pin(spec["rx"]))
        return u

    hw = {"reset_cause": reset_cause(machine), "uid": machine.unique_id(), "reset": machine.reset}
    locks = cfg.get("locks", {})
    if locks.get("type", "gpio") == "gpio":
        hw["lock_pins"] = outputs(locks["pins"], 1 - locks.get("active", 1))  # all off from the first instant
        if locks.get("feedback_pins"):
            hw["feedback_pins"] = inputs({"pins": locks["feedback_pins"], "pull": locks.get("pull", "up")})
    else:  # a lock board: its own factory baud unless the config says (Kerong 19200, 8A 9600)
        from firmware.lock_serial import DEFAULTS

        dflt = DEFAULTS.get(locks.get("type"), {}).get("baud", 9600)
        spec = dict(locks)
        spec["baud"] = locks.get("baud", dflt)
        hw["lock_uart"] = uart(spec)
    hw["door_pins"] = inputs(cfg["doors"])
    if cfg.get("occupancy"):
        hw["occupancy_pins"] = inputs(cfg["occupancy"])
    from firmware.rs485 import Rs485

    bus = cfg["bus"]
    hw["bus"] = Rs485(uart(bus), Pin(bus["de"], Pin.OUT, value=0) if "de" in bus else None)
    kp = cfg.get("keypad")
    if kp and "rows" in kp:  # a matrix keypad on GPIO, scanned by the firmware
        from firmware.compat import TicksClock
        from firmware.keypad_matrix import MatrixKeypad

        hw["keypad"] = MatrixKeypad(outputs(kp["rows"], 1), inputs({"pins": kp["cols"], "pull": "up"}),
                                    TicksClock(), kp.get("keys", "123456789*0#"))
    elif kp:
        hw["keypad"] = uart(kp)
    if cfg.get("scanner"):
        hw["scanner"] = uart(cfg["scanner"])
    hw["zones"] = [(machine.ADC(Pin(z["adc"])), Pin(z["relay"], Pin.OUT, value=1 - z.get("relay_on", 1)))
                   for z in cfg.get("zones", [])]
    disp = cfg.get("display") or {}
    if disp.get("type") == "st7920":
        # 200 kHz: the clock paces the controller, which serial mode cannot ask if it is busy (st7920.py)
        kw = {"baudrate": disp.get("baud", 200000), "polarity": 0, "phase": 0}
        if "sck" in disp:
            kw["sck"] = Pin(disp["sck"])
            kw["mosi"] = Pin(disp["mosi"])
        if "miso" in disp:  # unused (the LCD is write-only), but a port may claim a default pin for it
            kw["miso"] = Pin(disp["miso"])
        hw["lcd_spi"] = machine.SPI(disp.get("spi", 1), **kw)
        hw["lcd_cs"] = Pin(disp["cs"], Pin.OUT, value=0)  # the ST7920's chip select is active high
    elif disp.get("type") == "segment":
        hw["segment_uart"] = uart(disp)
    if (cfg.get("voice") or {}).get("type"):
        hw["voice_uart"] = uart(cfg["voice"])
    if cfg.get("wdt_ms"):
        hw["wdt"] = machine.WDT(timeout=cfg["wdt_ms"])
    return hw


def main():
    import time

    import machine

    from firmware import board
    from firmware.compat import TicksClock

    with open(CONFIG) as f:
        cfg = json.load(f)
    hw = wire(cfg, machine)
    hw["idle"] = lambda: time.sleep_ms(1)
    hw["sleep_ms"] = time.sleep_ms
    app = board.build(cfg, hw, TicksClock(), FLASH)
    board.run_forever(app, board.build_server(app, cfg, hw), time.sleep_ms)


if __name__ == "__main__":
    main()
