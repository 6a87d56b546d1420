"""One direction of the serial line: optional pacing at a real baud rate and line noise.

Bytes put() on a Line reach its sink no earlier than a real UART could deliver them (10 bit times
per byte, back to back), and each byte may be hit by a fault: a flipped bit, dropped, duplicated,
or delayed. A pump thread delivers bytes as they fall due.
"""
import heapq
import random
import threading
import time


class LineFaults:
    """Per-byte probabilities (0..1) and the extra delay a delayed byte suffers."""

    def __init__(self, flip=0.0, drop=0.0, dup=0.0, delay=0.0, delay_ms=20.0, seed=None):
        self.flip = flip
        self.drop = drop
        self.dup = dup
        self.delay = delay
        self.delay_ms = delay_ms
        self.rng = random.Random(seed)
        self.counts = {"flip": 0, "drop": 0, "dup": 0, "delay": 0}

    def active(self):
        return bool(self.flip or self.drop or self.dup or self.delay)

    def set_error_rate(self, rate):
        """Spread one overall byte error rate over the four kinds of fault."""
        self.flip = self.drop = self.dup = self.delay = rate / 4.0

    def describe(self):
        return {"flip": self.flip, "drop": self.drop, "dup": self.dup, "delay": self.delay,
                "delay_ms": self.delay_ms, "counts": dict(self.counts)}


class Line:
    def __init__(self, sink, baud=9600, paced=False, faults=None, name="line"):
        self.sink = sink
        self.baud = baud
        self.paced = paced
        self.faults = faults or LineFaults()
        self.name = name
        self.bytes = 0
        self._q = []  # heap of (due, order, byte)
        self._order = 0
        self._free_at = 0.0  # when the (simulated) transmitter is free for the next byte
        self._cv = threading.Condition()
        self._stop = False
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._pump, name="sim-" + self.name, daemon=True)
        self._thread.start()

    def stop(self):
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(1)

    def byte_time(self):
        return 10.0 / self.baud

    def put(self, data):
        if not data:
            return
        self.bytes += len(data)
        f = self.faults
        if not self.paced and not f.active():
            self.sink(bytes(data))
            return
        now = time.monotonic()
        with self._cv:
            t = max(now, self._free_at)
            for b in data:
                out = [b]
                extra = 0.0
                if f.active():
                    r = f.rng.random
                    if f.drop and r() < f.drop:
                        f.counts["drop"] += 1
                        out = []
                    else:
                        if f.flip and r() < f.flip:
                            f.counts["flip"] += 1
                            out[0] = b ^ (1 << f.rng.randrange(8))
                        if f.dup and r() < f.dup:
                            f.counts["dup"] += 1
                            out.append(out[0])
                        if f.delay and r() < f.delay:
                            f.counts["delay"] += 1
                            extra = f.delay_ms / 1000.0
                for ob in out:
                    if self.paced:
                        t += self.byte_time()
                    self._order += 1
                    heapq.heappush(self._q, (t + extra, self._order, ob))
            self._free_at = t
            self._cv.notify()

    def _pump(self):
        while True:
            with self._cv:
                while not self._stop and not self._q:
                    self._cv.wait()
                if self._stop:
                    return
                now = time.monotonic()
                due = self._q[0][0]
                if due > now:
                    self._cv.wait(min(due - now, 0.05))
                    continue
                chunk = bytearray()
                while self._q and self._q[0][0] <= now:
                    chunk.append(heapq.heappop(self._q)[2])
            if chunk:
                self.sink(bytes(chunk))
