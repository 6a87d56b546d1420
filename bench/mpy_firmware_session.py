# A scripted board session on the real MicroPython interpreter, driven by bench/mpy_heap.mjs from
# bench_firmware.py (a full GC runs between the steps named there; see mpy_heap.mjs for why):
#   node bench/mpy_heap.mjs --copy protocol --copy firmware bench/mpy_firmware_session.py \
#       "mark_start()" "load()" "mark_code()" "prepare(48)" "mark_base()" "build()" "mark_app()" \
#       "run(0)" "after()" ... "report()"
# It builds the app through firmware.board.build() with fake pins and UARTs (GPIO locks with
# feedback, keypad, scanner, two chilled zones), feeds it pre-built host requests and keypad and
# scanner input, and report() prints one JSON line:
#   code_bytes   heap taken by importing the firmware and protocol modules (compiled from source in
#                RAM here; frozen into flash on a production board)
#   app_live     the app's live heap once built
#   peak_live    largest live heap after any command
#   peak         largest heap during any command: live before it plus every allocation it made
#                (nothing is freed inside a call on this port), an upper bound of the true peak
#   scan_ms      interpreter time from a scanned/typed code to the lock pin going high
# heap figures are relative to the heap in use before the app is built.
#
# With prepare(n, PUBKEY_HEX) the board config trusts that firmware signing key, so build_server attaches
# the firmware-update handler (update_handler, updater, update_image, ed25519, as a board with fw_pubkeys
# has); the board runs version 1.0.0 from slot a (its slot.json and the boot pointer as provisioning
# leaves them, copied to RUNNING and POINTER by --file; the slot's files are not needed). After the
# scripted session a signed image (copied to IMAGE by --file) is taken in and committed while the app
# keeps running (one app step after each unit of work):
#   "fw_begin()" "fw_chunk()"... (FW_BEGIN with the image's SHA-256, then 224-byte chunks into the
#   updater's staging, as FW_CHUNK)
#   "fw_commit_start()" "fw_commit_step()"... the real Updater.commit_steps(), one unit of work per step
#   (what commit() runs between two ticks): the image's SHA-256, the Ed25519 signature, the manifest, every
#   file's hash, the install into slot b and its read-back, the switch
#   "fw_report()" prints one JSON line: fw_peak (largest heap during one unit of the commit, app
#   included, same base and bound as peak), fw_peak_unit (which), stage_peak (the same while staging),
#   fw_live (largest live heap between units), units, phases (per phase: units, largest live heap before
#   a unit, largest peak), commit (the version the commit installed), pointer (the boot pointer it wrote).
import gc
import json
import os
import time

S = {}


def mark_start():
    S["m0"] = gc.mem_alloc()


def load():
    # what a board imports (main.py -> firmware.board, proto_server, and through them protocol/)
    global board
    from firmware import board
    from firmware import update_handler, proto_server  # noqa: F401  (update_handler: a board with fw_pubkeys)


def mark_code():
    S["code"] = gc.mem_alloc() - S["m0"]


KEY = b"0123456789abcdef"
ROOT = "/bench_fw"
IMAGE = "/image.cbfw"  # a signed firmware image, copied in by mpy_heap.mjs --file
RUNNING = "/slot_a.json"  # slot a's slot.json as provisioning writes it, copied in by mpy_heap.mjs --file
POINTER = "/boot.json"  # the boot pointer as provisioning writes it, copied in likewise
FAMILY = "bench-esp32"
CHUNK = 224  # FW_CHUNK's payload


# Count-only fakes, not hardware_sim/fakes.py's: fakes.Pin keeps every value written and fakes.Uart
# every byte sent, which would grow the heap this session measures; and mpy_heap.mjs copies only
# protocol/ and firmware/ onto the MicroPython it runs on.
class Pin:
    def __init__(self, v=0):
        self.v = v

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class Uart:
    def __init__(self):
        self.rx = bytearray()
        self.tx = 0

    def any(self):
        return len(self.rx)

    def read(self, n=-1):
        d = bytes(self.rx)
        self.rx = bytearray()
        return d

    def write(self, d):
        self.tx += len(d)
        return len(d)


class Adc:
    def read_u16(self):
        return 30000


class Clock:
    t = 1000

    def ms(self):
        return self.t


W = {}  # the world: pins, uarts, requests, the app


def idle():
    W["clock"].t += 5
    locks, doors, fb = W["locks"], W["doors"], W["fb"]
    for i in range(len(locks)):
        if locks[i].v:
            if W["pulse_at"] is None:
                W["pulse_at"] = time.ticks_us()
            fb[i].v = 1
            doors[i].v = 1


