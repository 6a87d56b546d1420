"""Protocol benchmarks: codec throughput on CPython, heap use of decoding on the real MicroPython,
and how often randomly damaged frames get past the CRC.

Run with `make bench` (all benchmarks) or `python -m bench bench_protocol`.
"""
import json
import pathlib
import random
import subprocess
import time

from protocol import cobs, timing
from protocol import messages as m
from protocol.frame import FLAG_REPLY, FrameDecoder, encode_body, encode_frame
from protocol.session import BoardSession, HostSession, MemoryCounterStore

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECTION = "protocol"
KEY = b"bench-key-0123456789abcdef012345"
STATUS_FIELDS = {"time": 1764374400, "events_pending": 3, "compartments": [1] * 24, "temperatures": [42, -15]}
OPEN_FIELDS = {"compartment": 7, "reason": m.REASON_PICKUP, "reference": 1234}


def _rate(fn, seconds=1.0):
    """Calls of fn per second, over about `seconds`."""
    n = 0
    batch = 50
    t0 = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n / dt


def _codec_round_trip(msg_type, fields, is_reply, key):
    d = FrameDecoder()
    state = {"seq": 0, "counter": 0}

    def once():
        state["seq"] = (state["seq"] + 1) & 0xFF
        state["counter"] += 1
        payload = m.encode_payload(msg_type, fields, is_reply)
        wire = encode_frame(3, state["seq"], msg_type, payload, FLAG_REPLY if is_reply else 0,
                            state["counter"] if key else None, key)
        (f,) = d.feed(wire)
        m.decode_payload(f.type, f.payload, is_reply)
        return wire

    return once


def _session_exchange():
    host = HostSession(baud=115200)
    host.add_board(3, KEY)
    board = BoardSession(3, KEY, MemoryCounterStore())
    t = [0.0]

    def handler(msg_type, fields):
        return {"compartment": fields["compartment"], "result": m.OPEN_OPENED, "detail": 0, "event_seq": 1}

    def once():
        t[0] += 1.0
        wire = host.request(3, m.OPEN, OPEN_FIELDS, now=t[0])
        (reply,) = board.receive(wire, handler)
        (r,) = host.receive(reply, t[0] + 0.01)
        assert r.ok

    return once


def _false_accepts(trials, seed=7):
    """Damage a plain STATUS reply with 1..6 random byte substitutions on the wire; count frames the
    decoder accepts that differ from the original, against the CRC-16 expectation (1/65536 of the
    damaged bodies that reach the CRC check)."""
    rng = random.Random(seed)
    body = encode_body(5, 77, m.STATUS, m.encode_payload(m.STATUS, STATUS_FIELDS, True), FLAG_REPLY)
    wire = cobs.encode(body)
    d = FrameDecoder()
    reached_crc = different = 0
    for _ in range(trials):
        b = bytearray(wire)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(1, 256)
        for item in d.feed(bytes(b) + b"\x00"):
            if item.is_error:
                if item.name == "BAD_CRC":
                    reached_crc += 1
            elif encode_body(item.address, item.seq, item.type, item.payload, item.flags) != body:
                reached_crc += 1
                different += 1
    return reached_crc, different


def _micropython():
    cmd = ["node", "tools/mpyrun.mjs", "--copy", "protocol", "bench/mpy_protocol_heap.py"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), " ".join(cmd)
    raise RuntimeError("MicroPython heap script failed: %s %s" % (out.stdout[-500:], out.stderr[-500:]))


def run(report):
    cmd = "python -m bench bench_protocol"
    for name, msg_type, fields, is_reply, key in (
            ("STATUS reply, 24 compartments, no auth", m.STATUS, STATUS_FIELDS, True, None),
            ("OPEN request, authenticated (HMAC-SHA256 tag)", m.OPEN, OPEN_FIELDS, False, KEY)):
        once = _codec_round_trip(msg_type, fields, is_reply, key)
        size = len(once())
        rate = _rate(once)
        wire_rate = 1.0 / timing.wire_time_s(size, 115200)
        report.add(SECTION, "CPython encode+decode, %s (%d B on the wire)" % (name, size), round(rate), "frames/s",
                   reference=round(wire_rate), reference_name="frames/s the bus carries at 115200 baud",
                   command=cmd)
    rate = _rate(_session_exchange())
    report.add(SECTION, "CPython host+board session exchange (OPEN: request, auth check, reply, match)",
               round(rate), "exchanges/s", command=cmd,
               note="both ends of an authenticated command, incl. three HMACs and the reply cache")

    trials = 100000
    reached, different = _false_accepts(trials)
    report.add(SECTION, "damaged frames accepted as a different frame (%d damaged, %d reached the CRC)"
               % (trials, reached), different, "frames", reference=round(reached / 65536.0, 2),
               reference_name="expected for CRC-16 (reached/65536)", command=cmd)

    mp, mp_cmd = _micropython()
    report.add(SECTION, "MicroPython: heap allocated feeding 10000 bytes with no complete frame",
               mp["alloc_feeding_10000_bytes_no_frame"], "bytes", reference=0, reference_name="(must be zero)",
               command=mp_cmd)
    report.add(SECTION, "MicroPython: FrameDecoder footprint (incl. its 256-byte buffer)",
               mp["decoder_footprint"], "bytes", command=mp_cmd)
    report.add(SECTION, "MicroPython: peak heap to decode a stream (footprint + largest allocation between "
               "two frames, %d frames in %d-byte reads)" % (mp["decoded"], mp["chunk"]),
               mp["decoder_footprint"] + mp["largest_alloc_between_frames"], "bytes", command=mp_cmd,
               note="live peak on a board that collects between frames")
    report.add(SECTION, "MicroPython: gc.mem_alloc() high-water over the stream (GC deferred by the "
               "WebAssembly port, so this is cumulative)", mp["mem_alloc_high_water"], "bytes",
               command=mp_cmd, note="this port frees nothing inside one script; the figure is N frames x "
               "the average below")
    report.add(SECTION, "MicroPython: average allocation per decoded frame", mp["alloc_per_frame_avg"], "bytes",
               command=mp_cmd)
    report.add(SECTION, "MicroPython: allocation per authenticated command handled by BoardSession",
               mp["board_alloc_per_auth_command"], "bytes", command=mp_cmd)
    report.add(SECTION, "MicroPython (WebAssembly under Node.js): decode rate, %d-byte reads" % mp["chunk"],
               mp["decode_frames_per_s"], "frames/s", command=mp_cmd,
               note="an interpreter on a PC; a 240 MHz ESP32 is slower")
