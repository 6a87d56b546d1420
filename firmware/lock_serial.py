# Commercial lock boards on a second UART, so existing cabinets can be retrofitted. The boards
# drive the locks themselves; this side sends one frame at a time and reads what they send back.
# The frames and replies below are those of docs/lock-boards.md (from published drivers and vendor
# sheets), not of our simulator. Two dialects:
#
# Kerong KR-CU16 (16 locks a board, ADDR = board << 4 | lock, SUM = low byte of the sum of every
# byte before it, 19200 8N1 factory default):
#     unlock   02 ADDR 31 03 SUM
#     status   02 B<<4 30 03 SUM
#     reply to both: 02 ADDR 35 HOOK1-8 HOOK9-16 IR1-8 IR9-16 03 SUM   (9 bytes)
#       HOOK bit k = latch feedback of lock k (published drivers: 1 = latch closed; a setting),
#       IR bit k = 1 when something is inside (cabinets without IR sensors report 0: a setting).
# "8A" boards (8/12/18/24/36/50 locks a board, board and lock from 1, XOR of the four bytes before,
# 9600 8N1 usual):
#     unlock   8A BB LL 11 XOR              reply  8A BB LL ST XOR (head 81 from some makers)
#     status   80 BB LL 33 XOR              reply  HEAD BB LL ST XOR (80, 81 or 8A taken)
#       ST 00 / 11 = latch feedback; which one is "open" is a setting (short_when_locked: 00 open,
#       short_when_open: 11 open). The unlock reply comes ~500 ms late: the board pulses first.
#
# Rules this driver keeps (docs/adr/0012-one-pulse-per-open.md):
# - An unlock frame goes out exactly once per request. A missing, late or garbled reply is followed
#   by status queries, never by another unlock; a late reply is still a reply.
# - The first reply about a door after its pulse (the unlock reply, or the first status reply when
#   that was lost) is its first observation; the next status reply confirms it. Any other change of
#   a lock's (or IR sensor's) state needs two agreeing status replies: the vendors' 8-bit sum / XOR
#   lets some corrupted replies through, and a reply the next poll contradicts is counted as a line
#   fault (counters["line_faults"]), never acted on.
# - A frame from a board not asked, with a bad checksum, or about another lock is ignored and
#   counted (counters), never taken as the answer.
# - A board that leaves `fail_after` transactions in a row unanswered is failing (one LOCK_FAULT
#   for the app to journal); a Kerong board that is busy for a few hundred ms after a pulse stays
#   well inside that. Requests for a lock on a failing board get callback(lock, False, now) and no
#   frame (REFUSED / LOCK_FAULT); an unlock already sent is never reported as "not pulsed".
from firmware.compat import ticks_diff
from firmware.lock_queue import LockQueue

KERONG = "kerong"
X8A = "8a"
X8A_CHANNELS = (8, 12, 18, 24, 36, 50)
BAUDS = (2400, 4800, 9600, 19200, 38400, 57600, 115200)
POLARITIES = {KERONG: ("hook_1_is_locked", "hook_1_is_open"), X8A: ("short_when_locked", "short_when_open")}
# factory defaults (docs/lock-boards.md); "boards" None: one board a per_board locks, 0.. / 1..
DEFAULTS = {
    KERONG: {"baud": 19200, "per_board": 16, "polarity": "hook_1_is_locked", "ir": False, "window_ms": 300},
    X8A: {"baud": 9600, "per_board": 24, "polarity": "short_when_locked", "ir": False, "window_ms": 1500},
}
WINDOW_MIN = {KERONG: 50, X8A: 1500}
COUNTERS = ("line_faults", "bad_checksum", "wrong_board", "other_lock", "garbled", "unsolicited",
            "unanswered", "late_replies")

# Status replies carry no pulse, so they are not late as an 8A unlock reply is; how prompt they are
# is documented nowhere (docs/lock-boards.md): a sweep query waits this long at most. A board slower
# than this shows up at commissioning as unanswered queries and a LOCK_FAULT.
SWEEP_WINDOW_MS = 500
_UNK = 2  # no value (state unknown / no candidate / no provisional observation)


def kerong_frame(addr, cmd, data=b""):
    b = bytearray(b"\x02")
    b.append(addr)
    b.append(cmd)
    b.extend(data)
    b.append(0x03)
    b.append(sum(b) & 0xFF)
    return bytes(b)


def x8a_frame(head, board, lock, arg):
    return bytes((head, board, lock, arg, head ^ board ^ lock ^ arg))


