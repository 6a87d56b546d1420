"""Simulated commercial lock boards on a controller's second UART (the retrofit case).

Each decodes the vendor's frames from the bytes the firmware writes, drives the compartments'
coils for its own fixed pulse, and answers as the real boards do (frames: firmware/lock_serial.py).
A board can be made silent (`dead = True`) to show the controller's LOCK_FAULT handling.
"""
PULSE_MS = 500


class _LockBoardSim:
    def __init__(self, compartments, uart):
        self.compartments = compartments
        self.uart = uart  # the controller's lock UART: firmware writes land in self.inbox
        self.inbox = bytearray()
        self.dead = False
        self.frames = 0
        self.bad_frames = 0
        self._off_at = {}
        uart.sink = self._received

    def _received(self, data):
        self.inbox.extend(data)

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
    """Kerong CU16 boards, 16 locks each: ADDR = board << 4 | lock."""

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

    def __init__(self, compartments, uart, per_board=24):
        _LockBoardSim.__init__(self, compartments, uart)
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
        idx = (f[1] - 1) * self.per_board + f[2] - 1
        if idx >= len(self.compartments):
            return b""
        if f[0] == 0x8A and f[3] == 0x11:
            self._pulse(idx, now)
            st = 0x11
        elif f[0] == 0x80 and f[3] == 0x33:
            st = 0x11 if self.compartments[idx].hook_released() else 0x00
        else:
            self.bad_frames += 1
            return b""
        return bytes((f[0], f[1], f[2], st, f[0] ^ f[1] ^ f[2] ^ st))
