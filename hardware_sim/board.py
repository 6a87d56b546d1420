"""One simulated controller board: its config file and flash directory, its power, and the thread
that runs the real firmware (firmware/main.py's wiring + firmware/board.py) against the fake
`machine`.

Pin map of a simulated board (the config it writes uses these numbers):
    lock coils 100+i, door switches 200+i, latch feedback 300+i, occupancy 400+i,
    chilled-zone relays 500+z, probe ADCs 600+z, the LCD's chip select 700;
    UART 1 = RS-485 bus, 2 = commercial lock board, 3 = keypad, 4 = QR scanner, 5 = voice module,
    6 = segment display; SPI 1 = the ST7920 LCD.

What the person at the board sees and hears is decoded from what the firmware sent to the simulated
devices (hardware_sim/st7920.py, hardware_sim/syn6288.py): `display` lists every screen shown (its
rows, one line each), `spoken` every utterance, screen() is the screen now.

Its flash is a SimFlash (hardware_sim/flash.py) under the board's directory: flash/ for the journal
and state files and, on a board provisioned with firmware slots, fw/ for the slots the boot selector
picks from on every boot. The power can fail at a chosen byte or a chosen change of either
(power_off(at_byte=...) / power_off(when=...), also armed for the next boot); with `power_back_s`
the supply comes back by itself that long after such a cut, as after a brown-out, and the board
boots again from whatever its flash holds. `cuts` describes every cut, `fw_boots` lists the
(slot, version) of every boot from slots, `selftest_fail` names a self-test check that fails.
"""
import hashlib
import json
import os
import threading
import time
import traceback

from firmware import board as fw_board
from firmware import boot_select, slot_layout, update_image
from firmware import main as fw_main
from hardware_sim import machine
from hardware_sim.flash import SimFlash
from hardware_sim import lockboards
from hardware_sim.modbus_relays import ModbusRelaysSim, modbus_config
from hardware_sim.physics import ChillZone, Compartment
from hardware_sim.st7920 import SimSt7920
from hardware_sim.syn6288 import SimSyn6288

LOCK, DOOR, FEEDBACK, OCCUPANCY, RELAY, ADC, LCD_CS = 100, 200, 300, 400, 500, 600, 700
BUS_UART, LOCK_UART, KEYPAD_UART, SCANNER_UART, VOICE_UART, SEGMENT_UART = 1, 2, 3, 4, 5, 6
LCD_SPI = 1
DISPLAYS = ("st7920", "segment", None)
VOICES = ("syn6288", None)


def default_key(address, locker_id="LK-SIM"):
    """The key a simulated board gets unless one is given (deterministic, for demos and tests)."""
    return hashlib.sha256(("cunbox-sim-key:%s:%d" % (locker_id, address)).encode()).digest()[:16]


