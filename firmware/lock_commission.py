# Commissioning a cabinet's lock boards from far away: the host starts a probe of the lock-board
# bus (LOCK_PROBE), reads its progress and result (LOCK_PROBE_STATUS), and then sends the lock
# profile as settings (CONFIG_SET lock.type, lock.baud, lock.boards, lock.per_board, lock.polarity,
# lock.ir, lock.window_ms). The board takes a profile only once its bus has answered it: each
# listed board queried once in that dialect and baud. A profile the last probe contradicts is
# refused with NAK BAD_PAYLOAD (detail = index of the item; the host reads LOCK_PROBE_STATUS for what
# was found); one no probe has covered yet starts a CHECK probe and is answered NAK BUSY, to be sent
# again once the check is done. A profile taken is kept on flash ("lockprof", over the provisioned
# config's "locks") and the lock driver is rebuilt from it at once (firmware/board.py make_locks), no
# reboot: the host's session, the journal and the doors' state carry on.
#
# While a probe runs the app's lock driver is paused (it does not touch the UART) and every unlock
# is REFUSED / OUT_OF_SERVICE: not BUSY, which the host retries every 250 ms until the open's
# deadline, while a probe can take minutes. A probe is refused (NAK BUSY) while a door is opening.
import json

from firmware import lock_probe as lp
from firmware import lock_serial
from firmware.compat import ticks_diff
from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_BUSY, NakError

PROFILE_FILE = "lockprof"
PROFILE_KEYS = ("lock.type", "lock.baud", "lock.boards", "lock.per_board", "lock.polarity", "lock.ir", "lock.window_ms")
POLARITIES = {"kerong": ("hook_1_is_locked", "hook_1_is_open"), "8a": ("short_when_locked", "short_when_open"),
              "modbus": ("input_1_is_locked", "input_1_is_open")}
FRESH_MS = 600000  # a probe result older than this no longer vouches for a profile: the bus is asked again
_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


def load_profile(flash, cfg):
    """At boot: the profile taken last (if any) over the provisioned config's "locks"."""
    raw = flash.read_atomic(PROFILE_FILE)
    if not raw:
        return cfg
    try:
        prof = json.loads(raw)
    except ValueError:
        return cfg
    locks = dict(cfg.get("locks", {}))
    locks.update(prof)
    cfg["locks"] = locks
    return cfg