def settings(lk, count):
    """The lock-board part of a board config ("locks"), checked and completed with the dialect's
    defaults. Raises ValueError naming the key for anything a board could not work with."""
    kind = lk.get("type")
    if kind not in DEFAULTS:
        raise ValueError("locks.type must be kerong or 8a for a lock board")
    d = DEFAULTS[kind]
    out = {"type": kind}
    baud = lk.get("baud", d["baud"])
    if baud not in BAUDS:
        raise ValueError("locks.baud must be one of %s" % ", ".join([str(b) for b in BAUDS]))
    out["baud"] = baud
    per = lk.get("per_board", d["per_board"])
    if kind == KERONG and per != 16:
        raise ValueError("locks.per_board must be 16 for kerong")
    if kind == X8A and per not in X8A_CHANNELS:
        raise ValueError("locks.per_board must be one of 8, 12, 18, 24, 36, 50 for 8a")
    out["per_board"] = per
    need = (count + per - 1) // per
    boards = lk.get("boards")
    if boards is None:  # configs written before the list: consecutive boards from the first address
        first = 0 if kind == KERONG else 1
        boards = list(range(first, first + need))
    if not isinstance(boards, list) or not boards:
        raise ValueError("locks.boards must be a list of board addresses")
    top = 15 if kind == KERONG else 255
    low = 0 if kind == KERONG else 1
    for b in boards:
        if not isinstance(b, int) or isinstance(b, bool) or not low <= b <= top:
            raise ValueError("locks.boards: addresses are %d..%d for %s" % (low, top, kind))
        if boards.count(b) > 1:
            raise ValueError("locks.boards: address %d is listed twice" % b)
    if len(boards) < need:
        raise ValueError("locks.boards lists %d boards; %d compartments need %d" % (len(boards), count, need))
    out["boards"] = list(boards)
    pol = lk.get("polarity", d["polarity"])
    if pol not in POLARITIES[kind]:
        raise ValueError("locks.polarity must be %s or %s for %s" % (POLARITIES[kind][0], POLARITIES[kind][1], kind))
    out["polarity"] = pol
    ir = lk.get("ir", d["ir"])
    if ir not in (True, False):
        raise ValueError("locks.ir must be true or false")
    if ir and kind != KERONG:
        raise ValueError("locks.ir: only kerong boards report IR occupancy")
    out["ir"] = ir
    win = lk.get("window_ms", d["window_ms"])
    if not isinstance(win, int) or isinstance(win, bool) or not WINDOW_MIN[kind] <= win <= 10000:
        raise ValueError("locks.window_ms must be %d..10000 for %s" % (WINDOW_MIN[kind], kind))
    out["window_ms"] = win
    return out


