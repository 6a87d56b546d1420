"""The lock-board drivers (firmware/lock_serial.py) against the simulated vendor boards
(hardware_sim/lockboards.py) on a modelled RS-485 line, in simulated time (1 ms steps, the same
clock for driver, board, line and latches; no wall clock, so the figures are exact and repeatable):

- pulses per open under 1% byte errors, for every dialect: errors on the board's replies only (what
  made the old driver resend), and on both directions (a garbled unlock frame is not executed by
  the board: an open with no pulse, which the driver must not repair with a second frame);
- OPEN round trip (unlock request -> the board's first word on the door) beside the wire time of
  the frames plus the board's own reply latency, as a ratio.
"""
import random

from firmware.lock_modbus import ModbusRelayLocks
from firmware.lock_serial import KerongLocks, X8aLocks
from hardware_sim.lockboards import KerongSim, X8aSim
from hardware_sim.modbus_relays import ModbusRelaysSim
from hardware_sim.physics import Compartment

SECTION = "lock boards: one pulse per open"
CMD = ".venv/bin/python -m bench lockboards"
OPENS = 100
N = 16


class Line:
    """Both directions of the lock bus: bytes arrive 10 bit times apart, each hit by an error with
    probability `to_board` / `to_controller` (a random non-zero XOR)."""

    def __init__(self, baud, to_board=0.0, to_controller=0.0, seed=7):
        self.baudrate = baud
        self.byte_ms = 10000.0 / baud
        self.p_board = to_board
        self.p_ctrl = to_controller
        self.rng = random.Random(seed)
        self.sink = None  # the simulated board's receiver (set by the sim)
        self.now = 0
        self._to_board = []  # [due, byte]
        self._to_ctrl = []
        self._rx = bytearray()
        self._free = {"b": 0.0, "c": 0.0}

    def _queue(self, q, side, data, p):
        t = max(self._free[side], float(self.now))
        for byte in data:
            t += self.byte_ms
            if p and self.rng.random() < p:
                byte ^= self.rng.randint(1, 255)
            q.append([t, byte])
        self._free[side] = t

    # the controller's side (what firmware/lock_serial.py calls)
    def write(self, data):
        self._queue(self._to_board, "b", data, self.p_board)
        return len(data)

    def any(self):
        return len(self._rx)

    def read(self):
        d = bytes(self._rx)
        self._rx = bytearray()
        return d

    # the board's side (what hardware_sim/lockboards.py calls)
    def feed(self, data):
        self._queue(self._to_ctrl, "c", data, self.p_ctrl)

    def step(self, now):
        self.now = now
        out = bytearray()
        while self._to_board and self._to_board[0][0] <= now:
            out.append(self._to_board.pop(0)[1])
        if out and self.sink is not None:
            self.sink(bytes(out))
        while self._to_ctrl and self._to_ctrl[0][0] <= now:
            self._rx.append(self._to_ctrl.pop(0)[1])


def _rig(kind, to_board, to_controller):
    comps = [Compartment("M", random.Random(i)) for i in range(N)]
    for c in comps:
        c.auto_close_ms = 1500  # a person takes a parcel out: the door stays open a while
    if kind == "kerong":
        line = Line(19200, to_board, to_controller)
        sim = KerongSim(comps, line, boards=[0], baud=19200)
        drv = KerongLocks(line, N, [0], "hook_1_is_locked", False, 300)
    elif kind == "8a":
        line = Line(9600, to_board, to_controller)
        sim = X8aSim(comps, line, per_board=N, boards=[1], baud=9600)
        drv = X8aLocks(line, N, N, [1], "short_when_locked", 1500)
    else:  # two 8-channel Modbus RTU relay modules, slaves 1 and 2; the module answers at once
        line = Line(9600, to_board, to_controller)
        sim = ModbusRelaysSim(comps, line, [1, 2], per_board=8, baud=9600)
        sim.reply_ms = 0
        drv = ModbusRelayLocks(line, N, [1, 2], per_board=8, pulse_ms=500, polarity="input_1_is_locked",
                               window_ms=150, baud=9600)
    return comps, line, sim, drv


def _run(kind, to_board=0.0, to_controller=0.0, opens=OPENS):
    comps, line, sim, drv = _rig(kind, to_board, to_controller)
    now = 1
    trips = []

    def tick():
        line.step(now)
        sim.step(now)
        for c in comps:
            c.step(now)
        drv.poll(now)

    for _ in range(300):  # the first status sweeps
        now += 1
        tick()
    for k in range(opens):
        lock = k % N
        t0 = now
        started = []
        drv.request(lock, lambda _lock, ok, at, started=started: started.append(at))  # the unlock frame went out
        seen = None
        while True:
            now += 1
            tick()
            if seen is None and started and not drv.awaiting_reply():
                seen = now - t0
            c = comps[lock]
            if seen is not None and not c.coil and not c.door_open and not c.hook_released():
                break
            if now - t0 > 20000:
                break
        trips.append(seen if seen is not None else now - t0)
        for _ in range(50):
            now += 1
            tick()
    pulses = sum(c.pulses for c in comps)
    return pulses, trips, drv, sim, line


def _unlocks(kind, drv, sim):
    """Unlock frames: those the driver sent (serial boards), or the ON writes a module acted on (Modbus)."""
    if kind == "modbus":
        return sum(1 for slave, fn, _addr, value in sim.log if fn == 5 and value == 0xFF00)
    return drv.unlocks_sent


def _reply_note(kind, drv, sim):
    if kind == "modbus":
        return "ON writes acted on %d, replies with a bad CRC %d, late replies %d" % (
            _unlocks(kind, drv, sim), drv.crc_errors, drv.stale)
    return "unlock frames %d, line faults %d, bad checksums %d, replies unanswered %d" % (
        drv.unlocks_sent, drv.counters["line_faults"], drv.counters["bad_checksum"], drv.counters["unanswered"])


def run(report):
    for kind in ("kerong", "8a", "modbus"):
        pulses, trips, drv, sim, line = _run(kind)
        cmd_bytes, reply_bytes = {"kerong": (5, 9), "8a": (5, 5), "modbus": (8, 8)}[kind]
        ideal = (cmd_bytes + reply_bytes) * line.byte_ms + sim.reply_ms
        trips.sort()
        median = trips[len(trips) // 2]
        report.add(SECTION, "%s: OPEN round trip, unlock request to the board's reply (median of %d)"
                   % (kind, OPENS), round(median / ideal, 3), "x", command=CMD,
                   note="%d ms beside %.1f ms wire time + %d ms the board's own latency"
                   % (median, (cmd_bytes + reply_bytes) * line.byte_ms, sim.reply_ms))
        report.add(SECTION, "%s: pulses per open, clean line" % kind, round(pulses / OPENS, 3), "pulses/open",
                   command=CMD)
        pulses, _t, drv, sim, _l = _run(kind, to_controller=0.01)
        report.add(SECTION, "%s: pulses per open, 1%% byte errors on the replies" % kind,
                   round(pulses / OPENS, 3), "pulses/open", command=CMD,
                   note=_reply_note(kind, drv, sim))
        pulses, _t, drv, sim, _l = _run(kind, to_board=0.01, to_controller=0.01)
        report.add(SECTION, "%s: pulses per open, 1%% byte errors both ways" % kind,
                   round(pulses / OPENS, 3), "pulses/open", command=CMD,
                   note="never above 1: %d unlock frames acted on for %d opens; %d frames the board could not "
                        "read (those opens pulsed nothing and end JAMMED, never pulsed twice)"
                        % (_unlocks(kind, drv, sim), OPENS, sim.bad_frames))