class LockCommission:
    KEYS = PROFILE_KEYS  # the CONFIG_SET keys this takes

    def __init__(self, app, cfg, hw, make_locks):
        self.app = app
        self.cfg = cfg
        self.hw = hw
        self.uart = hw["lock_uart"]
        self.make_locks = make_locks
        self.probe = None  # the running or last finished lock_probe.Prober
        self.probe_at = 0

    # -- LOCK_PROBE, LOCK_PROBE_STATUS ---------------------------------------------------------
    def handle(self, t, f):
        if t == m.LOCK_PROBE_STATUS:
            return self.status()
        return self.start(f)

    def start(self, f):
        a = self.app
        mode = f["mode"]
        if mode == m.PROBE_STOP:
            if self.probe is not None:
                self.probe.stop()
                self.poll(a.clock.ms())
            return {"state": self.probe.state if self.probe is not None else m.PROBE_IDLE}
        if mode not in (m.PROBE_SCAN, m.PROBE_CHECK, m.PROBE_READ):
            raise NakError(NAK_BAD_PAYLOAD, mode, "unknown probe mode")
        d = f["dialect"]
        if d not in (m.DIALECT_ANY, m.DIALECT_KERONG, m.DIALECT_8A, m.DIALECT_MODBUS):
            raise NakError(NAK_BAD_PAYLOAD, d, "unknown dialect")
        if mode != m.PROBE_SCAN and (d == m.DIALECT_ANY or not f["baud"] or not f["boards"]):
            raise NakError(NAK_BAD_PAYLOAD, 0, "a check or read names its dialect, baud and boards")
        if f["baud"] and f["baud"] not in _BAUDS:
            raise NakError(NAK_BAD_PAYLOAD, f["baud"], "unsupported baud rate")
        dialects = lp.ORDER if d == m.DIALECT_ANY else (d,)
        for x in dialects:
            for b in f["boards"]:
                if b < lp.FIRST_ADDR[x] or b > lp.MAX_ADDR[x]:
                    raise NakError(NAK_BAD_PAYLOAD, b, "no such board address in " + lp.NAMES[x])
        if mode == m.PROBE_READ and not 1 <= f["lock"] <= lp.MAX_CHANNELS:
            raise NakError(NAK_BAD_PAYLOAD, f["lock"], "no such lock")
        if self.running():
            raise NakError(NAK_BUSY, 0, "a lock bus probe is running")
        self._refuse_if_locks_busy()
        self._begin(mode, dialects, (f["baud"],) if f["baud"] else None, f["boards"], f["lock"],
                    (f["budget_s"] or 180) * 1000)
        return {"state": self.probe.state}

    def _begin(self, mode, dialects, bauds, boards, lock, budget_ms):
        now = self.app.clock.ms()
        self.probe = lp.Prober(self.uart, now, mode, dialects, bauds, boards, lock or 1, budget_ms)
        self.probe_at = now
        self.app.lock_job = self  # the app polls this instead of its lock driver until the probe ends

    def running(self):
        return self.probe is not None and self.probe.state == lp.RUNNING

    def poll(self, now):
        """App.step, while a probe runs: the probe's turn on the UART; once it ends, the driver's again."""
        p = self.probe
        p.poll(now)
        if p.state != lp.RUNNING:
            self.uart.init(baudrate=_baud(self.cfg.get("locks", {})))
            while self.uart.any():
                self.uart.read()
            # a fresh driver: the paused one may have had a transaction on the wire when the probe
            # began, and must not take it up again (least of all resend an unlock) minutes later
            self._install(self.make_locks(self.cfg, self.hw, now))
            self.app.lock_job = None

    def status(self):
        p = self.probe
        if p is None:
            return {"state": m.PROBE_IDLE, "mode": 0, "progress": 0, "flags": 0, "dialect": 0, "baud": 0,
                    "queried": [], "boards": [], "per_board": 0, "raw": b"", "feedback": m.PROBE_NO_READING,
                    "ir": m.PROBE_NO_READING, "bad_replies": 0}
        return {"state": p.state, "mode": p.mode, "progress": p.progress, "flags": p.flags, "dialect": p.dialect,
                "baud": p.baud, "queried": p.queried[:16], "boards": p.boards[:16], "per_board": p.per_board,
                "raw": p.raw, "feedback": p.feedback, "ir": p.ir, "bad_replies": min(p.bad_replies, 0xFFFF)}

    # -- CONFIG_SET lock.* ---------------------------------------------------------------------
    def check(self, items):
        """items [(index in the CONFIG_SET, key, value)]: the profile and the driver built from it, or
        NakError (nothing changes). Checked against the bus: see the top of this file."""
        locks = dict(self.cfg.get("locks", {}))
        where = {}
        for i, k, v in items:
            where[k] = i
            try:
                if k == "lock.type":
                    if v not in POLARITIES and v != "gpio":
                        raise ValueError
                    val = v
                elif k == "lock.boards":
                    val = [int(x) for x in v.split(",") if x.strip()]
                    if not val or len(val) > 16:
                        raise ValueError
                elif k == "lock.polarity":
                    val = v
                elif k == "lock.ir":
                    if v not in ("0", "1", "true", "false"):
                        raise ValueError
                    val = v in ("1", "true")
                else:
                    val = int(v)
                    if val < 1 or (k == "lock.baud" and val not in _BAUDS) or (k == "lock.per_board" and val > 50):
                        raise ValueError
            except ValueError:
                raise NakError(NAK_BAD_PAYLOAD, i, "bad value for " + k) from None
            locks[k[5:]] = val
        first = items[0][0]
        kind = locks.get("type", "gpio")
        was = self.cfg.get("locks", {}).get("type", "gpio")
        if (kind == "gpio") != (was == "gpio"):
            raise NakError(NAK_BAD_PAYLOAD, where.get("lock.type", first), "this board's locks are wired as " + was)
        if kind == "gpio":
            raise NakError(NAK_BAD_PAYLOAD, where.get("lock.type", first), "gpio locks have no lock bus to check")
        pol = locks.get("polarity")
        if pol is not None and pol not in POLARITIES[kind]:
            raise NakError(NAK_BAD_PAYLOAD, where.get("lock.polarity", first), "polarity must be one of " +
                           ", ".join(POLARITIES[kind]))
        d = lp.BY_NAME[kind]
        boards = locks.get("boards") or [lp.FIRST_ADDR[d]]
        at_boards = where.get("lock.boards", first)
        for b in boards:
            if b < lp.FIRST_ADDR[d] or b > lp.MAX_ADDR[d]:
                raise NakError(NAK_BAD_PAYLOAD, at_boards, "no board address %d in %s" % (b, kind))
        per = locks.get("per_board") or (lp.KERONG_CHANNELS if d == lp.KERONG else 0)
        if d == lp.KERONG and per != lp.KERONG_CHANNELS:
            raise NakError(NAK_BAD_PAYLOAD, where.get("lock.per_board", first), "kerong boards have 16 locks")
        if per * len(boards) < self.app.count:
            raise NakError(NAK_BAD_PAYLOAD, where.get("lock.per_board", at_boards),
                           "%d boards of %d locks for %d compartments" % (len(boards), per, self.app.count))
        locks["boards"] = boards
        locks["per_board"] = per
        locks.setdefault("baud", _baud(locks))
        cfg2 = dict(self.cfg)
        cfg2["locks"] = locks
        try:
            driver = self.make_locks(cfg2, self.hw, self.app.clock.ms())
        except ValueError as exc:  # this firmware has no driver for the type, or cannot address the boards
            at = where.get("lock.type", first) if "type" in str(exc) else at_boards
            raise NakError(NAK_BAD_PAYLOAD, at, str(exc)) from None
        self._bus_check(d, locks["baud"], boards, at_boards)
        return locks, driver

    def _bus_check(self, d, baud, boards, at_boards):
        if self.running():
            raise NakError(NAK_BUSY, 0, "a lock bus probe is running")
        p = self.probe
        now = self.app.clock.ms()
        if (p is not None and p.state == lp.DONE and p.mode != lp.READ and p.dialect == d and p.baud == baud
                and ticks_diff(now, self.probe_at) < FRESH_MS):
            for b in boards:
                if b in p.queried and b not in p.boards:
                    raise NakError(NAK_BAD_PAYLOAD, at_boards, "no answer from board %d at %d in %s" % (
                        b, baud, lp.NAMES[d]))
            unasked = [b for b in boards if b not in p.queried]
            if not unasked:
                return
        self._refuse_if_locks_busy()
        self._begin(lp.CHECK, (d,), (baud,), boards, 1, 60000)
        raise NakError(NAK_BUSY, 0, "checking the lock bus; send it again when LOCK_PROBE_STATUS is done")

    def apply(self, locks, driver):
        prof = {}
        for k in PROFILE_KEYS:
            if k[5:] in locks:
                prof[k[5:]] = locks[k[5:]]
        self.app.flash.write_atomic(PROFILE_FILE, json.dumps(prof).encode())
        self.cfg["locks"] = locks
        self.uart.init(baudrate=locks["baud"])
        self._install(driver)

    def _refuse_if_locks_busy(self):
        """A probe takes the lock bus from the driver: never while a door is opening, while the driver
        still has a pulse or its OFF to finish (a Modbus relay would stay energised for the whole probe),
        or while it is not sure every output is off (it keeps commanding them off)."""
        a = self.app
        if a.ops:
            raise NakError(NAK_BUSY, 0, "a door is opening")
        for c in range(a.count):
            if a.locks.pending(c):
                raise NakError(NAK_BUSY, 0, "a lock is still being pulsed")
        if getattr(a.locks, "outputs_unsure", None) is not None and a.locks.outputs_unsure():
            raise NakError(NAK_BUSY, 0, "a relay may still be on; the lock driver is switching it off")

    def _install(self, driver):
        """The app drives its locks through `driver` from now on; a lock board's IR sensors (Kerong with
        "ir": true) are its occupancy inputs, so those follow the driver too."""
        old = self.app.locks
        self.app.locks = driver
        occ = getattr(driver, "occupancy", None)
        if occ is not None:
            self.app.occupancy = occ()
        elif getattr(old, "occupancy", None) is not None:
            self.app.occupancy = None

    def summary(self):
        """CONFIG_GET "lock_profile": type/baud/boards/per_board/polarity (at most 32 characters)."""
        lk = self.cfg.get("locks", {})
        return "%s/%s/%s/%s/%s" % (lk.get("type", "gpio"), _baud(lk) if lk.get("type", "gpio") != "gpio" else "",
                                   ",".join([str(b) for b in lk.get("boards", [])]), lk.get("per_board", ""),
                                   lk.get("polarity", ""))


def _baud(locks):
    """The lock bus's baud rate: the profile's, else its dialect's factory default (Kerong 19200, 8A and
    Modbus modules 9600), as the drivers read it."""
    if locks.get("baud"):
        return locks["baud"]
    d = lock_serial.DEFAULTS.get(locks.get("type"))
    return d["baud"] if d else 9600