class SimBoard:
    def __init__(self, locker, address, root, compartments=8, lock_type="gpio", lock_kind="solenoid",
                 sizes=None, zones=0, zone_compartments=None, key=None, locker_id="LK-SIM", feedback=True,
                 occupancy=True, keypad=True, scanner=True, wdt_ms=4000, loop_ms=2, x8a_per_board=24,
                 left_open_s=120, seed=None, zone_options=None, zone_time_scale=1.0, fw_image=None, fw_pubkeys=None,
                 display="st7920", voice="syn6288", lock_config=None, lockboard_options=None, modbus=None,
                 power_back_s=None):
        """fw_image, fw_pubkeys: boot from firmware slots as a provisioned board does (the boot selector
        on every power-on, updates over the bus): the signed image laid into slot a unless the board's
        directory holds slots already, and the fleet keys (bytes) it accepts updates signed with.
        display: "st7920" (Chinese LCD), "segment" (the short ASCII text on a UART display) or None;
        voice: "syn6288" or None. lock_config: keys merged into the config's "locks" (kerong / 8a:
        boards, polarity, ir, window_ms, baud, ...); lockboard_options: hardware_sim.lockboards options
        of the simulated lock board (reply_ms, busy_ms, baud, polarity, byte_error_rate, ...).
        power_back_s: seconds after a power cut at a chosen byte or change
        of flash until the supply comes back by itself (None: the board stays off until power_on())."""
        if lock_type not in fw_board.LOCK_TYPES:
            raise ValueError("lock type must be one of %s" % ", ".join(fw_board.LOCK_TYPES))
        if display not in DISPLAYS or voice not in VOICES:
            raise ValueError("display must be one of st7920, segment, None; voice syn6288 or None")
        self.locker = locker
        self.address = address
        self.key = key if key is not None else default_key(address, locker_id)
        self.locker_id = locker_id
        self.lock_type = lock_type
        self.lock_kind = lock_kind
        self.loop_s = loop_ms / 1000.0
        self.dir = os.path.join(root, "board%d" % address)
        self.config_path = os.path.join(self.dir, "config.json")
        self.flash_dir = os.path.join(self.dir, "flash")
        os.makedirs(self.flash_dir, exist_ok=True)
        import random

        rng = random.Random(seed if seed is not None else address)
        sizes = sizes or ["M"] * compartments
        self.compartments = [Compartment(sizes[i % len(sizes)], rng) for i in range(compartments)]
        self.zones = [ChillZone(time_scale=zone_time_scale) for _ in range(zones)]
        self.zone_options = zone_options or {}  # extra firmware zone settings (min_on_ms, report_ms, ...)
        if zone_compartments is None:
            per = max(1, min(4, compartments // max(1, zones)))
            zone_compartments = [list(range(z * per + 1, z * per + per + 1)) for z in range(zones)]
        self.zone_compartments = zone_compartments
        self.uid = hashlib.sha256(b"uid%d" % address).digest()[:6]
        self.feedback = feedback and lock_type == "gpio"
        self.occupancy = occupancy
        self.keypad = keypad
        self.scanner = scanner
        self.wdt_ms = wdt_ms
        self.left_open_s = left_open_s
        self.x8a_per_board = x8a_per_board
        self.lock_config = dict(lock_config or {})
        self.lockboard_options = dict(lockboard_options or {})
        self.modbus = dict(modbus or {})  # modbus_config() options (per_board, polarity, pulse_mode, ...)
        self.lockboard = None
        self.hw = None
        self.app = None
        self.server = None
        self.chip = SimFlash(self)  # the flash; self.flash is the firmware's Flash on it this power-on
        self.flash = None
        self.powered = False
        self.hung = False
        self.boots = 0
        self.fw_boots = []  # (slot, version) of every boot from firmware slots
        self.cuts = []  # what every power cut at a byte or change of flash struck
        self.power_back_s = power_back_s
        self.selftest_fail = None  # the name of a self-test check (update_handler.default_checks) to fail
        self._back_at = None  # when the supply comes back after a cut (None: it does not by itself)
        self._cut_next_boot = None
        self._booting = False
        self.reset_causes = []
        self.errors = []
        self.display_kind = display
        self.voice_kind = voice
        self.display = []  # every screen shown, oldest first (for a segment display: every line)
        self.spoken = []  # every utterance of the voice module, oldest first
        self.lcd = None  # the SimSt7920 of this power-on
        self._lcd_seen = -1
        self._segment_rx = bytearray()
        self._thread = None
        self._reset_request = None
        self.fw_pubkeys = list(fw_pubkeys or [])
        self.family = None
        if fw_image is not None:
            self._provision_fw(fw_image)
        self.write_config()

    def _provision_fw(self, image):
        mlen = int.from_bytes(image[8:12], "big")
        self.family = json.loads(image[update_image.HEADER_SIZE:update_image.HEADER_SIZE + mlen])["family"]
        if boot_select.read_pointer(boot_select.FlashFs(self.dir)) is None:
            provision_dir(self.dir, image, self.fw_pubkeys)

    def fw_version(self):
        """The version of the slot this board boots (None: no slots)."""
        fs = boot_select.FlashFs(self.dir)
        p = boot_select.read_pointer(fs)
        return boot_select.slot_manifest(fs, p["active"])["version"] if p else None

    def fw_status(self):
        """(boot pointer, slot.json of the slot this board last booted) as they are on its flash."""
        fs = boot_select.FlashFs(self.dir)
        return boot_select.read_pointer(fs), json.loads(fs.read("fw/slot_%s/slot.json" % self.fw_boots[-1][0]))

    # -- provisioning --------------------------------------------------------------------------
    def config(self):
        n = len(self.compartments)
        cfg = {"address": self.address, "locker_id": self.locker_id, "key": self.key.hex(), "compartments": n,
               "sizes": "".join(c.size[0] for c in self.compartments), "left_open_s": self.left_open_s,
               "doors": {"pins": [DOOR + i for i in range(n)], "open_level": 1, "pull": "up"},
               "bus": {"uart": BUS_UART, "baud": self.locker.baud}, "wdt_ms": self.wdt_ms}
        if self.fw_pubkeys and self.family:
            cfg["fw_pubkeys"] = [k.hex() for k in self.fw_pubkeys]
            cfg["family"] = self.family
        if self.lock_type == "gpio":
            cfg["locks"] = {"type": "gpio", "kind": self.lock_kind, "pins": [LOCK + i for i in range(n)]}
            if self.feedback:
                cfg["locks"]["feedback_pins"] = [FEEDBACK + i for i in range(n)]
        else:
            cfg["locks"] = {"type": self.lock_type, "uart": LOCK_UART}
            if self.lock_type == "8a":
                cfg["locks"]["per_board"] = self.x8a_per_board
            elif self.lock_type == "modbus":
                cfg["locks"].update(modbus_config(n, **self.modbus))
            cfg["locks"].update(self.lock_config)
        if self.occupancy:
            cfg["occupancy"] = {"pins": [OCCUPANCY + i for i in range(n)]}
        if self.keypad:
            cfg["keypad"] = {"uart": KEYPAD_UART, "baud": 9600}
        if self.scanner:
            cfg["scanner"] = {"uart": SCANNER_UART, "baud": 9600}
        if self.display_kind == "st7920":
            cfg["display"] = {"type": "st7920", "spi": LCD_SPI, "cs": LCD_CS, "baud": 200000}
        elif self.display_kind == "segment":
            cfg["display"] = {"type": "segment", "uart": SEGMENT_UART, "baud": 9600}
        if self.voice_kind:
            cfg["voice"] = {"type": self.voice_kind, "uart": VOICE_UART, "baud": 9600}
        cfg["zones"] = []
        for z in range(len(self.zones)):
            zc = {"adc": ADC + z, "relay": RELAY + z, "setpoint": 40, "hysteresis": 10,
                  "compartments": self.zone_compartments[z]}
            zc.update(self.zone_options)
            cfg["zones"].append(zc)
        return cfg

    def write_config(self):
        os.makedirs(self.dir, exist_ok=True)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.config(), f, indent=1)
        os.replace(tmp, self.config_path)

    # -- power ---------------------------------------------------------------------------------
    def power_on(self, cause=machine.PWRON_RESET):
        if self._thread is not None and self._thread.is_alive():
            if self._back_at is not None:
                self._back_at = time.monotonic()  # dark after a cut: the supply is back now
            return
        self.hw = None  # the last boot's pins (a coil may have been on when the power failed) are gone
        self.powered = True
        self._thread = threading.Thread(target=self._main, args=(cause,), name="sim-board%d" % self.address,
                                        daemon=True)
        self._thread.start()

    def power_off(self, at_byte=None, wait=True, when=None, next_boot=False):
        """Cut the supply now (it stays off until power_on()), or at a chosen point of this power-on's
        flash writes: after at_byte=N more bytes (that write keeps the bytes before the cut), or at the
        first change for which when(kind, rel, n) is true (see hardware_sim/flash.py). next_boot: arm
        `when` for the next boot instead (from its first change: the boot selector's)."""
        if next_boot:
            self._cut_next_boot = when
            return
        if when is not None:
            self.chip.arm_change(when)
            return
        if at_byte is not None and self.flash is not None:  # never booted: no write to wait for, cut now
            self.chip.arm(at_byte)
            return
        self._back_at = None
        self.powered = False
        if wait:
            self.join()

    def power_failed(self, why):
        """The flash's cut struck (on the board's thread, inside the write): the supply is gone."""
        self.cuts.append(("during boot: " if self._booting else "") + why)
        if self.power_back_s is not None:
            self._back_at = time.monotonic() + self.power_back_s
        self.powered = False

    def join(self, timeout=5.0):
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def reboot(self):
        """Press the reset button: the firmware restarts from flash (reset cause HARD)."""
        self._reset_request = machine.HARD_RESET

    def running(self):
        return self._thread is not None and self._thread.is_alive() and self.app is not None

    def wait_ready(self, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.running() and self.server is not None:
                return True
            if self.errors and self._thread is not None and not self._thread.is_alive():
                return False  # the firmware's thread ended with an error (it refused its config)
            time.sleep(0.01)
        return False

    # -- the person at this board --------------------------------------------------------------
    def type_keys(self, text):
        if self.hw is not None and self.powered:
            self.hw.uart(KEYPAD_UART).feed(text.encode())

    def scan(self, payload):
        if self.hw is not None and self.powered:
            self.hw.uart(SCANNER_UART).feed(payload.encode() + b"\r")

    def screen(self):
        """What the screen shows now: its rows as lines ("" with no screen or nothing shown)."""
        if self.lcd is not None:
            return self.lcd.text()
        return self.display[-1] if self.display_kind == "segment" and self.display else ""

    def _note_screen(self):
        lcd = self.lcd
        if lcd is not None and lcd.changes != self._lcd_seen:
            self._lcd_seen = lcd.changes
            text = lcd.text()
            if not self.display or self.display[-1] != text:
                self.display.append(text)

    def _segment_bytes(self, data):
        self._segment_rx.extend(data)
        while b"\r\n" in self._segment_rx:
            line, _, rest = bytes(self._segment_rx).partition(b"\r\n")
            self._segment_rx = bytearray(rest)
            self.display.append(line.decode("ascii", "replace"))

    def _wire_person_devices(self, hw):
        """The screen and the voice module this board has, on its pins (a new power-on: blank)."""
        self.lcd = None
        self._lcd_seen = -1
        if self.display_kind == "st7920":
            self.lcd = SimSt7920()
            hw.spi(LCD_SPI).sink = self.lcd.clock_in
            hw.line(LCD_CS).handlers.append(self.lcd.chip_select)
        elif self.display_kind == "segment":
            self._segment_rx = bytearray()
            hw.uart(SEGMENT_UART).sink = self._segment_bytes
        if self.voice_kind:
            voice = SimSyn6288(reply=hw.uart(VOICE_UART).feed, spoken=self.spoken)  # one list across power-ons
            hw.uart(VOICE_UART).sink = voice.receive

    # -- the board's thread --------------------------------------------------------------------
    def _main(self, cause):
        while True:
            try:
                self._boot_and_run(cause)
                return
            except machine.SimReset as r:
                self.hw = None  # a reset releases every output at once
                cause = r.cause
                self.reset_causes.append(cause)
            except machine.PowerLoss:
                self.hw = None
                if not self._dark():
                    return
                cause = machine.PWRON_RESET
            except Exception as exc:  # the firmware refused its config at boot: the board stays dark, and says why
                self.errors.append("%s: %s" % (type(exc).__name__, exc))
                self.hw = None
                return
            finally:
                self.app = None
                self.server = None

    def _dark(self):
        """After a cut: wait for the supply to come back (True), unless it does not or is switched off."""
        while self._back_at is not None:
            if time.monotonic() >= self._back_at:
                self._back_at = None
                self.powered = True
                return True
            time.sleep(0.005)
        return False

    def _boot_and_run(self, cause):
        hw = machine.SimHardware(self.uid, cause)
        hw.uart(BUS_UART).sink = self.locker.board_to_host
        for z, zone in enumerate(self.zones):
            hw.adcs[ADC + z] = zone.adc
        if self.lock_type == "modbus":
            lk = modbus_config(len(self.compartments), **self.modbus)
            self.lockboard = ModbusRelaysSim(self.compartments, hw.uart(LOCK_UART), lk["boards"], lk["per_board"],
                                             lk["polarity"], lk["pulse_mode"] == "flash")
        elif self.lock_type != "gpio":
            self.lockboard = lockboards.make(self.config()["locks"], self.compartments, hw.uart(LOCK_UART),
                                             **self.lockboard_options)
        self._reset_request = None
        for i, c in enumerate(self.compartments):  # the sensors read true from the first instant
            hw.line(DOOR + i).set(c.door_sensor())
            hw.line(FEEDBACK + i).set(c.hook_released())
            hw.line(OCCUPANCY + i).set(1 if c.parcel else 0)
        self._wire_person_devices(hw)
        machine.use(hw)
        self.hw = hw
        self.boots += 1
        with open(self.config_path) as f:
            cfg = json.load(f)
        fw_hw = fw_main.wire(cfg, machine)
        self.chip.power_on(self._cut_next_boot)
        self._cut_next_boot = None
        if cfg.get("fw_pubkeys"):
            fs = self.chip.as_flashfs(self.dir)
            self._booting = True
            try:  # as /main.py does first: counts a trial boot, rolls back
                slot, manifest, _p = boot_select.select(self.dir, fs)
            finally:
                self._booting = False
            self.fw_boots.append((slot, manifest["version"]))
            fw_hw.update(fw_root=self.dir, fw_fs=fs)
        self.flash = self.chip.as_flash(self.flash_dir)
        fw_hw.update(flash=self.flash, idle=self._idle)
        if self.display_kind is None and self.voice_kind is None:
            fw_hw["ui"] = self.display.append  # the English prompts, as a board without either showed them
        app = fw_board.build(cfg, fw_hw, self.locker.clock, self.flash_dir)
        server = fw_board.build_server(app, cfg, fw_hw)
        if self.selftest_fail and getattr(server, "fw", None) is not None:
            server.fw.checks[self.selftest_fail] = lambda: False
        self._note_screen()  # the idle prompt the screen came up with
        self.app, self.server = app, server
        while True:
            self._check(hw)
            if self.hung:  # a firmware hang: the loop stops, so the watchdog is no longer fed
                time.sleep(self.loop_s)
                continue
            try:
                now = app.step()
                server.poll(now)
                app.feed(now)
            except Exception:  # as run_forever: log it, and the unfed watchdog decides
                self.errors.append(traceback.format_exc())
            self._note_screen()
            time.sleep(self.loop_s)

    def _check(self, hw):
        if not self.powered:
            raise machine.PowerLoss()
        if self._reset_request is not None:
            raise machine.SimReset(self._reset_request)
        starved_ms = (time.monotonic() - hw.wdt_fed) * 1000 * self.locker.clock.scale
        if hw.wdt_timeout_ms and starved_ms > hw.wdt_timeout_ms:
            self.hung = False
            raise machine.SimReset(machine.WDT_RESET)

    def _idle(self):
        # called by the firmware while an OPEN waits for its door: power and reset still apply
        self._check(self.hw)
        time.sleep(0.001)

    # -- physics hook --------------------------------------------------------------------------
    def step_physics(self, now):
        hw = self.hw if self.powered else None
        lb = self.lockboard
        if lb is not None and hw is not None:
            lb.step(now)
        for i, c in enumerate(self.compartments):
            if self.lock_type == "gpio":
                on = hw is not None and hw.line(LOCK + i).v == 1
                c.set_coil(on, now)
            elif hw is None:
                c.set_coil(False, now)
            c.step(now)
            if hw is not None:
                hw.line(DOOR + i).set(c.door_sensor())
                hw.line(FEEDBACK + i).set(c.hook_released())
                hw.line(OCCUPANCY + i).set(1 if c.parcel else 0)
        for z, zone in enumerate(self.zones):
            zone.compressor = hw is not None and hw.line(RELAY + z).v == 1
            zone.doors_open = sum(1 for n in self.zone_compartments[z]
                                  if 0 < n <= len(self.compartments) and self.compartments[n - 1].door_open)
            zone.step(now)

    def state(self):
        app = self.app
        return {"address": self.address, "powered": self.powered, "running": self.running(),
                "boots": self.boots, "lock_type": self.lock_type, "key": self.key.hex(),
                "display": self.screen(), "voice": self.spoken[-1] if self.spoken else "",
                "events_pending": app.journal.unacked() if app is not None else None,
                "compartments": [c.state() for c in self.compartments],
                "zones": [{"temp": round(z.temp, 2), "compressor": z.compressor} for z in self.zones],
                "errors": len(self.errors)}


def provision_dir(root, image, pubkeys):
    """Lay out a board directory as `cunbox firmware provision` would (slot a, pointer), from an image
    checked as a board would check it (firmware/slot_layout.py, which provisioning uses too). The boot
    selector, /main.py and /config.json are not written: the simulator runs the repository's boot
    selector and writes its own config. Raises update_image.ImageError for an image a board refuses."""
    _manifest, files, pointer = slot_layout.provisioned_files(image, pubkeys)
    fs = boot_select.FlashFs(root)
    for path, data in files + [pointer]:
        fs.mkdirs(path.rsplit("/", 1)[0])
        fs.write_new(path, data)
