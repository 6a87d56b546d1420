# Probing the lock-board bus when a cabinet is commissioned: which dialect, baud rate, board
# addresses and channel count its lock boards answer to, and one lock's raw feedback (the polarity
# check). A non-blocking state machine: the firmware's loop calls poll(now) every few ms; each call
# sends at most one query or reads what arrived, and never waits, so the watchdog and the RS-485
# host link keep running. The app's lock driver does not touch the UART while a probe runs
# (firmware/lock_commission.py pauses it).
#
# What each dialect is asked (bytes from docs of the boards: /work/shared/reference/lock-boards.md):
#   Kerong KR-CU16   status  02 B<<4 30 03 SUM   reply 02 B<<4 35 HOOK1-8 HOOK9-16 IR1-8 IR9-16 03 SUM (9 bytes)
#   "8A"             status  80 BB LL 33 XOR     reply HEAD BB LL ST XOR, HEAD 80 (or 8A / 81), up to 1.5 s late
#   Modbus RTU relay read coils 1..8 (function 01) at slave A; any well-formed reply (also an exception)
#                    means the slave is there. Channels: read discrete input k (function 02) one at a
#                    time; a normal reply means input k exists. Hand-built on purpose and kept small: a
#                    probe needs one request and the CRC; the Modbus lock driver (firmware/lock_modbus.py,
#                    with a maintained library) is another engineer's, and this should use its framing
#                    once it is on main.
# A reply that is garbled, fails its check or comes from another address than asked is ignored and
# counted (bad_replies); it never counts as an answer.
from firmware import modbus_rtu
from firmware.compat import ticks_diff
from firmware.lock_serial import kerong_frame, x8a_frame

KERONG = 1
X8A = 2
MODBUS = 3
NAMES = {1: "kerong", 2: "8a", 3: "modbus"}
BY_NAME = {"kerong": 1, "8a": 2, "modbus": 3}
ORDER = (KERONG, X8A, MODBUS)
BAUDS = {KERONG: (19200, 9600, 38400, 115200), X8A: (9600, 19200, 38400, 115200),
         MODBUS: (9600, 19200, 38400, 115200)}
FIRST_ADDR = {KERONG: 0, X8A: 1, MODBUS: 1}
LAST_ADDR = {KERONG: 15, X8A: 16, MODBUS: 16}
MAX_ADDR = {KERONG: 15, X8A: 255, MODBUS: 247}
# how long a query waits for its reply: 8A boards answer late (a client known to work waits 1.5 s)
WAIT_MS = {KERONG: 120, X8A: 1500, MODBUS: 150}
GAP_MS = 5  # quiet line between a reply (or a timeout) and the next query
KERONG_CHANNELS = 16
MAX_CHANNELS = 50  # the largest "8A" boards have 50 locks

SCAN = 1
CHECK = 2
READ = 3
RUNNING = 1
DONE = 2
NOTHING = 3
STOPPED = 4
UNSETTLED = 1
OUT_OF_TIME = 2
NO_READING = 0xFF


def crc16_modbus(data):
    """CRC-16/MODBUS, the Modbus driver's own (firmware/modbus_rtu.py); sent low byte first."""
    return modbus_rtu.crc16(data)


def modbus_frame(slave, function, start, count):
    b = bytearray((slave, function, start >> 8, start & 0xFF, count >> 8, count & 0xFF))
    c = crc16_modbus(b)
    b.append(c & 0xFF)
    b.append(c >> 8)
    return bytes(b)


