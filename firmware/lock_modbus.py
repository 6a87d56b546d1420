# Modbus RTU relay modules on the lock UART (8-channel RS-485 relay boards with opto inputs, as
# open-source lockers use): one relay per lock, the latch feedback on the module's discrete inputs.
# Config: "locks": {"type": "modbus", "baud": 9600, "boards": [slave addresses], "per_board": 8,
#                   "pulse_ms": 500, "polarity": "input_1_is_locked" | "input_1_is_open",
#                   "window_ms": 150, "pulse_mode": "onoff" | "flash"}
# Compartment i is channel i % per_board (coil and input i % per_board) on slave boards[i // per_board].
#
# An unlock is one transaction, never repeated (docs/lock-boards.md, "Modbus RTU relay modules"):
#   ON     05 coil FF00 ("onoff") or the module's timed flash 05 0x0200+ch, value = pulse in 100 ms
#          ("flash", Waveshare's documented command: the module ends the pulse even if this board dies)
#   reply lost or garbled: the coil is read back (01), never switched on again; only an exception
#          "busy" (not executed, by the spec) lets the ON go out again
#   OFF    05 coil 0000 at pulse_ms after the ON, in both modes, repeated until the module echoes it;
#          unconfirmed after _OFF_TRIES it is a lock fault (a solenoid may still be energised): LOCK_FAULT,
#          the module is unhealthy, gets no further pulse, and is sent "all coils off" until it answers
# At start every module is sent "all coils off" (0F) before anything else (a reset mid-pulse leaves a
# remote relay on: resetting this board cannot switch it off, so stuck() is never the remedy here).
# Between unlocks the discrete inputs (02) of each module are polled for the latch feedback.
# Replies are framed by length and CRC; a frame from another slave, a late reply to an earlier
# request, a bad CRC and bytes left incomplete for 3.5 characters are counted and ignored.
from firmware import modbus_rtu as mb
from firmware.compat import ticks_add, ticks_diff
from firmware.lock_queue import LockQueue

POLARITIES = ("input_1_is_locked", "input_1_is_open")
PULSE_MODES = ("onoff", "flash")
FLASH_BASE = 0x0200  # Waveshare Modbus RTU Relay: 05 to 0x0200+ch = flash on, value x 100 ms
_OFF_TRIES = 3

_ON, _CHECK, _HOLD, _OFF = 0, 1, 2, 3  # unlock job states


