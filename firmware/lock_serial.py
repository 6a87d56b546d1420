# Commercial lock boards on a second UART, so existing cabinets can be retrofitted. The boards
# drive the locks themselves; this side sends one command at a time, waits a bounded time for the
# answer, retries, and polls lock status in between (a lock board's "status" is its latch
# feedback switch: released = door not latched). Two frame dialects:
#
# Kerong CU16 (16 locks per board, ADDR = board << 4 | lock, SUM = sum of all previous bytes):
#     unlock   02 ADDR 31 03 SUM           answer  02 ADDR 31 03 SUM
#     status   02 B<<4 30 03 SUM           answer  02 B<<4 35 LO HI 03 SUM   (bit k: lock k released)
# "8A" boards (board and lock numbered from 1, XOR of the four previous bytes):
#     unlock   8A BOARD LOCK 11 XOR        answer  8A BOARD LOCK ST XOR   (ST 11 released, 00 latched)
#     status   80 BOARD LOCK 33 XOR        answer  80 BOARD LOCK ST XOR
from firmware.compat import ticks_diff


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


class SerialLockBoard:
    """Shared transaction engine; subclasses know their frames."""

    per_board = 16

    def __init__(self, uart, count, now=0, timeout_ms=150, retries=2, status_period_ms=250):
        self.uart = uart
        self.count = count
        self.boards = (count + self.per_board - 1) // self.per_board
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.status_period_ms = status_period_ms
        self._rx = bytearray()
        self._queue = []  # [lock, callback]
        self._cur = None  # [frame, kind ('u'/'s'), lock or board, callback, sent_at, tries]
        self._released = bytearray(count)
        self._known = bytearray(count)
        self._failing = bytearray(self.boards)
        self.faults = []  # boards that just stopped answering (the app journals and clears this)
        self._next_status = 0
        self._status_at = now

    def all_off(self):
        pass  # the lock board owns its outputs

    def request(self, lock, callback):
        if not 0 <= lock < self.count:
            raise ValueError("no such lock")
        self._queue.append([lock, callback])

    def cancel(self, lock):
        for k in range(len(self._queue)):
            if self._queue[k][0] == lock:
                self._queue.pop(k)
                return True
        return False

    def stuck(self, now):
        return False  # the lock board times its own pulses

    def release(self, lock, now):
        pass

    def pending(self, lock):
        if self._cur is not None and self._cur[1] == "u" and self._cur[2] == lock:
            return True
        for q in self._queue:
            if q[0] == lock:
                return True
        return False

    def feedback(self, lock):
        if not self._known[lock] or self._failing[lock // self.per_board]:
            return None
        return self._released[lock] == 1

    def healthy(self):
        for f in self._failing:
            if f:
                return False
        return True

    def poll_inputs(self, now, changed):
        pass

    def poll(self, now):
        u = self.uart
        if u.any():
            data = u.read()
            if data:
                self._rx.extend(data)
                if len(self._rx) > 64:
                    self._rx = self._rx[-64:]
        cur = self._cur
        if cur is not None:
            if self._match(cur):
                self._cur = None
                self._board_ok(cur)
                if cur[1] == "u":
                    cur[3](cur[2], True, now)
                return
            if ticks_diff(now, cur[4]) < self.timeout_ms:
                return
            if cur[5] <= self.retries:
                cur[5] += 1
                self._send(cur, now)
                return
            self._cur = None
            board = cur[2] // self.per_board if cur[1] == "u" else self.status_board(cur[2])
            if not self._failing[board]:
                self._failing[board] = 1
                self.faults.append(board)
            if cur[1] == "u":
                cur[3](cur[2], False, now)
            return
        if self._queue:
            lock, cb = self._queue.pop(0)
            self._cur = [self.unlock_frame(lock), "u", lock, cb, now, 1]
            self._send(self._cur, now)
        elif self._next_status or ticks_diff(now, self._status_at) >= self.status_period_ms:
            # one sweep over every status target back to back, a sweep every status_period_ms
            if not self._next_status:
                self._status_at = now
            target = self._next_status
            self._next_status = (target + 1) % self.status_targets()
            self._cur = [self.status_frame(target), "s", target, None, now, 1]
            self._send(self._cur, now)

    def _send(self, cur, now):
        self._rx = bytearray()
        cur[4] = now
        self.uart.write(cur[0])

    def _board_ok(self, cur):
        board = cur[2] // self.per_board if cur[1] == "u" else self.status_board(cur[2])
        self._failing[board] = 0

    def _match(self, cur):
        rx = self._rx
        while rx and rx[0] != cur[0][0]:
            rx = rx[1:]
        self._rx = rx
        ln = self.reply_len(cur[1])
        if len(rx) < ln:
            return False
        frame = bytes(rx[:ln])
        self._rx = rx[ln:]
        return self.accept(cur, frame)


class KerongLocks(SerialLockBoard):
    per_board = 16

    def unlock_frame(self, lock):
        return kerong_frame(((lock // 16) << 4) | (lock % 16), 0x31)

    def status_frame(self, board):
        return kerong_frame(board << 4, 0x30)

    def status_targets(self):
        return self.boards

    def status_board(self, target):
        return target

    def reply_len(self, kind):
        return 5 if kind == "u" else 7

    def accept(self, cur, f):
        if f[-2] != 0x03 or (sum(f[:-1]) & 0xFF) != f[-1] or f[1] != cur[0][1]:
            return False
        if cur[1] == "u":
            return f[2] == 0x31
        if f[2] != 0x35:
            return False
        bits = f[3] | (f[4] << 8)
        base = cur[2] * 16
        for k in range(16):
            if base + k < self.count:
                self._released[base + k] = (bits >> k) & 1
                self._known[base + k] = 1
        return True


class X8aLocks(SerialLockBoard):
    def __init__(self, uart, count, per_board=24, **kw):
        self.per_board = per_board
        SerialLockBoard.__init__(self, uart, count, **kw)

    def _addr(self, lock):
        return lock // self.per_board + 1, lock % self.per_board + 1

    def unlock_frame(self, lock):
        b, k = self._addr(lock)
        return x8a_frame(0x8A, b, k, 0x11)

    def status_frame(self, lock):
        b, k = self._addr(lock)
        return x8a_frame(0x80, b, k, 0x33)

    def status_targets(self):
        return self.count  # one query per lock

    def status_board(self, target):
        return target // self.per_board

    def reply_len(self, kind):
        return 5

    def accept(self, cur, f):
        sent = cur[0]
        if f[0] != sent[0] or f[1] != sent[1] or f[2] != sent[2] or (f[0] ^ f[1] ^ f[2] ^ f[3]) != f[4]:
            return False
        lock = cur[2]
        self._released[lock] = 1 if f[3] == 0x11 else 0
        self._known[lock] = 1
        return True
