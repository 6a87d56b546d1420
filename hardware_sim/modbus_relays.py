"""Simulated Modbus RTU relay modules (8-channel RS-485 relay boards with opto inputs) on a
controller's lock UART, for `lock_type="modbus"` (the driver: firmware/lock_modbus.py).

Each module is a Modbus RTU server with its own slave address, answering as the Application
Protocol V1.1b3 and Serial Line V1.02 say: 01 read coils, 02 read discrete inputs, 05 write single
coil (FF00 / 0000), 0F write multiple coils; exception replies (function | 0x80) for a function it
lacks (01), an address past its channels (02) and a bad value or quantity (03); silence for another
slave address, a bad CRC or a frame left incomplete for 3.5 characters; broadcast (address 0) writes
executed without a reply. Coil k drives the lock of its compartment; discrete input k is that
lock's latch feedback, 1 meaning locked or open as `polarity` says (the wiring's choice).
With flash=True a module also knows Waveshare's timed "flash on" (05 to 0x0200+k, value x 100 ms).

Written plainly rather than with pymodbus' server: pymodbus is not a dependency of the project's
environment (docs/adr/0013-modbus-rtu-relay-modules.md); the host-side tests check these frames
against pymodbus where it is installed.

Faults, for tests and the control console: `dead` (every module silent) or `dead_slaves`; the next
N replies `lose` (the module acts, the reply never arrives), `garble` (one byte of the reply
flipped), `busy` (exception 06, nothing done) or preceded by a `ghost` frame from another slave;
`die_after` N more requests (the module acts on N, then goes dead: a coil left on).
"""
import threading

from firmware import modbus_rtu as mb

FLASH_BASE = 0x0200


