# The locker controller: doors, unlocks, offline codes, chilled zones, journal and watchdog, run
# as one cooperative loop. step() does a little of everything and never waits, so no job holds up
# another; the protocol server (proto_server.py) is one more job of the same loop.
#
# Everything the app touches comes in as an argument (see board.py, which builds it from a config
# and the hardware main.py wired), so it runs the same on a board, in the simulator and in tests.
from firmware import events as ev
from firmware import prompt_keys as K
from firmware.codes import CODE_LEN, CodeStore, PeerCodes
from firmware.compat import ticks_add, ticks_diff, u32_be
from firmware.journal import Journal
from firmware.qrpayload import parse_payload
from firmware.throttle import Throttle
from protocol.timing import OPEN_CONFIRM_MS

FW_VERSION = "cunbox-fw 0.1.0"

_Q = 0  # op phases: waiting for the lock driver
_W = 1  # pulse given, watching the door
_QUEUE_LIMIT_MS = 800  # a host OPEN must pulse within this or be refused as BUSY (2.5 s budget)
_CHECK_MS = 250  # housekeeping period (left-open, plausibility, zones)
_PLAUSIBLE_MS = 3000  # door sensor and lock feedback may disagree this long before it is a fault
_KEY_TIMEOUT_MS = 15000
_CODE_PICKUP = 1


