"""Simulated commercial lock boards on a controller's second UART (the retrofit case).

Each decodes the vendor's frames from the bytes the firmware writes, drives the compartments'
coils for its own fixed pulse, and answers as the real boards do (frames: firmware/lock_serial.py).
A board can be made silent (`dead = True`) to show the controller's LOCK_FAULT handling.
"""
PULSE_MS = 500


class _LockBoardSim:
    """baud: the rate the boards are set to (None: whatever the controller's UART is at); bytes sent at
    another rate reach them as garbage, which they ignore. addresses: the board addresses the
    compartments are wired to, 16 (Kerong) or per_board (8A) compartments each, in order (None: the
    dialect's first addresses). polarity: how the latch feedback reads (lock-boards.md: a per-locker
    setting); None keeps what these simulators always answered."""

    def __init__(self, compartments, uart, baud=None, addresses=None, polarity=None):
        self.compartments = compartments
        self.uart = uart  # the controller's lock UART: firmware writes land in self.inbox
        self.inbox = bytearray()
        self.dead = False
        self.frames = 0
        self.bad_frames = 0
        self.baud = baud
        self.addresses = addresses
        self.polarity = polarity
        self._off_at = {}
        uart.sink = self._received

    def _received(self, data):
        if self.baud is not None and getattr(self.uart, "baudrate", self.baud) != self.baud:
            self.bad_frames += 1  # at the wrong rate a UART sees framing errors, not bytes
            return
        self.inbox.extend(data)

    def _group(self, address, first):
        """The index of the board group this address is wired to, or None (no such board: silent)."""
        addrs = self.addresses if self.addresses is not None else None
        if addrs is None:
            return address - first
        return addrs.index(address) if address in addrs else None

    def _pulse(self, idx, now):
        if 0 <= idx < len(self.compartments):
            self.compartments[idx].set_coil(True, now)
            self._off_at[idx] = now + PULSE_MS

    def step(self, now):
        for idx, t in list(self._off_at.items()):
            if now >= t:
                self.compartments[idx].set_coil(False, now)
                del self._off_at[idx]
        while True:
            reply = self._parse(now)
            if reply is None:
                break
            if reply and not self.dead:
                self.uart.feed(reply)


def kerong_sum(frame):
    return sum(frame) & 0xFF


class KerongSim(_LockBoardSim):
    """Kerong CU16 boards, 16 locks each: ADDR = board << 4 | lock.

    faithful=True answers as lock-boards.md says the real boards do: one 9-byte frame
    02 ADDR 35 HOOK1-8 HOOK9-16 IR1-8 IR9-16 03 SUM to a status query and to an unlock, the hook bit 1
    meaning latched ("hook_1_is_locked", the default) or released ("hook_1_is_open"). Without it, the
    5-byte echo and 7-byte status these simulators always sent (the lock driver of this branch reads
    those; another engineer's rewrite of both sides replaces this)."""

    def __init__(self, compartments, uart, baud=None, addresses=None, polarity=None, faithful=False):
        _LockBoardSim.__init__(self, compartments, uart, baud, addresses, polarity)
        self.faithful = faithful

    def _status9(self, addr, group):
        hooks = irs = 0
        for k in range(16):
            i = group * 16 + k
            if i < len(self.compartments):
                released = self.compartments[i].hook_released()
                if released == (self.polarity == "hook_1_is_open"):
                    hooks |= 1 << k
                if self.compartments[i].parcel:
                    irs |= 1 << k
        out = bytearray((0x02, addr, 0x35, hooks & 0xFF, hooks >> 8, irs & 0xFF, irs >> 8, 0x03))
        out.append(kerong_sum(out))
        return bytes(out)

    def _parse(self, now):
        buf = self.inbox
        while buf and buf[0] != 0x02:
            del buf[0]
        if len(buf) < 5:
            return None
        frame = bytes(buf[:5])
        del buf[:5]
        if frame[3] != 0x03 or kerong_sum(frame[:4]) != frame[4]:
            self.bad_frames += 1
            return b""
        self.frames += 1
        addr, cmd = frame[1], frame[2]
        board, lock = addr >> 4, addr & 0x0F
        if self.faithful:
            group = self._group(board, 0)
            if group is None or cmd not in (0x30, 0x31):
                return b""
            if cmd == 0x31:
                self._pulse(group * 16 + lock, now)
            return self._status9(board << 4 if cmd == 0x30 else addr, group)
        if cmd == 0x31:
            self._pulse(board * 16 + lock, now)
            return frame  # echo: command taken
        if cmd == 0x30:
            bits = 0
            for k in range(16):
                i = board * 16 + k
                if i < len(self.compartments) and self.compartments[i].hook_released():
                    bits |= 1 << k
            out = bytearray((0x02, board << 4, 0x35, bits & 0xFF, bits >> 8, 0x03))
            out.append(kerong_sum(out))
            return bytes(out)
        self.bad_frames += 1
        return b""


class X8aSim(_LockBoardSim):
    """"8A" boards: board and lock numbered from 1, XOR check."""

    def __init__(self, compartments, uart, per_board=24, baud=None, addresses=None, polarity=None):
        _LockBoardSim.__init__(self, compartments, uart, baud, addresses, polarity)
        self.per_board = per_board

    def _parse(self, now):
        buf = self.inbox
        while buf and buf[0] not in (0x8A, 0x80):
            del buf[0]
        if len(buf) < 5:
            return None
        f = bytes(buf[:5])
        del buf[:5]
        if f[0] ^ f[1] ^ f[2] ^ f[3] != f[4] or f[1] < 1 or f[2] < 1:
            self.bad_frames += 1
            return b""
        self.frames += 1
        group = self._group(f[1], 1)
        if group is None or f[2] > self.per_board:
            return b""  # no such board, or no such lock on it: nothing answers
        idx = group * self.per_board + f[2] - 1
        if idx >= len(self.compartments):
            return b""
        released, latched = (0x00, 0x11) if self.polarity == "short_when_locked" else (0x11, 0x00)
        if f[0] == 0x8A and f[3] == 0x11:
            self._pulse(idx, now)
            st = released
        elif f[0] == 0x80 and f[3] == 0x33:
            st = released if self.compartments[idx].hook_released() else latched
        else:
            self.bad_frames += 1
            return b""
        return bytes((f[0], f[1], f[2], st, f[0] ^ f[1] ^ f[2] ^ st))