def modbus_config(compartments, per_board=8, polarity="input_1_is_locked", pulse_ms=500, window_ms=150,
                  pulse_mode="onoff", first_slave=1):
    """The "locks" settings of a controller wired to these modules (slaves first_slave, first_slave+1, ...)."""
    boards = list(range(first_slave, first_slave + (compartments + per_board - 1) // per_board))
    return {"boards": boards, "per_board": per_board, "pulse_ms": pulse_ms, "polarity": polarity,
            "window_ms": window_ms, "pulse_mode": pulse_mode}


class ModbusRelaysSim:
    def __init__(self, compartments, uart, boards, per_board=8, polarity="input_1_is_locked", flash=False,
                 baud=9600):
        self.compartments = compartments
        self.uart = uart
        self.slaves = list(boards)
        self.per_board = per_board
        self.polarity = polarity
        self.flash = flash
        self.gap_ms = 38500 / baud  # 3.5 characters of 11 bits
        self.inbox = bytearray()
        self._inbox_lock = threading.Lock()  # the firmware's thread writes, the physics thread reads
        self._last_rx = None
        self.coils = {a: [0] * per_board for a in self.slaves}
        self._flash_until = {}
        self.dead = False
        self.dead_slaves = set()
        self.lose = self.garble = self.busy = self.ghost = 0
        self.die_after = None  # the module dies (as `dead`) after acting on this many more requests
        self.frames = 0  # requests taken (addressed to one of these modules, CRC right)
        self.bad_frames = 0  # CRC wrong, or incomplete at a 3.5-character silence
        self.ignored = 0  # for another slave address
        self.exceptions = 0
        self.log = []  # (slave, function, address, value or quantity) of every request acted on
        self._now = 0
        uart.sink = self._received

    def _received(self, data):
        with self._inbox_lock:
            self.inbox.extend(data)
            self._last_rx = None  # stamped with the physics clock at the next step

    # -- the physics thread ------------------------------------------------------------------------
    def step(self, now):
        self._now = now
        for key, until in list(self._flash_until.items()):
            if now >= until:
                del self._flash_until[key]
                self._set(key[0], key[1], 0)
        while True:
            with self._inbox_lock:
                if self.inbox and self._last_rx is None:
                    self._last_rx = now
                n = _request_len(self.inbox)
                if n is None or len(self.inbox) < n:
                    if self.inbox and now - self._last_rx > self.gap_ms:
                        self.bad_frames += 1  # a silence ended the frame before it was whole
                        self.inbox = bytearray()
                    return
                frame = bytes(self.inbox[:n])
                del self.inbox[:n]
            self._frame(frame)

    def _frame(self, f):
        if mb.crc16(f, 0, len(f) - 2) != f[-2] | (f[-1] << 8):
            self.bad_frames += 1  # a server keeps silent about a bad CRC
            return
        slave = f[0]
        if slave != 0 and slave not in self.coils:
            self.ignored += 1
            return
        if self.die_after is not None:
            if self.die_after <= 0:
                self.dead = True
                self.die_after = None
            else:
                self.die_after -= 1
        if self.dead or slave in self.dead_slaves:
            return  # a dead module neither acts nor answers
        self.frames += 1
        if self.busy and slave:
            self.busy -= 1
            self._reply(bytes((slave, f[1] | 0x80, mb.EXC_BUSY)))
            return
        pdu = self._execute(slave, f)
        if slave:  # a broadcast is acted on, never answered
            self._reply(bytes((slave,)) + pdu)

    def _execute(self, slave, f):
        fc = f[1]
        addr = (f[2] << 8) | f[3]
        val = (f[4] << 8) | f[5]
        slaves = self.slaves if slave == 0 else [slave]
        self.log.append((slave, fc, addr, val))
        n = self.per_board
        if fc in (mb.READ_COILS, mb.READ_INPUTS):
            if not 1 <= val <= 2000:
                return self._exc(fc, 3)
            if addr + val > n:
                return self._exc(fc, 2)
            v = 0
            for k in range(val):
                on = self.coils[slave][addr + k] if fc == mb.READ_COILS else self._input(slave, addr + k)
                v |= on << k
            nbytes = (val + 7) // 8
            return bytes((fc, nbytes)) + v.to_bytes(nbytes, "little")
        if fc == mb.WRITE_COIL:
            if self.flash and FLASH_BASE <= addr < FLASH_BASE + n:
                for s in slaves:
                    self._set(s, addr - FLASH_BASE, 1)
                    self._flash_until[(s, addr - FLASH_BASE)] = self._now + 100 * val
                return f[1:6]
            if addr >= n:
                return self._exc(fc, 2)
            if val not in (mb.ON, mb.OFF):
                return self._exc(fc, 3)
            for s in slaves:
                self._set(s, addr, 1 if val == mb.ON else 0)
            return f[1:6]
        if fc == mb.WRITE_COILS:
            if not 1 <= val <= 1968 or f[6] != (val + 7) // 8:
                return self._exc(fc, 3)
            if addr + val > n:
                return self._exc(fc, 2)
            bits = int.from_bytes(f[7:7 + f[6]], "little")
            for s in slaves:
                for k in range(val):
                    self._set(s, addr + k, (bits >> k) & 1)
            return f[1:6]
        return self._exc(fc, 1)

    def _exc(self, fc, code):
        self.exceptions += 1
        return bytes((fc | 0x80, code))

    def _reply(self, body):
        out = bytearray(body)
        c = mb.crc16(out)
        out.append(c & 0xFF)
        out.append(c >> 8)
        if self.lose:
            self.lose -= 1
            return
        if self.ghost:
            self.ghost -= 1
            self.uart.feed(_ghost_of(bytes(out)))
        if self.garble:
            self.garble -= 1
            out[len(out) // 2] ^= 0x5A
        self.uart.feed(bytes(out))

    # -- coils and inputs ----------------------------------------------------------------------------
    def _index(self, slave, k):
        return self.slaves.index(slave) * self.per_board + k

    def _set(self, slave, k, on):
        self.coils[slave][k] = on
        if not on:
            self._flash_until.pop((slave, k), None)
        i = self._index(slave, k)
        if i < len(self.compartments):
            self.compartments[i].set_coil(bool(on), self._now)

    def _input(self, slave, k):
        i = self._index(slave, k)
        if i >= len(self.compartments):
            return 0
        released = self.compartments[i].hook_released()
        return released if self.polarity == "input_1_is_open" else 1 - released

    def coil_on(self, compartment):
        """Whether the relay of this compartment (from 0) is energised now."""
        slave = self.slaves[compartment // self.per_board]
        return self.coils[slave][compartment % self.per_board] == 1


def _request_len(buf):
    """A request's length from its function code (Serial Line V1.02: a server frames by the 3.5
    character silence; the length check here finds the same frames in a buffer of whole writes)."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return 8  # an unknown function: take a plain request's length and answer "illegal function"


def _ghost_of(frame):
    """The same reply as if from another slave (a second module with a wrong address)."""
    out = bytearray(frame[:-2])
    out[0] = 247 if frame[0] != 247 else 246
    c = mb.crc16(out)
    out.append(c & 0xFF)
    out.append(c >> 8)
    return bytes(out)