class ModbusRelayLocks(LockQueue):
    bus = True  # modules on a bus: feedback None means "not heard yet", not "this lock has no feedback"

    def __init__(self, uart, count, boards, per_board=8, pulse_ms=500, polarity=None, window_ms=150,
                 baud=9600, pulse_mode="onoff", retries=2, status_period_ms=250, now=0):
        if polarity not in POLARITIES:
            raise ValueError("locks.polarity must be input_1_is_locked or input_1_is_open")
        if pulse_mode not in PULSE_MODES:
            raise ValueError("locks.pulse_mode must be onoff or flash")
        if not boards or not 1 <= per_board <= 64 or len(boards) * per_board < count:
            raise ValueError("locks.boards x per_board must cover every compartment")
        for k in range(len(boards)):
            a = boards[k]
            if not isinstance(a, int) or not 1 <= a <= 247:
                raise ValueError("locks.boards: Modbus slave addresses are 1..247")
            if a in boards[:k]:  # two compartments would drive one relay: the wrong door would open
                raise ValueError("locks.boards: slave %d is listed twice" % a)
        if not isinstance(pulse_ms, int) or not 100 <= pulse_ms <= 3000:
            raise ValueError("locks.pulse_ms must be 100..3000 (a solenoid held longer overheats)")
        if not isinstance(window_ms, int) or not 20 <= window_ms <= 2000:
            raise ValueError("locks.window_ms must be 20..2000")
        LockQueue.__init__(self, count)
        self.uart = uart
        self.slaves = list(boards)
        self.per_board = per_board
        self.pulse_ms = pulse_ms
        self.open_level = 1 if polarity == "input_1_is_open" else 0  # input level meaning "released"
        self.flash = pulse_mode == "flash"
        self.window_ms = window_ms
        self.retries = retries
        self.status_period_ms = status_period_ms
        # 3.5 characters of 11 bits (Serial Line V1.02 2.5.1.1), rounded up, and one tick for the ms clock
        self.gap_ms = max(2, (38500 + baud - 1) // baud + 1)
        nb = len(boards)
        self._rx = bytearray()
        self._rx_at = now
        self._req = None  # [frame, kind ('on' 'coil' 'off' 'in' 'all'), board, sent_at, tries]
        self._job = None  # [lock, callback, on_at, state, tries, decided, off_tries, on_frame]
        self._released = bytearray(count)
        self._known = bytearray(count)
        self._failing = bytearray(nb)
        self._alloff = bytearray(b"\x01" * nb)  # modules whose coils are not yet confirmed all off
        self._risk = bytearray(nb)  # a coil there could not be confirmed off
        self.faults = []  # modules (index into boards) that just failed; the app journals LOCK_FAULT
        self.crc_errors = 0  # replies that never made a well-formed frame
        self.foreign = 0  # well-formed frames from a slave other than the one asked
        self.stale = 0  # well-formed frames answering no request in flight (late replies)
        self.exceptions = 0
        self._next_status = 0
        self._status_at = ticks_add(now, -status_period_ms)

    # -- the LockQueue driver interface (see lock_serial.py / lock_gpio.py, and app.py) ----------
    def all_off(self):
        for b in range(len(self.slaves)):
            self._alloff[b] = 1

    def stuck(self, now):
        return False  # the relays are on another board: a watchdog reset would not release them

    def release(self, lock, now):
        """The door is open: end the pulse now (the OFF goes out at the next poll)."""
        job = self._job
        if job is not None and job[0] == lock and job[3] == _HOLD:
            job[2] = ticks_add(now, -self.pulse_ms)

    def pending(self, lock):
        if self._job is not None and self._job[0] == lock:
            return True  # until its OFF is confirmed
        for q in self._queue:
            if q[0] == lock:
                return True
        return False

    def awaiting_reply(self):
        """A request is on the wire and its answer not in yet (the serial drivers' call of the same name)."""
        return self._req is not None

    def feedback(self, lock):
        if not self._known[lock] or self._failing[lock // self.per_board]:
            return None
        return self._released[lock] == 1

    def outputs_unsure(self):
        """A relay may be on that should be off: a pulse under way, or an OFF never confirmed."""
        if self._job is not None:
            return True
        for r in self._risk:
            if r:
                return True
        return False

    def healthy(self):
        for b in range(len(self.slaves)):
            if self._failing[b] or self._risk[b]:
                return False
        return True

    def poll_inputs(self, now, changed):
        pass  # the inputs come with the status replies read in poll()

    # -- the bus -----------------------------------------------------------------------------------
    def poll(self, now):
        u = self.uart
        if u.any():
            data = u.read()
            if data:
                self._rx.extend(data)
                self._rx_at = now
                if len(self._rx) > 96:
                    self._rx = self._rx[-96:]
        req = self._req
        if req is not None:
            f = self._take(req, now)
            if f is not None:
                self._req = None
                if not (f[1] & 0x80 and req[1] in ("all", "off")):
                    self._failing[req[2]] = 0  # it answers (refusing to switch off is no answer)
                self._answer(req, f, now)
            elif ticks_diff(now, req[3]) >= self.window_ms:
                self._req = None
                self._unanswered(req, now)
            elif req[1] == "coil" and self._off_due(now):
                self._req = None  # the OFF goes first: a read back never keeps a coil on longer
            else:
                return
        self._send_next(now)

    def _off_due(self, now):
        job = self._job
        return job is not None and job[3] in (_CHECK, _HOLD) and ticks_diff(now, job[2]) >= self.pulse_ms

    def _send(self, frame, kind, board, now, tries=1):
        self._rx = bytearray()  # anything before this request answers none of it
        self._req = [frame, kind, board, now, tries]
        self.uart.write(frame)

    def _send_next(self, now):
        job = self._job
        if job is not None:
            lock = job[0]
            b, ch = lock // self.per_board, lock % self.per_board
            if self._off_due(now):
                job[3] = _OFF
            st = job[3]
            if st == _ON:
                if job[4] and ticks_diff(now, job[2]) < self.window_ms // 2:
                    return  # the module said busy: give it a moment
                job[2] = now  # the pulse is timed from the ON the module executes
                self._send(job[7], "on", b, now)
            elif st == _CHECK:
                self._send(mb.read_coils(self.slaves[b], ch, 1), "coil", b, now)
            elif st == _OFF:
                self._send(mb.write_coil(self.slaves[b], ch, mb.OFF), "off", b, now)
            return  # _HOLD: the bus stays quiet until the OFF
        if self._queue:
            lock = self._queue[0][0]
            b = lock // self.per_board
            if self._alloff[b] and not self._failing[b] and not self._risk[b]:
                self._send_alloff(b, now)  # first make sure nothing is left on from before
                return
            lock, cb = self._queue.pop(0)
            if self._alloff[b] or self._failing[b]:
                cb(lock, False, now)  # dead, or a coil there may still be on: no second coil
                return
            ch = lock % self.per_board
            if self.flash:
                on = mb.write_coil(self.slaves[b], FLASH_BASE + ch, max(1, (self.pulse_ms + 99) // 100))
            else:
                on = mb.write_coil(self.slaves[b], ch, mb.ON)
            self._job = [lock, cb, now, _ON, 0, 0, 0, on]
            self._send_next(now)
            return
        if self._next_status or ticks_diff(now, self._status_at) >= self.status_period_ms:
            if not self._next_status:
                self._status_at = now
            b = self._next_status
            self._next_status = (b + 1) % len(self.slaves)
            if self._alloff[b]:
                self._send_alloff(b, now)
            else:
                self._send(mb.read_inputs(self.slaves[b], 0, self.per_board), "in", b, now)

    def _send_alloff(self, b, now):
        self._send(mb.write_coils(self.slaves[b], 0, self.per_board, 0), "all", b, now)

    def _take(self, req, now):
        """The reply to req if a whole one is here, else None. Frames that are not it are counted and
        dropped; bytes that stay incomplete for 3.5 characters were a garbled frame."""
        rx = self._rx
        slave, fc = req[0][0], req[0][1]
        i = 0
        while i + 5 <= len(rx):
            ln = mb.reply_len(rx, i)
            if not ln:
                i += 1
                continue
            f = bytes(rx[i:i + ln])
            if i:
                self.crc_errors += 1  # a garbled frame (or line noise) came before this one
            rx = self._rx = rx[i + ln:]
            i = 0
            if f[0] != slave:
                self.foreign += 1
            elif f[1] == fc | 0x80 or (f[1] == fc and _answers(req[0], f)):
                return f
            elif self._job is not None and f == self._job[7] and self._job[3] == _CHECK:
                return f  # the ON's echo, late: the pulse did start
            else:
                self.stale += 1
        if rx and ticks_diff(now, self._rx_at) >= self.gap_ms:
            self.crc_errors += 1
            self._rx = bytearray()
        return None

    def _answer(self, req, f, now):
        kind, b = req[1], req[2]
        exc = f[1] & 0x80
        if exc:
            self.exceptions += 1
        job = self._job
        if kind == "on" or (kind == "coil" and f == job[7]):
            if not exc:
                self._started(job, now if kind == "on" else job[2])
            elif f[2] == mb.EXC_BUSY and job[4] < self.retries:
                job[4] += 1  # not executed: the same ON may go again
                job[2] = now
            else:
                self._job = None  # refused (a channel the module lacks, a command it does not know)
                self.faults.append(b)
                job[1](job[0], False, now)
        elif kind == "coil":
            if exc:
                return  # no answer to the question: ask again until the OFF is due
            if f[3] & 1:
                self._started(job, job[2])
            elif self.flash and ticks_diff(now, job[2]) >= self.pulse_ms:
                self._started(job, job[2])  # a flash may have come and gone: the door decides
            else:
                job[3] = _OFF  # the ON never took effect: no pulse, and the OFF confirms it
                job[5] = 1
                job[1](job[0], False, now)
        elif kind == "off":
            if exc:
                self._unanswered(req, now)
                return
            self._job = None
            if not job[5]:
                job[1](job[0], True, job[2])  # the module lives but never said whether it pulsed
        elif kind == "in":
            base = b * self.per_board
            v = 0 if exc else mb.bits(f, self.per_board)
            for k in range(self.per_board):
                if base + k < self.count:
                    self._released[base + k] = 1 if ((v >> k) & 1) == self.open_level else 0
                    self._known[base + k] = 0 if exc else 1  # a module without inputs: no feedback
        elif kind == "all":
            if exc:
                self._unanswered(req, now)
                return
            self._alloff[b] = 0
            self._risk[b] = 0
            self._status_at = ticks_add(now, -self.status_period_ms)  # and read its inputs now

    def _started(self, job, t):
        job[3] = _HOLD
        if not job[5]:
            job[5] = 1
            job[1](job[0], True, t)

    def _unanswered(self, req, now):
        kind, b = req[1], req[2]
        job = self._job
        if kind == "on":
            job[3] = _CHECK  # maybe it switched, maybe not: read the coil, never switch it again
        elif kind == "coil":
            pass  # read again until the OFF is due
        elif kind == "off":
            job[6] += 1
            if job[6] >= _OFF_TRIES:
                self._job = None
                self._risk[b] = 1
                self._alloff[b] = 1  # keep commanding every coil off, each status round
                self._fail(b)
                if not job[5]:
                    # the ON went out and may have switched the relay: the door decides (OPENED or
                    # JAMMED), never "nothing was pulsed" (ADR 0012); the LOCK_FAULT stands
                    job[1](job[0], True, job[2])
        elif req[4] <= self.retries and not self._failing[b]:
            self._send(req[0], kind, b, now, req[4] + 1)
        else:
            self._fail(b)

    def _fail(self, b):
        if not self._failing[b]:
            self._failing[b] = 1
            self.faults.append(b)


def _answers(req, f):
    """f (the request's slave and function code) is the normal reply to req: a write's echo of its
    coil and value (05) or of its start and quantity (0F), a read's byte count for its quantity."""
    if req[1] == mb.WRITE_COIL:
        return f == req
    if req[1] == mb.WRITE_COILS:
        return f[2:6] == req[2:6]
    return f[2] == (((req[4] << 8) | req[5]) + 7) // 8
