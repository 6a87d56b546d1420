# Ed25519 verification of a firmware image's signature on the real MicroPython interpreter, driven step by
# step by bench/mpy_heap.mjs from bench_firmware_signing.py (a full GC runs before each step; see mpy_heap.mjs):
#   node bench/mpy_heap.mjs --tree OUT/firmware=/firmware bench/mpy_signing_session.py \
#       "mark_start()" "load()" "mark_code()" "setup(PUB, DIGEST, SIG)" "time_verify(5)" "mark_base()" \
#       "start()" "step()" ... "report()"
# verify_steps() yields after each unit of work (the two point tables, each 4-bit window), so each step is
# one unit: the live heap before it (after a full GC) plus everything it allocates (this port frees nothing
# inside a call) bounds the heap a board needs at that point. report() prints one JSON line:
#   code_bytes  heap taken by importing firmware.ed25519 and firmware.sha512 (.mpy, with their constants)
#   peak        the largest (live before a step + allocated during it), relative to before the verification
#   peak_live   the largest live heap between steps (the generator, its tables and the accumulator)
#   churn       everything one verification allocates (what a GC must reclaim on a board)
#   steps       units of work, i.e. how often verify() calls its tick (the board feeds its watchdog there)
#   verify_ms   one verification, interpreter time
import gc
import json
import time

S = {"peak": 0, "peak_live": 0, "churn": 0, "steps": 0, "result": None}
G = {}


def mark_start():
    S["m0"] = gc.mem_alloc()


def load():
    global ed25519
    from firmware import ed25519


def mark_code():
    S["code"] = gc.mem_alloc() - S["m0"]


def _b(h):
    return bytes(int(h[i:i + 2], 16) for i in range(0, len(h), 2))


def setup(pub, digest, sig):
    G["args"] = (_b(pub), _b(digest), _b(sig))


def time_verify(k):
    pub, digest, sig = G["args"]
    assert ed25519.verify(pub, digest, sig)  # the first call also derives SHA-512's constants
    t0 = time.ticks_ms()
    for _ in range(k):
        assert ed25519.verify(pub, digest, sig)
    S["verify_ms"] = time.ticks_diff(time.ticks_ms(), t0) / k
    bad = bytearray(sig)
    bad[40] ^= 1
    assert not ed25519.verify(pub, digest, bytes(bad))


def mark_base():
    S["base"] = gc.mem_alloc()


def start():
    G["gen"] = ed25519.verify_steps(*G["args"])
    G["done"] = False


def step():
    if G["done"]:
        return
    m0 = gc.mem_alloc()  # after the driver's full collection: the live heap
    try:
        r = next(G["gen"])
    except StopIteration:
        G["done"] = True
        return
    m1 = gc.mem_alloc()
    S["steps"] += 1
    S["churn"] += m1 - m0
    S["peak_live"] = max(S["peak_live"], m0 - S["base"])
    S["peak"] = max(S["peak"], m1 - S["base"])
    if r is not None:
        S["result"] = r


def report():
    print(json.dumps({"code_bytes": S["code"], "peak": S["peak"], "peak_live": S["peak_live"], "churn": S["churn"],
                      "steps": S["steps"], "verify_ms": S["verify_ms"], "result": S["result"]}))
