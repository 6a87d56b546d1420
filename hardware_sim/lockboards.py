"""Simulated commercial lock boards on a controller's second UART (the retrofit case), answering as
the vendors' boards do (docs/lock-boards.md, /work/shared/reference/lock-boards.md), not as our
driver would like:

- Kerong KR-CU16: status (30) and unlock (31) are both answered by one 9-byte frame
  `02 ADDR 35 HOOK1-8 HOOK9-16 IR1-8 IR9-16 03 SUM`, promptly (`reply_ms`, default 50 ms: the
  hook bits show the state just after the pulse started); a board can stay deaf for `busy_ms`
  after a pulse (frames arriving then are not heard at all).
- "8A": `8A BB LL 11 XOR` pulses and is answered `8A BB LL ST XOR` about 500 ms later
  (`reply_ms`; `head` 0x81 for makers that answer so); `80 BB LL 33 XOR` is answered
  `HEAD BB LL ST XOR` after `status_ms` (what real boards put in HEAD is not documented: `status_head`).
- Both: the board's own baud (`baud`): a controller UART at another rate is garbage to it; the wiring
  polarity of the latch feedback (`polarity`); board addresses (`boards`); IR bits from the
  compartment's parcel (`ir`, Kerong).

Faults, all in simulated time (step(now) runs with the board's ms clock): `dead` (no power: no
pulse, no reply), `mute` (pulses, never answers), lose_next() / garble_next() for the next replies
of a kind, `byte_error_rate` (each reply byte hit with that probability) and `rx_error_rate` (each
received byte), `busy_ms`. Every pulse is counted by the compartment's coil (Compartment.pulses).
"""
import random
import threading

PULSE_MS = 500
KERONG_POLARITIES = ("hook_1_is_locked", "hook_1_is_open")
X8A_POLARITIES = ("short_when_locked", "short_when_open")


def kerong_sum(frame):
    return sum(frame) & 0xFF


def xor4(f):
    return f[0] ^ f[1] ^ f[2] ^ f[3]