def prepare(n, pubkey=None):
    global make_payload, m, code_hash, HostSession
    from firmware.qrpayload import make_payload
    from protocol import messages as m
    from protocol.auth import code_hash
    from protocol.session import HostSession

    W["n"] = n
    W["clock"] = Clock()
    W["locks"] = [Pin() for _ in range(n)]
    W["doors"] = [Pin() for _ in range(n)]
    W["fb"] = [Pin() for _ in range(n)]
    W["keypad"], W["scanner"], W["bus"] = Uart(), Uart(), Uart()
    W["pulse_at"] = None
    W["cfg"] = {"address": 1, "locker_id": "LK-B", "key": "30313233343536373839616263646566", "compartments": n,
                "locks": {"type": "gpio", "pins": list(range(n)), "feedback_pins": list(range(n))},
                "doors": {"pins": list(range(n))}, "bus": {"uart": 1, "baud": 115200},
                "zones": [{"adc": 1, "relay": 2}, {"adc": 3, "relay": 4}]}
    if pubkey:
        W["cfg"]["fw_pubkeys"] = [pubkey]
        W["cfg"]["family"] = FAMILY
    W["hw"] = {"lock_pins": W["locks"], "feedback_pins": W["fb"], "door_pins": W["doors"], "bus": W["bus"],
               "keypad": W["keypad"], "scanner": W["scanner"], "zones": [(Adc(), Pin()), (Adc(), Pin())],
               "idle": idle, "uid": b"bench", "fw_root": ROOT}  # the updater's fw/ next to the app's files
    # every host request built up front, so the host side's allocations stay out of the figures
    host = HostSession(baud=115200)
    host.add_board(1, KEY)
    reqs = []

    def req(t, f=None, auth=None):
        reqs.append(host.request(1, t, f, now=0.0, auth=auth))
        host.cancel()

    req(m.HELLO)
    req(m.TIME_SET, {"time": 1800000000})
    codes = []
    for c in range(1, n + 1):
        code = "%08d" % (c * 7919 % 100000000)
        codes.append(code)
        salt = b"salt%04d" % c
        req(m.SET_CODE, {"compartment": c, "kind": 1, "salt": salt, "code_hash": code_hash(salt, code),
                         "expiry": 1900000000})
    req(m.STATUS)
    for c in range(1, 11):
        req(m.OPEN, {"compartment": c, "reason": 2, "reference": c})
    for _ in range(4):
        req(m.EVENTS, {"cursor": 0, "max_count": 16}, auth=True)
    req(m.EVENTS_ACK, {"upto": 30})
    req(m.CONFIG_GET, {"keys": []})
    req(m.STATUS)
    cmds = [("bus", w) for w in reqs]
    for c in range(11, 21):  # offline pickups: by keypad and by QR scan in turn
        if c % 2:
            cmds.append(("keypad", codes[c - 1].encode() + b"#"))
        else:
            cmds.append(("scanner", make_payload("LK-B", codes[c - 1]).encode() + b"\r"))
    for _ in range(5):
        cmds.append(("keypad", b"00000000#"))
    W["cmds"] = cmds
    from firmware import boot_select
    boot_select.FlashFs("/").rmtree(ROOT[1:])  # a bench run before this one left its flash
    os.mkdir(ROOT)
    if pubkey:  # provisioned: 1.0.0 in slot a, booted from it
        for d in ("/fw", "/fw/slot_a"):
            os.mkdir(ROOT + d)
        for src, dest in ((RUNNING, "/fw/slot_a/slot.json"), (POINTER, "/fw/boot.json")):
            with open(src, "rb") as f, open(ROOT + dest, "wb") as g:
                g.write(f.read())


def mark_base():
    S["base"] = gc.mem_alloc()
    S["peak"] = S["peak_live"] = 0
    S["scan_us"] = []


def build():
    W["app"] = board.build(W["cfg"], W["hw"], W["clock"], ROOT)
    W["server"] = board.build_server(W["app"], W["cfg"], W["hw"])


def mark_app():
    S["app"] = gc.mem_alloc() - S["base"]


def _step(k):
    app, server, clock = W["app"], W["server"], W["clock"]
    for _ in range(k):
        clock.t += 10
        server.poll(app.step())


def run(i):
    S["before"] = gc.mem_alloc()
    where, data = W["cmds"][i]
    W[where].rx.extend(data)
    if where == "bus":
        _step(3)
    else:
        W["pulse_at"] = None
        t0 = time.ticks_us()
        for _ in range(60):
            idle()
            _step(1)
            if W["pulse_at"] is not None:
                if data != b"00000000#":
                    S["scan_us"].append(time.ticks_diff(W["pulse_at"], t0))
                break
    used = gc.mem_alloc() - S["base"]
    if used > S["peak"]:
        S["peak"] = used
        S["peak_cmd"] = "%s %d" % (where, i)