class App:
    def __init__(self, cfg, clock, flash, locks, doors, occupancy=None, keypad=None, scanner=None,
                 zones=(), wdt=None, reset_cause=0, uid=b"", ui=None):
        self.cfg = cfg
        self.clock = clock  # .ms() monotonic ticks
        self.flash = flash
        self.locks = locks
        self.doors = doors  # DebouncedInputs, active = open
        self.occupancy = occupancy  # DebouncedInputs, active = occupied; or None
        self.keypad = keypad  # UART-like (any/read) delivering key characters; or None
        self.scanner = scanner  # UART-like delivering scanned lines; or None
        self.zones = zones
        self.wdt = wdt
        self.reset_cause = reset_cause
        self.uid = uid
        self.ui = ui  # firmware.ui.Ui (say(key, args), poll(now)) for the person at the locker; or None
        self.address = cfg.get("address", 0)  # doors are named board-door to people, as the server does
        self.count = n = len(doors)
        self.locker_id = cfg.get("locker_id", "")
        # from the start of the pulse: the protocol's OPEN budget assumes this window
        self.door_window_ms = cfg.get("door_window_ms", OPEN_CONFIRM_MS)
        self.left_open_ms = cfg.get("left_open_s", 120) * 1000
        now = clock.ms()
        self.started = now
        self.journal = Journal(flash, cfg.get("journal_segment_bytes", 2048), cfg.get("journal_segments", 8))
        self.codes = CodeStore(flash, n)
        # the codes of the locker's other boards: a code is right at every keypad of its locker
        self.peers = PeerCodes(flash, cfg.get("peer_slots", 64))
        self.link_fresh_ms = cfg.get("link_fresh_ms", 5000)
        self._link_heard = None  # ticks of the host's last authentic command (proto_server)
        self.throttle = Throttle(flash, now, cfg.get("throttle_free", 3), cfg.get("throttle_base_ms", 30000),
                                 cfg.get("throttle_max_ms", 3600000))
        self.disabled = bytearray(n)
        self._load_settings()
        self.door_fault = bytearray(n)
        self._mismatch = [None] * n
        self._opened_at = [None] * n
        self._left_reported = bytearray(n)
        # doors seen closed whose DOOR_CLOSED waits for the occupancy reading to settle
        self._closing = []
        self.ops = {}  # compartment -> [phase, since, source, reason, callback, code hash or None, reference]
        self._changed = []
        self._last_check = now
        self._keys = bytearray()
        self._key_at = now
        self._scan = bytearray()
        self.loop_ms = 0
        self.steps = 0
        # while a lock-bus probe runs (firmware/lock_commission.py) it is polled instead of the lock
        # driver, which must not touch the UART meanwhile; unlocks are refused as OUT_OF_SERVICE
        self.lock_job = None
        raw = flash.read_atomic("clock")
        self._unix_base = u32_be(raw, 0) if raw else 0  # wall time at _unix_at (0 = never set)
        self._unix_at = now
        self._clock_saved = now
        # The clock read back from flash is only a lower bound (it stood still while the power was off):
        # good enough to stamp events, not to judge an OPEN_BY deadline, until the host sets it again.
        self.clock_trusted = False
        self.emit(ev.BOOT, ev.BOARD, bytes((reset_cause & 0xFF,)))
        for comp in range(n):  # a door found open at boot (e.g. the power failed mid-opening)
            if doors.active(comp):
                self._opened_at[comp] = now
                self.emit(ev.DOOR_OPENED, comp)

    # -- time ----------------------------------------------------------------------------------
    def unix(self, now=None):
        if not self._unix_base:
            return 0
        if now is None:
            now = self.clock.ms()
        return self._unix_base + ticks_diff(now, self._unix_at) // 1000

    def set_time(self, unix):
        now = self.clock.ms()
        prev = self.unix(now)
        self._unix_base = unix
        self._unix_at = now
        self.clock_trusted = True
        self._save_clock(now)
        self.emit(ev.TIME_SET, ev.BOARD, (prev & 0xFFFFFFFF).to_bytes(4, "big"))
        return prev

    def _save_clock(self, now):
        self._clock_saved = now
        self.flash.write_atomic("clock", (self.unix(now) & 0xFFFFFFFF).to_bytes(4, "big"))

    # -- journal -------------------------------------------------------------------------------
    def emit(self, kind, comp, data=b""):
        j = self.journal
        if j.dropped and j.can_append():
            lost = j.dropped
            if j.append(ev.pack(ev.EVENTS_LOST, ev.BOARD, self.unix(), lost.to_bytes(4, "big")), True):
                j.dropped -= lost
        return j.append(ev.pack(kind, comp, self.unix(), data), kind in ev.CRITICAL)

    def _say(self, key, *args):
        if self.ui is not None:
            self.ui.say(key, args)

    # -- unlocking -----------------------------------------------------------------------------
    def unlock(self, comp, source, reason, callback, code_digest=None, reference=0):
        """Start an unlock of compartment index comp (from 0); callback(comp, result, detail,
        event_seq) runs once it is decided."""
        if not 0 <= comp < self.count:
            callback(comp, ev.REFUSED, ev.REFUSE_NO_SUCH_COMPARTMENT, 0)
            return
        if self.disabled[comp] or self.lock_job is not None:
            self._finish(comp, [0, 0, source, reason, callback, None, reference], ev.REFUSED,
                         ev.REFUSE_OUT_OF_SERVICE)
            return
        if comp in self.ops:
            callback(comp, ev.REFUSED, ev.REFUSE_BUSY, 0)
            return
        op = [_Q, self.clock.ms(), source, reason, callback, code_digest, reference]
        if not self.door_fault[comp] and self.doors.active(comp):
            fb = self.locks.feedback(comp)
            # ALREADY_OPEN uses a code up without a pulse: only on the latch's word, or where no latch
            # feedback exists at all (GPIO locks without it). A lock board not heard from yet, or silent,
            # gets the request: its driver pulses or refuses, and the code is kept if nothing opened.
            if fb is True or (fb is None and self.locks.healthy() and not getattr(self.locks, "bus", False)):
                self._finish(comp, op, ev.ALREADY_OPEN, 0)
                return
            # the door switch says open while the latch says shut: the switch is stuck or broken.
            # A sensor's word alone refuses nothing: pulse, and report the sensor (SENSOR_FAULTY).
            self._set_fault(comp, True)
        self.ops[comp] = op
        self.locks.request(comp, self._pulsed)

    def refuse(self, comp, source, reason, callback, detail, reference=0):
        """Decide an unlock as REFUSED without touching the lock (journaled like any other result)."""
        if not 0 <= comp < self.count:
            callback(comp, ev.REFUSED, ev.REFUSE_NO_SUCH_COMPARTMENT, 0)
            return
        self._finish(comp, [0, 0, source, reason, callback, None, reference], ev.REFUSED, detail)

    def _pulsed(self, lock, ok, t):
        # ok False: no pulse was given (a lock board known to be silent gets no frame). Once a
        # frame went out the door decides, whatever the lock board answers or fails to: a silent
        # board's door that opens is OPENED, one that does not is JAMMED (plus its LOCK_FAULT event).
        op = self.ops.get(lock)
        if op is None:
            return
        if not ok:
            del self.ops[lock]
            self._finish(lock, op, ev.REFUSED, ev.REFUSE_LOCK_FAULT)
            return
        if not self.door_fault[lock] and self.doors.active(lock):
            # the door opened while the pulse waited its turn (someone pulled it): it is open now
            del self.ops[lock]
            self.locks.release(lock, t)
            self._finish(lock, op, ev.OPENED, 0)
            return
        op[0] = _W
        op[1] = t

    def _finish(self, comp, op, result, detail):
        seq = self.emit(ev.OPEN_RESULT, comp, bytes((result, op[3])) + op[6].to_bytes(4, "big"))
        if op[5] is not None and result in (ev.OPENED, ev.SENSOR_FAULTY, ev.ALREADY_OPEN):
            # the code did its job: record the pickup and use the code up
            dropoff = self.codes.kind(comp) == 2
            self.emit(ev.DROPOFF_OFFLINE if dropoff else ev.PICKUP_OFFLINE, comp, op[5][:4])
            self.codes.clear(comp)
            self._say(K.OPEN_DROPOFF if dropoff else K.OPEN_PICKUP, self.address, comp + 1)
        elif op[5] is not None:
            self._say(K.OPEN_FAILED, self.address, comp + 1)
        op[4](comp, result, detail, seq)

    def _watch_ops(self, now):
        for comp in list(self.ops):
            op = self.ops[comp]
            waited = ticks_diff(now, op[1])
            if op[0] == _Q:
                if op[2] == ev.SRC_HOST and waited > _QUEUE_LIMIT_MS and self.locks.cancel(comp):
                    del self.ops[comp]
                    self._finish(comp, op, ev.REFUSED, ev.REFUSE_BUSY)
                continue
            if waited < self.door_window_ms or (self.doors.settling(comp) and waited < self.door_window_ms + 200):
                continue  # a door that moved at the very end gets its debounce time, and no more
            del self.ops[comp]
            fb = self.locks.feedback(comp)
            if self.door_fault[comp]:
                self._finish(comp, op, ev.SENSOR_FAULTY, 0)
            elif fb:
                # the latch let go, so the door is free, but its sensor saw nothing: the sensor lies
                self._set_fault(comp, True)
                self._finish(comp, op, ev.SENSOR_FAULTY, 0)
            else:
                self._finish(comp, op, ev.JAMMED, 0)

    # -- doors ---------------------------------------------------------------------------------
    def _door_changed(self, comp, now):
        if self.doors.active(comp):
            self._flush_closing(comp)  # closed and opened again before the inside settled: keep the order
            self._opened_at[comp] = now
            self._left_reported[comp] = 0
            op = self.ops.get(comp)
            if op is not None and op[0] == _W:
                del self.ops[comp]
                self.locks.release(comp, now)
                self.emit(ev.DOOR_OPENED, comp)
                self._finish(comp, op, ev.OPENED, 0)
            elif op is not None or self.door_fault[comp]:
                # an open on its way (the board pulsed before its answer came in: _pulsed makes it
                # OPENED), or a lying sensor: not forced
                self.emit(ev.DOOR_OPENED, comp)  # a lying sensor: whether it was forced is unknown
            else:
                self.emit(ev.DOOR_OPENED, comp)
                self.emit(ev.FORCED_DOOR, comp)
        else:
            self._opened_at[comp] = None
            occ = self.occupancy
            if occ is not None and occ.wired(comp) and occ.settling(comp):
                self._closing.append(comp)
            else:
                self.emit(ev.DOOR_CLOSED, comp)

    # The host learns what a door closed on from the STATUS it reads once it sees DOOR_CLOSED
    # (ST_OCCUPIED). A parcel put in (or taken out) just before the door shut is still waiting out
    # the occupancy sensor's debounce when the door switch has settled, so DOOR_CLOSED is journaled
    # only once the occupancy reading has settled too: otherwise a quick courier's deposit reads as
    # "closed empty" and no later event ever corrects it. The wait is bounded by the occupancy
    # debounce: a reading either holds that long and counts, or goes back and stops settling.
    def _emit_settled_closings(self):
        occ = self.occupancy
        k = 0
        while k < len(self._closing):
            if not occ.settling(self._closing[k]):
                self.emit(ev.DOOR_CLOSED, self._closing.pop(k))
            else:
                k += 1

    def _flush_closing(self, comp):
        if comp in self._closing:
            self._closing.remove(comp)
            self.emit(ev.DOOR_CLOSED, comp)

    def _set_fault(self, comp, on):
        if self.door_fault[comp] != (1 if on else 0):
            self.door_fault[comp] = 1 if on else 0
            self.emit(ev.SENSOR_FAULT, comp, bytes((ev.FAULT_DOOR if on else 0,)))

    def _housekeeping(self, now):
        self.throttle.poll(now)
        if self._unix_base:  # carry whole seconds into the base: ticks wrap, wall time must not
            secs = ticks_diff(now, self._unix_at) // 1000
            if secs > 0:
                self._unix_base += secs
                self._unix_at = ticks_add(self._unix_at, secs * 1000)
        for comp in range(self.count):
            opened = self._opened_at[comp]
            if opened is not None and not self._left_reported[comp] and ticks_diff(now, opened) >= self.left_open_ms:
                self._left_reported[comp] = 1
                self.emit(ev.DOOR_LEFT_OPEN, comp, ev.u16(ticks_diff(now, opened) // 1000))
            # a latched lock means a closed door; a released latch with no op running means an open one
            fb = self.locks.feedback(comp)
            if fb is None or comp in self.ops:
                self._mismatch[comp] = None
                continue
            if fb == self.doors.active(comp):
                self._mismatch[comp] = None
                if self.door_fault[comp]:
                    self._set_fault(comp, False)
            elif self._mismatch[comp] is None:
                self._mismatch[comp] = now
            elif ticks_diff(now, self._mismatch[comp]) >= _PLAUSIBLE_MS:
                self._set_fault(comp, True)
        faults = self.locks.faults
        while faults:
            faults.pop(0)
            self.emit(ev.LOCK_FAULT, ev.BOARD, bytes((ev.FAULT_LOCK,)))
        for z in self.zones:
            z.poll(now, self.emit)
        if self.ui is not None:
            self.ui.poll(now)
        if ticks_diff(now, self._clock_saved) >= 3600000 and self._unix_base:
            self._save_clock(now)

    # -- offline codes -------------------------------------------------------------------------
    def enter_code(self, code, source):
        """A code typed or scanned at the locker (bytes of 8 ASCII digits). Returns what happened."""
        now = self.clock.ms()
        if self.throttle.locked(now):
            self._say(K.WAIT, (self.throttle.remaining_ms(now) + 999) // 1000)
            return "throttled"
        if not self.journal.can_append(True):
            self._say(K.BUSY)
            return "journal_full"  # an offline pickup that cannot be journaled is not done
        comp, expired = self.codes.match(code, self.unix(now))
        if comp >= 0 and expired:
            self.emit(ev.CODE_EXPIRED, comp, self.codes.digest(comp)[:4])
            self._say(K.DROPOFF_EXPIRED if self.codes.kind(comp) == 2 else K.CODE_EXPIRED)
            return "expired"
        if comp < 0:
            peer = self.peers.match(code, self.unix(now))
            if peer is not None:
                return self._peer_code(peer, now)
            lock_ms = self.throttle.failure(now)
            self.emit(ev.CODE_REJECTED, ev.BOARD, bytes((min(self.throttle.fails, 255),)))
            if lock_ms:
                self.emit(ev.THROTTLED, ev.BOARD, ev.u16(lock_ms // 1000))
                self._say(K.WAIT, lock_ms // 1000)
            else:
                self._say(K.WRONG_CODE)
            return "wrong"
        self.throttle.success()
        reason = 1 if self.codes.kind(comp) == _CODE_PICKUP else 4  # protocol REASON_PICKUP / DROPOFF
        self.unlock(comp, source, reason, _ignore, self.codes.digest(comp))
        return "accepted"

    def _peer_code(self, peer, now):
        """A right code for another board's door. This board cannot pulse that lock: it journals
        PEER_CODE and the host, polling every board, opens the door there within a second or two. With
        the host not heard lately the person is sent to that door's own keypad instead."""
        board, comp, expired, code_id = peer
        self.throttle.success()  # a right code is never counted against the throttle
        if expired:
            self._say(K.DROPOFF_EXPIRED if self.peers.kind(board, comp) == 2 else K.CODE_EXPIRED)
            return "expired"
        if not self.link_up(now):
            self._say(K.PEER_USE_KEYPAD, board, comp)  # the keypad of the board holding door board-comp
            return "peer_offline"
        self.emit(ev.PEER_CODE, ev.BOARD, bytes((board, comp)) + code_id)
        self._say(K.PEER_OPENING, board, comp)
        return "peer"

    def link_heard(self, now=None):
        """proto_server: the host sent an authentic command just now."""
        self._link_heard = self.clock.ms() if now is None else now

    def link_up(self, now=None):
        if self._link_heard is None:
            return False
        if now is None:
            now = self.clock.ms()
        return ticks_diff(now, self._link_heard) <= self.link_fresh_ms

    def _read_keypad(self, now):
        k = self.keypad
        if self._keys and ticks_diff(now, self._key_at) > _KEY_TIMEOUT_MS:
            self._keys = bytearray()
        if k is None or not k.any():
            return
        data = k.read()
        for ch in data or b"":
            self._key_at = now
            if 48 <= ch <= 57:
                if len(self._keys) < 16:
                    self._keys.append(ch)
            elif ch == 42:  # '*' clears
                self._keys = bytearray()
            elif ch in (35, 13, 10):  # '#' or Enter submits
                keys = bytes(self._keys)
                self._keys = bytearray()
                if len(keys) == CODE_LEN:
                    self.enter_code(keys, ev.SRC_KEYPAD)
                elif keys:
                    self._say(K.NEED_8_DIGITS)

    def _read_scanner(self, now):
        s = self.scanner
        if s is None or not s.any():
            return
        for ch in s.read() or b"":
            if ch in (13, 10):
                if self._scan:
                    line = bytes(self._scan)
                    self._scan = bytearray()
                    self.scanned(line)
            elif len(self._scan) < 96:
                self._scan.append(ch)

    def scanned(self, line):
        try:
            locker, code = parse_payload(line.decode())
        except (ValueError, UnicodeError):
            self._say(K.BAD_QR)
            return "bad_qr"
        if locker != self.locker_id:
            self._say(K.OTHER_LOCKER)
            return "other_locker"
        return self.enter_code(code.encode(), ev.SRC_SCANNER)

    # -- the loop ------------------------------------------------------------------------------
    def step(self, now=None):
        """One pass over every job; returns the ticks it ran at. Never waits."""
        if now is None:
            now = self.clock.ms()
        if self.lock_job is None:
            self.locks.poll(now)
        else:
            self.lock_job.poll(now)
        ch = self._changed
        self.locks.poll_inputs(now, ch)
        del ch[:]  # feedback changes are read through locks.feedback()
        if self.occupancy is not None:  # first: a door that closes now is judged on this reading
            self.occupancy.poll(now, ch)
            del ch[:]
        self.doors.poll(now, ch)
        for comp in ch:
            self._door_changed(comp, now)
        del ch[:]
        if self._closing:
            self._emit_settled_closings()
        self._watch_ops(now)
        self._read_keypad(now)
        self._read_scanner(now)
        if ticks_diff(now, self._last_check) >= _CHECK_MS:
            self._last_check = now
            self._housekeeping(now)
        self.steps += 1
        return now

    def healthy(self, now):
        """What the watchdog is fed on: the loop ran, and no lock is stuck energised."""
        return not self.locks.stuck(now)

    def feed(self, now):
        if self.wdt is not None and self.healthy(now):
            self.wdt.feed()

    # -- for the protocol server ---------------------------------------------------------------
    def compartment_state(self, comp):
        s = 0
        fb = self.locks.feedback(comp)
        if fb is False:
            s |= 0x01  # ST_LOCKED
        if self.doors.active(comp):
            s |= 0x02
        occ = self.occupancy
        if occ is not None and occ.wired(comp):
            if occ.active(comp):
                s |= 0x04
        else:
            s |= 0x80
        if self.codes.has(comp):
            s |= 0x08
        if self.disabled[comp] or not self.locks.healthy():
            s |= 0x10
        if self.door_fault[comp]:
            s |= 0x20
        return s

    def set_disabled(self, comp, on):
        self.disabled[comp] = 1 if on else 0
        self.save_settings()

    # Settings the host may change (CONFIG_SET), kept on flash over the config file's defaults:
    #     left open limit s u32 | door window ms u32 | disabled flag per compartment
    def save_settings(self):
        b = bytearray(8)
        b[0:4] = (self.left_open_ms // 1000).to_bytes(4, "big")
        b[4:8] = self.door_window_ms.to_bytes(4, "big")
        self.flash.write_atomic("settings", b + self.disabled)

    def _load_settings(self):
        raw = self.flash.read_atomic("settings")
        if raw and len(raw) == 8 + self.count:
            self.left_open_ms = u32_be(raw, 0) * 1000
            self.door_window_ms = u32_be(raw, 4)
            self.disabled[:] = raw[8:]


def _ignore(*_args):
    pass