class Prober:
    """One probe. mode SCAN: for each dialect (in `dialects`), each baud, each address: does a board
    answer? Stops at the first dialect and baud where any board answers, then (8A, Modbus) counts
    the channels of the first board found. CHECK: query each of `boards` once in the one dialect and
    baud given. READ: one status query of `lock` (from 1) on `boards[0]`: the raw reply bytes and the
    lock's feedback bit / state byte, as the bus says them, before any polarity is applied.

    budget_ms bounds the whole probe (state STOPPED with flag OUT_OF_TIME when it runs out). `state`,
    `progress` (percent), `dialect`, `baud`, `queried`, `boards`, `per_board`, `raw`, `feedback`,
    `ir`, `flags`, `bad_replies` are what LOCK_PROBE_STATUS reports."""

    def __init__(self, uart, now, mode=SCAN, dialects=ORDER, bauds=None, boards=None, lock=1,
                 budget_ms=180000, wait_ms=None, max_channels=MAX_CHANNELS):
        self.uart = uart
        self.mode = mode
        self.started = now
        self.budget_ms = budget_ms
        self.wait_ms = wait_ms  # None: the dialect's own (WAIT_MS)
        self.max_channels = max_channels
        self.lock = lock
        self.state = RUNNING
        self.flags = 0
        self.bad_replies = 0
        self.dialect = 0
        self.baud = 0
        self.queried = []
        self.boards = []
        self.per_board = 0
        self.raw = b""
        self.feedback = NO_READING
        self.ir = NO_READING
        # the plan: [(dialect, baud, [addresses])], walked in order
        plan = []
        for d in dialects:
            addrs = list(boards) if boards else list(range(FIRST_ADDR[d], LAST_ADDR[d] + 1))
            if mode == READ:
                addrs = addrs[:1]
            for b in (bauds or BAUDS[d]):
                plan.append((d, b, addrs))
        self._plan = plan
        self._total = 0
        for _d, _b, addrs in plan:
            self._total += len(addrs)
        self._done_steps = 0
        self._step = -1  # index in the plan
        self._addr_i = 0
        self._found = []
        self._chan = 0  # channel being counted (8A, Modbus), 0 = not counting
        self._sent_at = None  # a query on the wire since then, or None
        self._expect = None  # (kind, address, channel) of the query on the wire
        self._idle_at = now  # next query not before GAP_MS after this
        self._rx = bytearray()
        self._next_combo(now)

    # -- the plan --------------------------------------------------------------------------------
    def _next_combo(self, now):
        self._step += 1
        self._addr_i = 0
        self._found = []
        if self._step >= len(self._plan):
            self.state = NOTHING if self.mode == SCAN else DONE
            if self.mode != SCAN and self._plan:  # a CHECK or READ reports what it asked, answered or not
                d, b, addrs = self._plan[-1]
                self.dialect, self.baud, self.queried = d, b, addrs
            return
        d, b, _addrs = self._plan[self._step]
        self.uart.init(baudrate=b)
        while self.uart.any():  # what the line said at the old rate is noise now
            self.uart.read()
        self._idle_at = now

    @property
    def progress(self):
        if self.state != RUNNING:
            return 100
        total = self._total + (self.max_channels if self._chan else 0)
        done = self._done_steps + (self._chan if self._chan else 0)
        return min(99, done * 100 // max(1, total))

    def stop(self):
        if self.state == RUNNING:
            self.state = STOPPED

    def poll(self, now):
        if self.state != RUNNING:
            return
        if ticks_diff(now, self.started) >= self.budget_ms:
            self.state = STOPPED
            self.flags |= OUT_OF_TIME
            return
        u = self.uart
        if u.any():
            data = u.read()
            if data:
                self._rx.extend(data)
                if len(self._rx) > 64:
                    self._rx = self._rx[-64:]
        if self._sent_at is not None:
            reply = self._match()
            if reply is not None:
                self._answered(reply, now)
                return
            d = self._plan[self._step][0]
            if ticks_diff(now, self._sent_at) < (self.wait_ms or WAIT_MS[d]):
                return
            self._silent(now)
            return
        if ticks_diff(now, self._idle_at) < GAP_MS:
            return
        self._send(now)

    # -- queries ---------------------------------------------------------------------------------
    def _send(self, now):
        d, _b, addrs = self._plan[self._step]
        if self._chan:
            addr, chan = self._found[0], self._chan
        else:
            addr, chan = addrs[self._addr_i], (self.lock if self.mode == READ else 1)
        if d == KERONG:
            frame = kerong_frame((addr & 0x0F) << 4, 0x30)
        elif d == X8A:
            frame = x8a_frame(0x80, addr, chan, 0x33)
        elif self._chan or self.mode == READ:
            frame = modbus_frame(addr, 0x02, chan - 1, 1)  # read discrete input chan
        else:
            frame = modbus_frame(addr, 0x01, 0, 8)  # read coils 1..8
        self._rx = bytearray()
        self._expect = (d, addr, chan, frame[1] if d == MODBUS else 0)
        self._sent_at = now
        self.uart.write(frame)

    def _match(self):
        """A well-formed reply to the query on the wire, as (data bytes, ok); None while there is none."""
        d, addr, chan, fn = self._expect
        rx = self._rx
        while rx:
            if d == KERONG:
                if rx[0] != 0x02:
                    rx = self._drop(rx)
                    continue
                if len(rx) < 9:
                    break
                f = rx[:9]
                if f[2] != 0x35 or f[7] != 0x03 or (sum(f[:8]) & 0xFF) != f[8]:
                    rx = self._drop(rx)
                    continue
                if f[1] != (addr & 0x0F) << 4:
                    rx = self._drop(rx, 9)  # another board's answer: not ours
                    continue
                self._rx = rx[9:]
                return bytes(f[3:7]), True
            if d == X8A:
                if rx[0] not in (0x80, 0x8A, 0x81):
                    rx = self._drop(rx)
                    continue
                if len(rx) < 5:
                    break
                f = rx[:5]
                if f[0] ^ f[1] ^ f[2] ^ f[3] != f[4]:
                    rx = self._drop(rx)
                    continue
                if f[1] != addr or f[2] != chan:
                    rx = self._drop(rx, 5)
                    continue
                self._rx = rx[5:]
                return bytes(f[3:4]), True
            # Modbus: slave, function (| 0x80 on an exception), then count + data or an exception code
            if len(rx) < 5:
                break
            if rx[0] != addr or rx[1] & 0x7F != fn:
                rx = self._drop(rx)
                continue
            if rx[1] & 0x80:
                ln = 5
            else:
                ln = 5 + rx[2]
                if rx[2] > 32:
                    rx = self._drop(rx)
                    continue
            if len(rx) < ln:
                break
            c = crc16_modbus(rx[:ln - 2])
            if rx[ln - 2] != c & 0xFF or rx[ln - 1] != c >> 8:
                rx = self._drop(rx)
                continue
            self._rx = rx[ln:]
            if rx[1] & 0x80:
                return bytes(rx[2:3]), False
            return bytes(rx[3:ln - 2]), True
        self._rx = rx
        return None

    def _drop(self, rx, n=1):
        self.bad_replies += 1
        return rx[n:]

    def _answered(self, reply, now):
        data, ok = reply
        d, addr, chan, _fn = self._expect
        self._sent_at = None
        self._idle_at = now
        if self.mode == READ:
            self._read_done(d, data, ok)
            return
        if self._chan:
            if ok:  # channel chan exists
                self.per_board = chan
                self._next_channel(now)
            else:
                self._finish()
            return
        self._found.append(addr)
        self._next_addr(now)

    def _silent(self, now):
        self._sent_at = None
        self._idle_at = now
        if self.mode == READ:
            self._next_addr(now)
            return
        if self._chan:
            self._finish()  # channels run 1..N: the first silent one ends the count
            return
        self._next_addr(now)

    def _next_addr(self, now):
        d, b, addrs = self._plan[self._step]
        self._done_steps += 1
        self._addr_i += 1
        if self.mode == READ:  # nobody answered the read
            self.dialect, self.baud, self.queried = d, b, addrs
            self.state = DONE
            return
        if self._addr_i < len(addrs):
            return
        if self.mode == CHECK or self._found:
            self.dialect, self.baud, self.queried, self.boards = d, b, addrs, self._found
            if self.mode == SCAN and d == KERONG:
                self.per_board = KERONG_CHANNELS
            if self.mode == SCAN and d != KERONG:
                # 8A: lock 1 answered already; Modbus: the slave did, input 1 is still to be asked
                self.per_board = 1 if d == X8A else 0
                self._chan = self.per_board
                self._next_channel(now)
                return
            self.state = DONE
            return
        self._next_combo(now)

    def _next_channel(self, now):
        if self._chan >= self.max_channels:
            self.flags |= UNSETTLED  # every channel asked answered: the board may have more, or answer any
            self._finish()
            return
        self._chan += 1

    def _finish(self):
        self._chan = 0
        self.state = DONE

    def _read_done(self, d, data, ok):
        self.raw = data
        self.dialect, self.baud = d, self._plan[self._step][1]
        self.queried = self.boards = [self._expect[1]]
        bit = self.lock - 1
        if d == KERONG and bit < 16:
            hooks = data[0] | (data[1] << 8)
            irs = data[2] | (data[3] << 8)
            self.feedback = (hooks >> bit) & 1
            self.ir = (irs >> bit) & 1
        elif d == X8A:
            self.feedback = data[0]
        elif ok and data:
            self.feedback = data[0] & 1
        self.state = DONE
