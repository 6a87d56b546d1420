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
    from firmware import (
        board,
        proto_server,  # noqa: F401
    )


def mark_code():
    S["code"] = gc.mem_alloc() - S["m0"]


KEY = b"0123456789abcdef"
ROOT = "/bench_fw"


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


def prepare(n):
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
    W["hw"] = {"lock_pins": W["locks"], "feedback_pins": W["fb"], "door_pins": W["doors"], "bus": W["bus"],
               "keypad": W["keypad"], "scanner": W["scanner"], "zones": [(Adc(), Pin()), (Adc(), Pin())],
               "idle": idle, "uid": b"bench"}
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
    try:
        os.mkdir(ROOT)
    except OSError:
        for name in os.listdir(ROOT):
            os.remove(ROOT + "/" + name)


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


def report():
    scans = S["scan_us"]
    print(json.dumps({"compartments": W["n"], "code_bytes": S["code"], "app_live": S["app"],
                      "peak_live": S["peak_live"], "peak": S["peak"], "served": W["server"].served,
                      "events": W["app"].journal.last_seq(), "pickups": len(scans), "peak_cmd": S.get("peak_cmd"),
                      "match_ms": S.get("match_ms"),
                      "scan_ms": (sum(scans) / len(scans) / 1000.0) if scans else None}))