def after():
    live = gc.mem_alloc() - S["base"]
    if live > S["peak_live"]:
        S["peak_live"] = live


def count():
    print(len(W["cmds"]))


def time_match(k):
    # a code nobody has: every compartment's salted hash is computed, the worst case
    t0 = time.ticks_ms()
    for _ in range(k):
        W["app"].codes.match(b"12345678", 0)
    S["match_ms"] = time.ticks_diff(time.ticks_ms(), t0) / k


def _measure(stage, what, fn):
    """Run fn() and one app step; the heap it took at most (live before + allocated), from the base."""
    before = gc.mem_alloc()
    r = fn()
    _step(1)
    used = gc.mem_alloc() - S["base"]
    live = before - S["base"]
    key = stage + "_peak"
    if used > S.get(key, 0):
        S[key] = used
        S[stage + "_peak_unit"] = what
    if stage == "fw" and live > S.get("fw_live", 0):
        S["fw_live"] = live
    return r


def fw_begin():
    import hashlib

    h = hashlib.sha256()
    with open(IMAGE, "rb") as f:
        while True:
            block = f.read(1024)
            if not block:
                break
            h.update(block)
    U["up"] = W["server"].fw.updater
    U["size"] = os.stat(IMAGE)[6]
    U["offset"] = 0
    # as FwHandler._begin does for FW_BEGIN (version, size, SHA-256)
    U["up"].begin(U["size"], "".join("%02x" % b for b in h.digest()), False, False)


def fw_chunk():
    if U["offset"] >= U["size"]:
        return

    def chunk():
        with open(IMAGE, "rb") as f:
            f.seek(U["offset"])
            data = f.read(CHUNK)
        U["offset"] = U["up"].write(U["offset"], data)

    _measure("stage", "chunk", chunk)


def _phases():
    """The units of commit_steps() per phase, counted outside the measured steps (not measured): SHA-256
    blocks of 1 KB, then reading the signed digest and the Ed25519 units; what follows is the manifest
    and file checks until slot b's directory appears, then the install."""
    from firmware import ed25519, update_image
    from firmware.updater import STAGED_IMAGE

    with U["up"].fs.open_read(STAGED_IMAGE) as f:
        signed = update_image.read_signed_digest(f, U["size"], U["up"].keys)
    n = sum(1 for s in ed25519.verify_steps(signed.public_key, signed.digest, signed.sig) if s is None)
    sha = (U["size"] + 1023) // 1024
    return sha, sha + 2 + n  # reading the digest, the Ed25519 units, then R's encoding


def fw_commit_start():
    U["ends"] = _phases()
    U["gen"] = U["up"].commit_steps()
    U["units"] = 0
    U["done"] = False
    U["phases"] = {}


def _phase(k):
    sha, sig = U["ends"]
    if k <= sha:
        return "sha256"
    if k <= sig:
        return "ed25519"
    return "install" if U["up"].fs.isdir("fw/slot_b") else "manifest+files"


def fw_commit_step():
    if U["done"]:
        return

    def unit():
        r = next(U["gen"])
        if r is not None:
            U["done"] = True
            U["commit"] = r["version"]
        return r

    before = gc.mem_alloc() - S["base"]
    _measure("fw", "?", unit)
    used = gc.mem_alloc() - S["base"]
    U["units"] += 1
    what = "switch" if U["done"] else _phase(U["units"])
    ph = U["phases"].get(what) or [0, 0, 0]  # units, largest live before a unit, largest peak
    U["phases"][what] = [ph[0] + 1, max(ph[1], before), max(ph[2], used)]
    if S.get("fw_peak_unit") == "?":
        S["fw_peak_unit"] = "%s (unit %d)" % (what, U["units"])


def fw_report():
    from firmware import boot_select

    print(json.dumps({"fw_peak": S.get("fw_peak"), "fw_peak_unit": S.get("fw_peak_unit"), "fw_live": S.get("fw_live"),
                      "stage_peak": S.get("stage_peak"), "units": U["units"], "done": U["done"],
                      "phases": U["phases"], "staged": U["offset"], "size": U["size"], "commit": U.get("commit"),
                      "pointer": boot_select.read_pointer(U["up"].fs)}))


U = {}  # the update: the updater, the image's size, what is staged


def report():
    scans = S["scan_us"]
    print(json.dumps({"compartments": W["n"], "code_bytes": S["code"], "app_live": S["app"],
                      "peak_live": S["peak_live"], "peak": S["peak"], "served": W["server"].served,
                      "events": W["app"].journal.last_seq(), "pickups": len(scans), "peak_cmd": S.get("peak_cmd"),
                      "match_ms": S.get("match_ms"),
                      "scan_ms": (sum(scans) / len(scans) / 1000.0) if scans else None}))