class SerialLockBoard(LockQueue):
    """The transaction engine both dialects share; subclasses know their frames."""

    bus = True  # a lock board: feedback None means "not heard yet", not "this lock has no feedback"

    def __init__(self, uart, count, boards, per_board, window_ms, now=0, status_period_ms=250, fail_after=3):
        LockQueue.__init__(self, count)
        self.uart = uart
        self.per_board = per_board
        self.board_addr = list(boards)  # bus address of board index i (compartment // per_board)
        self.window_ms = window_ms
        self.sweep_window_ms = min(window_ms, SWEEP_WINDOW_MS)
        self.status_period_ms = status_period_ms
        self.fail_after = fail_after
        self.ir = False
        nb = (count + per_board - 1) // per_board
        self.nboards = nb
        self._rx = bytearray()
        self._cur = None  # [kind 'u' (unlock) or 's' (status), target, sent_at]
        self._follow = -1  # lock whose pulse has not been observed yet (unlock reply outstanding)
        self._state = bytearray(b"\x02" * count)  # confirmed latch feedback: 1 released, 0 latched
        self._cand = bytearray(b"\x02" * count)  # a differing status reply waiting for a second one
        self._prov = bytearray(b"\x02" * count)  # first observation after a pulse, until a poll agrees
        self._occ = bytearray(b"\x02" * count)  # IR occupancy, confirmed (Kerong with IR only)
        self._occ_cand = bytearray(b"\x02" * count)
        self.occ_changed = []
        self.replies = [0] * nb  # replies heard from each board (mod 2**16)
        self._misses = bytearray(nb)
        self._ready = bytearray(b"\x01" * nb)  # the board answered a query since its last pulse
        self._failing = bytearray(nb)
        self.faults = []  # boards that just stopped answering (the app journals and clears this)
        self.counters = {}
        for k in COUNTERS:
            self.counters[k] = 0
        self.unlocks_sent = 0
        self._next_status = 0
        self._status_at = now

    # -- the lock driver interface (firmware/app.py) --------------------------------------------
    def all_off(self):
        pass  # the lock board owns its outputs

    def stuck(self, now):
        return False  # the lock board times its own pulses

    def release(self, lock, now):
        pass

    def pending(self, lock):
        if self._cur is not None and self._cur[0] == "u" and self._cur[1] == lock:
            return True
        for q in self._queue:
            if q[0] == lock:
                return True
        return False

    def awaiting_reply(self):
        """True while an unlock's reply (or, after it was lost, a status reply) is awaited: the bus
        is held for it, so other requests wait (up to the window, 1.5 s for 8A)."""
        return self._follow >= 0

    def feedback(self, lock):
        """True when the latch reports released, False latched, None unknown (or board silent)."""
        if self._failing[lock // self.per_board]:
            return None
        v = self._prov[lock]
        if v == _UNK:
            v = self._state[lock]
        return None if v == _UNK else v == 1

    def healthy(self):
        for f in self._failing:
            if f:
                return False
        return True

    def poll_inputs(self, now, changed):
        pass

    def occupancy(self):
        """The IR sensors as the app's occupancy inputs, or None when the boards have none."""
        return BoardOccupancy(self) if self.ir else None

    def line_report(self):
        c = self.counters
        return "%d/%d/%d/%d/%d/%d" % (c["line_faults"], c["bad_checksum"], c["wrong_board"], c["other_lock"],
                                      c["garbled"], c["unsolicited"])

    # -- the loop --------------------------------------------------------------------------------
    def poll(self, now):
        u = self.uart
        if u.any():
            data = u.read()
            if data:
                self._rx.extend(data)
                if len(self._rx) > 96:
                    self._rx = self._rx[-96:]
        self._parse(now)
        cur = self._cur
        if cur is not None:
            # an unlock and the queries that follow a lost reply get the whole window; a routine
            # sweep query no more than SWEEP_WINDOW_MS, so a silent board holds a person's OPEN back
            # less than the app's 800 ms queue limit
            win = self.window_ms if cur[0] == "u" or self._follow >= 0 else self.sweep_window_ms
            if ticks_diff(now, cur[2]) < win:
                return
            self._cur = None
            self.counters["unanswered"] += 1
            b = self._board_of(cur)
            if self._misses[b] < 255:
                self._misses[b] += 1
            if self._misses[b] >= self.fail_after and not self._failing[b]:
                self._failing[b] = 1
                self.faults.append(b)
            if self._follow >= 0 and self._failing[self._follow // self.per_board]:
                self._follow = -1  # nothing came back about that pulse: the door decides (app)
        if self._follow >= 0:
            # the pulse's reply was lost or is late: ask the board, never pulse again
            self._start("s", self.status_target(self._follow), now)
            return
        if self._queue:
            pick = -1
            for k in range(len(self._queue)):
                b = self._queue[k][0] // self.per_board
                if self._ready[b] or self._failing[b]:
                    pick = k
                    break
            if pick < 0:
                # every waiting lock is on a board just pulsed that has not answered a query since
                # (a Kerong board can stay deaf a few hundred ms after a pulse): ask it first
                self._start("s", self.status_target(self._queue[0][0]), now)
                return
            lock, cb = self._queue.pop(pick)
            if self._failing[lock // self.per_board]:
                cb(lock, False, now)  # no frame sent: the board has stopped answering
                return
            self._start("u", lock, now)
            if not self.ready_on_unlock_reply:
                self._ready[lock // self.per_board] = 0
            self._follow = lock
            self._prov[lock] = _UNK
            self.unlocks_sent += 1
            cb(lock, True, now)
            return
        if self._next_status or ticks_diff(now, self._status_at) >= self.status_period_ms:
            # one sweep over every status target back to back, a sweep every status_period_ms
            if not self._next_status:
                self._status_at = now
            n = self.status_targets()
            target = self._next_status
            while target and not self.worth_asking(target):
                target = (target + 1) % n
            if target == 0 and self._next_status:
                self._next_status = 0  # the rest of this sweep was skipped
                return
            self._next_status = (target + 1) % n
            self._start("s", target, now)

    def _start(self, kind, target, now):
        self._cur = [kind, target, now]
        self.uart.write(self.unlock_frame(target) if kind == "u" else self.status_frame(target))

    def _board_of(self, cur):
        return cur[1] // self.per_board if cur[0] == "u" else self.status_board(cur[1])

    def _heard(self, b, cur):
        if cur is None or cur[0] == "s" or self.ready_on_unlock_reply:
            self._ready[b] = 1
        self.replies[b] = (self.replies[b] + 1) & 0xFFFF
        self._misses[b] = 0
        self._failing[b] = 0

    def _count(self, what):
        self.counters[what] += 1

    # -- observations --------------------------------------------------------------------------
    def _observe(self, lock, v, first):
        """One reply's latch reading v (1 released, 0 latched) for lock; first: the first observation
        after its pulse."""
        if first:
            self._prov[lock] = v
            self._cand[lock] = _UNK
            return 0
        p = self._prov[lock]
        if p != _UNK:
            self._prov[lock] = _UNK
            if p == v:
                self._state[lock] = v
                self._cand[lock] = _UNK
                return 0
            bad = 1  # the pulse's reply and the next poll disagree
        else:
            bad = 0
        s = self._state[lock]
        c = self._cand[lock]
        if v == s:
            if c != _UNK:
                bad = 1  # a reading the next poll did not repeat
            self._cand[lock] = _UNK
        elif c == v:
            self._state[lock] = v
            self._cand[lock] = _UNK
        else:
            self._cand[lock] = v
        return bad

    def _observe_occ(self, lock, v):
        s = self._occ[lock]
        c = self._occ_cand[lock]
        bad = 0
        if v == s:
            if c != _UNK:
                bad = 1
            self._occ_cand[lock] = _UNK
        elif c == v:
            self._occ[lock] = v
            self._occ_cand[lock] = _UNK
            self.occ_changed.append(lock)
        else:
            self._occ_cand[lock] = v
        return bad


class BoardOccupancy:
    """The IR sensors of a Kerong board seen as the app's occupancy inputs (DebouncedInputs' shape):
    a sensor reads as wired only while its board answers and its reading is known, so a silent
    board is "no sensor" (ST_NO_OCCUPANCY_SENSOR), never "empty"."""

    def __init__(self, locks):
        self.locks = locks
        self._since = {}  # compartment -> its board's reply count when settling() was first asked

    def __len__(self):
        return self.locks.count

    def wired(self, i):
        lk = self.locks
        return not lk._failing[i // lk.per_board] and lk._occ[i] != _UNK

    def active(self, i):
        return self.locks._occ[i] == 1

    def settling(self, i):
        """True while a new reading waits for its second reply, and, once asked (the app asks when a
        door shuts), until two replies of the board have come in since: a parcel put in just before
        the door shut is seen by a poll after the shutting, not the one before."""
        lk = self.locks
        b = i // lk.per_board
        if not self.wired(i):
            self._since.pop(i, None)
            return False
        if lk._occ_cand[i] != _UNK:
            return True
        seen = lk.replies[b]
        if i not in self._since:
            self._since[i] = seen
            return True
        if (seen - self._since[i]) & 0xFFFF >= 2:
            del self._since[i]
            return False
        return True

    def poll(self, now, changed):
        ch = self.locks.occ_changed
        changed.extend(ch)
        del ch[:]


class KerongLocks(SerialLockBoard):
    ready_on_unlock_reply = False  # a board may be deaf for a while after its (prompt) unlock reply

    def __init__(self, uart, count, boards=None, polarity="hook_1_is_locked", ir=False, window_ms=300, **kw):
        if boards is None:
            boards = list(range((count + 15) // 16))
        SerialLockBoard.__init__(self, uart, count, boards, 16, window_ms, **kw)
        self.closed_bit = 1 if polarity == "hook_1_is_locked" else 0
        self.ir = ir

    def unlock_frame(self, lock):
        return kerong_frame((self.board_addr[lock // 16] << 4) | (lock % 16), 0x31)

    def status_frame(self, board):
        return kerong_frame(self.board_addr[board] << 4, 0x30)

    def status_target(self, lock):
        return lock // 16

    def status_targets(self):
        return self.nboards

    def status_board(self, target):
        return target

    def worth_asking(self, target):
        return True

    def _parse(self, now):
        rx = self._rx
        while len(rx) >= 1:
            if rx[0] != 0x02:
                rx = rx[1:]  # noise between frames
                continue
            if len(rx) < 9:
                break
            if rx[7] != 0x03:
                rx = rx[1:]  # not a frame here (a lost byte or noise): look for the next start
                continue
            f = bytes(rx[:9])
            rx = rx[9:]
            if sum(f[:8]) & 0xFF != f[8]:
                self._count("bad_checksum")
                continue
            self._take(f, now)
        self._rx = rx

    def _take(self, f, now):
        if f[2] != 0x35:
            self._count("garbled")
            return
        addr = f[1] >> 4
        if addr not in self.board_addr:
            self._count("wrong_board")
            return
        b = self.board_addr.index(addr)
        if b >= self.nboards:
            self._count("wrong_board")
            return
        cur = self._cur
        follow = self._follow
        if cur is not None and self._board_of(cur) == b:
            self._cur = None
        elif follow >= 0 and follow // 16 == b:
            self._count("late_replies")
        elif cur is None:
            self._count("unsolicited")
            return
        else:
            self._count("wrong_board")  # a board of ours, but not the one asked
            return
        if cur is not None and cur[0] == "s" and follow >= 0 and follow // 16 == b:
            self._count("late_replies")
        self._heard(b, cur)
        hooks = f[3] | (f[4] << 8)
        irs = f[5] | (f[6] << 8)
        base = b * 16
        bad = 0
        for k in range(16):
            lock = base + k
            if lock >= self.count:
                break
            v = 0 if ((hooks >> k) & 1) == self.closed_bit else 1
            bad |= self._observe(lock, v, lock == follow)
            if self.ir:
                bad |= self._observe_occ(lock, (irs >> k) & 1)
        if bad:
            self._count("line_faults")  # one reply, one fault, however many bits it got wrong
        if follow >= 0 and follow // 16 == b:
            self._follow = -1


class X8aLocks(SerialLockBoard):
    HEADS = (0x8A, 0x81, 0x80)
    ready_on_unlock_reply = True  # its unlock reply comes after the pulse, so it is listening again

    def __init__(self, uart, count, per_board=24, boards=None, polarity="short_when_locked", window_ms=1500,
                 **kw):
        if boards is None:
            boards = list(range(1, (count + per_board - 1) // per_board + 1))
        SerialLockBoard.__init__(self, uart, count, boards, per_board, window_ms, **kw)
        self.open_st = 0x00 if polarity == "short_when_locked" else 0x11

    def _addr(self, lock):
        return self.board_addr[lock // self.per_board], lock % self.per_board + 1

    def unlock_frame(self, lock):
        b, k = self._addr(lock)
        return x8a_frame(0x8A, b, k, 0x11)

    def status_frame(self, lock):
        b, k = self._addr(lock)
        return x8a_frame(0x80, b, k, 0x33)

    def status_target(self, lock):
        return lock

    def status_targets(self):
        return self.count  # one query per lock

    def status_board(self, target):
        return target // self.per_board

    def worth_asking(self, target):
        # a silent board is asked about its first lock only, so its silence costs one window a sweep
        return not self._failing[target // self.per_board] or target % self.per_board == 0

    def _parse(self, now):
        rx = self._rx
        while len(rx) >= 1:
            if rx[0] not in self.HEADS:
                rx = rx[1:]
                continue
            if len(rx) < 5:
                break
            f = bytes(rx[:5])
            if f[0] ^ f[1] ^ f[2] ^ f[3] != f[4]:
                self._count("bad_checksum")
                rx = rx[5:]
                continue
            rx = rx[5:]
            self._take(f, now)
        self._rx = rx

    def _take(self, f, now):
        if f[1] not in self.board_addr:
            self._count("wrong_board")
            return
        b = self.board_addr.index(f[1])
        if b >= self.nboards or not 1 <= f[2] <= self.per_board or f[3] not in (0x00, 0x11):
            self._count("garbled")
            return
        lock = b * self.per_board + f[2] - 1
        if lock >= self.count:
            self._count("garbled")
            return
        cur = self._cur
        follow = self._follow
        if cur is not None and cur[1] == lock:
            self._cur = None
            if cur[0] == "s" and follow == lock:
                self._count("late_replies")  # maybe the unlock's reply, maybe the status: same news
        elif follow == lock:
            self._count("late_replies")
        elif cur is None:
            self._count("unsolicited")
            return
        else:
            self._count("other_lock")
            return
        self._heard(b, cur)
        if self._observe(lock, 1 if f[3] == self.open_st else 0, follow == lock):
            self._count("line_faults")
        if follow == lock:
            self._follow = -1