class _LockBoardSim:
    FRAME_LEN = 5

    def __init__(self, compartments, uart, boards, per_board, baud, reply_ms, status_ms, busy_ms=0,
                 seed=1, byte_error_rate=0.0, rx_error_rate=0.0):
        self.compartments = compartments
        self.uart = uart  # the controller's lock UART: firmware writes land in self.inbox
        self.boards = list(boards)
        self.per_board = per_board
        self.baud = baud
        self.reply_ms = reply_ms
        self.status_ms = status_ms
        self.busy_ms = busy_ms
        self.byte_error_rate = byte_error_rate
        self.rx_error_rate = rx_error_rate
        self.rng = random.Random(seed)
        self.inbox = bytearray()
        self._lock = threading.Lock()
        self.dead = False
        self.mute = False
        self.frames = 0  # commands understood
        self.bad_frames = 0  # bytes that were not a command for us (bad checksum, wrong baud, ...)
        self.unlocks = 0
        self.replies = 0
        self.lost = 0
        self._lose = {"unlock": 0, "status": 0}
        self._garble = {"unlock": [], "status": []}
        self._outbox = []  # [due, kind, build()] in due order
        self._off_at = {}
        self._busy_until = None
        uart.sink = self._received

    # -- faults --------------------------------------------------------------------------------
    def lose_next(self, kind="unlock", n=1):
        """The next n replies of kind ('unlock' / 'status') never reach the controller."""
        self._lose[kind] += n

    def garble_next(self, kind="unlock", fix_sum=True, n=1):
        """The next n replies of kind have their feedback flipped (the lock's hook bit / the ST byte),
        the checksum recomputed to match (fix_sum: the weak check passes) or left as it was."""
        self._garble[kind].extend([fix_sum] * n)

    # -- wiring --------------------------------------------------------------------------------
    def _received(self, data):
        if self.dead:
            return
        with self._lock:
            self.inbox.extend(data)

    def _index(self, board_addr, lock):
        """Compartment index of lock (from 0) on the board at board_addr, or -1."""
        if board_addr not in self.boards or not 0 <= lock < self.per_board:
            return -1
        i = self.boards.index(board_addr) * self.per_board + lock
        return i if i < len(self.compartments) else -1

    def _pulse(self, idx, now):
        self.compartments[idx].set_coil(True, now)
        self._off_at[idx] = now + PULSE_MS
        self.unlocks += 1
        if self.busy_ms:
            self._busy_until = now + self.busy_ms

    def step(self, now):
        for idx, t in list(self._off_at.items()):
            if now >= t:
                self.compartments[idx].set_coil(False, now)
                del self._off_at[idx]
        if self.dead:
            self._outbox = []
            with self._lock:
                self.inbox = bytearray()
            return
        with self._lock:
            data = bytes(self.inbox)
            self.inbox = bytearray()
        if data:
            if self.rx_error_rate:
                data = self._noise(data, self.rx_error_rate)
            if getattr(self.uart, "baudrate", self.baud) != self.baud:
                self.bad_frames += 1  # framing errors at the wrong rate: nothing understood
                data = b""
            busy = self._busy_until is not None and now < self._busy_until
            if not busy:
                self._buf.extend(data)
                self._parse(now)
        while self._outbox and self._outbox[0][0] <= now:
            _due, kind, build = self._outbox.pop(0)
            self._send(kind, build())

    def _noise(self, data, rate):
        b = bytearray(data)
        for k in range(len(b)):
            if self.rng.random() < rate:
                b[k] ^= self.rng.randint(1, 255)
        return bytes(b)

    def pending_replies(self, kind="unlock"):
        return len([e for e in self._outbox if e[1] == kind])

    def _later(self, due, kind, build):
        # one reply at a time, in the order asked: a query behind a slow unlock waits for its reply
        for e in self._outbox:
            if e[1] == "unlock" and due <= e[0]:
                due = e[0] + 1
        self._outbox.append([due, kind, build])
        self._outbox.sort(key=lambda e: e[0])

    def _send(self, kind, frame):
        if self.mute:
            return
        if self._lose[kind]:
            self._lose[kind] -= 1
            self.lost += 1
            return
        if self._garble[kind]:
            frame = self.garbled(frame, self._garble[kind].pop(0))
        if self.byte_error_rate:
            frame = self._noise(frame, self.byte_error_rate)
        self.replies += 1
        self.uart.feed(frame)


