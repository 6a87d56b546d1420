# Heap of the Modbus relay-module driver on the real MicroPython (run by bench/bench_modbus.py through
# bench/mpy_heap.mjs, one statement per top-level call so that gc.collect() frees between them):
#   start() import_kerong() mark_kerong() import_modbus() mark_modbus() build() traffic() report()
# A scripted module on a fake UART answers every request, as firmware/modbus_rtu.py frames them.
# Prints one line "RESULT {json}" (bytes of MicroPython heap, gc.mem_alloc()).
import gc
import json

R = {}
S = {}


class _Uart:
    def __init__(self):
        self.rx = bytearray()

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        b = bytes(self.rx)
        self.rx = bytearray()
        return b

    def write(self, f):
        from firmware import modbus_rtu as mb

        fc = f[1]
        if fc in (1, 2):
            body = bytearray((f[0], fc, 1, 0xFF if fc == 2 else 0))
        elif fc == 5:
            body = bytearray(f[:6])
        else:
            body = bytearray(f[:6])
        self.rx.extend(mb._adu(body))
        return len(f)


def start():
    S["a"] = gc.mem_alloc()


def import_kerong():
    from firmware import lock_serial  # noqa: F401 - the other UART lock-board driver, for comparison


def mark_kerong():
    R["kerong_import"] = gc.mem_alloc() - S["a"]
    S["a"] = gc.mem_alloc()


def import_modbus():
    from firmware import lock_modbus  # noqa: F401


def mark_modbus():
    R["modbus_import"] = gc.mem_alloc() - S["a"]


def build():
    from firmware.lock_modbus import ModbusRelayLocks

    a = gc.mem_alloc()
    S["locks"] = ModbusRelayLocks(_Uart(), 48, [1, 2, 3, 4, 5, 6], polarity="input_1_is_locked", now=0)
    R["instance_48_locks_6_modules"] = gc.mem_alloc() - a


def traffic():
    locks = S["locks"]
    t = 0
    for _ in range(20):  # boot: all coils off on every module, then status sweeps
        locks.poll(t)
        t += 50
    t += locks.status_period_ms  # a sweep is due
    a = gc.mem_alloc()
    polls = 0
    for _ in range(6):  # one status sweep: a read of 8 inputs from each of the 6 modules
        locks.poll(t)
        polls += 1
    R["alloc_per_status_read"] = (gc.mem_alloc() - a) // polls
    done = []
    locks.request(9, lambda k, ok, tt: done.append(ok))
    a = gc.mem_alloc()
    for _ in range(400):  # ON, 500 ms pulse, OFF confirmed
        t += 5
        locks.poll(t)
        if done and not locks.pending(9):
            break
    R["alloc_per_unlock"] = gc.mem_alloc() - a
    R["unlock_ok"] = done == [True]


def report():
    print("RESULT " + json.dumps(R))
