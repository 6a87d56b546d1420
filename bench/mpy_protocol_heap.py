# Heap use of protocol decoding on the real MicroPython (run by bench/bench_protocol.py):
#   node tools/mpyrun.mjs --copy protocol bench/mpy_protocol_heap.py
# Prints one line "RESULT {json}"; heap figures are bytes of MicroPython heap (gc.mem_alloc()).
#
# Note on this port: the WebAssembly build defers gc.collect() to the top level (between calls from
# JavaScript), so inside one script nothing is ever freed and the gc.mem_alloc() high-water mark is
# the cumulative allocation. We therefore sample mem_alloc after every feed and report both that raw
# high-water mark and the largest allocation between two completed frames, which is what stays live
# on a board that collects between frames.
import gc
import json
import time

from protocol import messages as m
from protocol.frame import FrameDecoder, encode_frame
from protocol.session import BoardSession, MemoryCounterStore

KEY = b"bench-key-0123456789abcdef012345"
CHUNK = 16   # bytes per feed, like reading a small UART FIFO
N_FRAMES = 400

status = m.encode_payload(m.STATUS, {"time": 1764374400, "events_pending": 3,
                                     "compartments": [1] * 24, "temperatures": [42, -15]}, True)
open_p = m.encode_payload(m.OPEN, {"compartment": 7, "reason": 1, "reference": 1234})
frames = []
for i in range(8):
    frames.append(encode_frame(3, i, m.STATUS, status, 1))
    frames.append(encode_frame(3, i, m.OPEN, open_p, 0, i + 1, KEY))
stream = b"".join(frames)
chunks = [stream[i:i + CHUNK] for i in range(0, len(stream), CHUNK)]
result = {"frames": N_FRAMES, "chunk": CHUNK, "max_frame_wire": max(len(w) for w in frames)}


def run():
    # 1. fixed footprint of one decoder (its preallocated buffer included)
    a = gc.mem_alloc()
    d = FrameDecoder()
    result["decoder_footprint"] = gc.mem_alloc() - a

    # 2. bytes fed with no frame completing allocate nothing
    junk = bytes([(i * 7) % 255 + 1 for i in range(250)])
    d.feed(b"\x05")
    a = gc.mem_alloc()
    for _ in range(40):
        d.feed(junk)
    result["alloc_feeding_10000_bytes_no_frame"] = gc.mem_alloc() - a
    d.feed(b"\x00")

    # 3. a stream of frames fed in CHUNK-byte reads
    base = gc.mem_alloc()
    window_start = base
    high = 0
    window_max = 0
    decoded = 0
    i = 0
    errors_before = d.errors
    while decoded < N_FRAMES:
        got = d.feed(chunks[i])
        i += 1
        if i == len(chunks):
            i = 0
        now = gc.mem_alloc()
        if now - base > high:
            high = now - base
        if got:
            decoded += len(got)
            if now - window_start > window_max:
                window_max = now - window_start
            window_start = now
    result["decoded"] = decoded
    result["mem_alloc_high_water"] = high
    result["largest_alloc_between_frames"] = window_max
    result["alloc_per_frame_avg"] = high // decoded
    result["errors"] = d.errors - errors_before

    # decoding speed on this interpreter, without the (slow, heap-walking) mem_alloc sampling
    t0 = time.ticks_us()
    n = 0
    for _ in range(N_FRAMES // 16):
        for c in chunks:
            n += len(d.feed(c))
    result["decode_frames_per_s"] = n * 1000000 // time.ticks_diff(time.ticks_us(), t0)

    # 4. a board handling authenticated commands: allocation per command (HMAC, reply, cache entry)
    board = BoardSession(3, KEY, MemoryCounterStore())

    def handler(t, f):
        return {"compartment": 7, "result": 0, "detail": 0, "event_seq": 1}

    wires = [encode_frame(3, i, m.OPEN, open_p, 0, 100 + i, KEY) for i in range(16)]
    worst = 0
    for w in wires:
        a = gc.mem_alloc()
        board.receive(w, handler)
        if gc.mem_alloc() - a > worst:
            worst = gc.mem_alloc() - a
    result["board_alloc_per_auth_command"] = worst
    result["board_executed"] = board.executed


run()
print("RESULT " + json.dumps(result))