class KerongSim(_LockBoardSim):
    """Kerong KR-CU16 boards, 16 locks each: ADDR = board << 4 | lock."""

    def __init__(self, compartments, uart, boards=(0,), baud=19200, polarity="hook_1_is_locked", ir=False,
                 reply_ms=50, busy_ms=0, **kw):
        if polarity not in KERONG_POLARITIES:
            raise ValueError("kerong polarity must be hook_1_is_locked or hook_1_is_open")
        _LockBoardSim.__init__(self, compartments, uart, boards, 16, baud, reply_ms, reply_ms, busy_ms, **kw)
        self.polarity = polarity
        self.ir = ir
        self._buf = bytearray()

    def _parse(self, now):
        buf = self._buf
        while buf:
            if buf[0] != 0x02:
                del buf[0]
                self.bad_frames += 1
                continue
            if len(buf) < 5:
                return
            frame = bytes(buf[:5])
            if frame[3] != 0x03 or kerong_sum(frame[:4]) != frame[4]:
                del buf[0]
                self.bad_frames += 1
                continue
            del buf[:5]
            addr, cmd = frame[1], frame[2]
            board, lock = addr >> 4, addr & 0x0F
            if board not in self.boards:
                continue  # another board's command: not ours to answer
            self.frames += 1
            if cmd == 0x31:
                idx = self._index(board, lock)
                if idx >= 0:
                    self._pulse(idx, now)
                self._later(now + self.reply_ms, "unlock", lambda a=addr, b=board: self.status_frame(a, b))
            elif cmd == 0x30:
                self._later(now + self.reply_ms, "status", lambda a=addr, b=board: self.status_frame(a, b))
            else:
                self.bad_frames += 1

    def status_frame(self, addr, board):
        hooks = 0
        irs = 0
        closed = 1 if self.polarity == "hook_1_is_locked" else 0
        for k in range(16):
            i = self._index(board, k)
            if i < 0:
                bit = closed  # no lock wired there: nothing released
            else:
                c = self.compartments[i]
                bit = closed if not c.hook_released() else 1 - closed
                if self.ir and c.parcel:
                    irs |= 1 << k
            hooks |= bit << k
        out = bytearray((0x02, addr, 0x35, hooks & 0xFF, hooks >> 8, irs & 0xFF, irs >> 8, 0x03))
        out.append(kerong_sum(out))
        return bytes(out)

    def garbled(self, frame, fix_sum):
        b = bytearray(frame)
        lock = b[1] & 0x0F
        b[3 + lock // 8] ^= 1 << (lock % 8)
        if fix_sum:
            b[8] = kerong_sum(b[:8])
        return bytes(b)


class X8aSim(_LockBoardSim):
    """"8A" boards: board and lock numbered from 1, XOR check; the unlock answered ~500 ms late."""

    def __init__(self, compartments, uart, per_board=24, boards=(1,), baud=9600, polarity="short_when_locked",
                 reply_ms=500, status_ms=30, head=0x8A, status_head=0x80, busy_ms=0, **kw):
        if polarity not in X8A_POLARITIES:
            raise ValueError("8a polarity must be short_when_locked or short_when_open")
        _LockBoardSim.__init__(self, compartments, uart, boards, per_board, baud, reply_ms, status_ms, busy_ms,
                               **kw)
        self.open_st = 0x00 if polarity == "short_when_locked" else 0x11
        self.head = head
        self.status_head = status_head
        self._buf = bytearray()

    def _parse(self, now):
        buf = self._buf
        while buf:
            if buf[0] not in (0x8A, 0x80):
                del buf[0]
                self.bad_frames += 1
                continue
            if len(buf) < 5:
                return
            f = bytes(buf[:5])
            if xor4(f) != f[4]:
                del buf[0]
                self.bad_frames += 1
                continue
            del buf[:5]
            if f[1] not in self.boards:
                continue  # another board's command
            idx = self._index(f[1], f[2] - 1)
            if idx < 0:
                self.bad_frames += 1
                continue
            self.frames += 1
            if f[0] == 0x8A and f[3] == 0x11:
                self._pulse(idx, now)
                self._later(now + self.reply_ms, "unlock", lambda f=f, i=idx: self.reply(self.head, f, i))
            elif f[0] == 0x80 and f[3] == 0x33:
                self._later(now + self.status_ms, "status", lambda f=f, i=idx: self.reply(self.status_head, f, i))
            else:
                self.bad_frames += 1

    def reply(self, head, f, idx):
        released = self.compartments[idx].hook_released()
        st = self.open_st if released else 0x11 ^ self.open_st
        return bytes((head, f[1], f[2], st, head ^ f[1] ^ f[2] ^ st))

    def garbled(self, frame, fix_sum):
        b = bytearray(frame)
        b[3] ^= 0x11
        if fix_sum:
            b[4] = xor4(b)
        return bytes(b)


def make(lock_cfg, compartments, uart, **options):
    """The simulated lock board(s) a controller's "locks" config talks to (firmware.lock_serial
    settings: type, baud, boards, per_board, polarity, ir), with simulator options on top."""
    from firmware import lock_serial

    s = lock_serial.settings(lock_cfg, len(compartments))
    opts = {"boards": s["boards"], "baud": s["baud"], "polarity": s["polarity"]}
    if s["type"] == "kerong":
        opts["ir"] = s["ir"]
        opts.update(options)
        return KerongSim(compartments, uart, **opts)
    opts["per_board"] = s["per_board"]
    opts.update(options)
    return X8aSim(compartments, uart, **opts)
