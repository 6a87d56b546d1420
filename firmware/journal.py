# Append-only event journal on flash.
#
# Records live in segment files "j<first seq, 8 hex>.log". One record:
#     0xC5 | len u8 | seq u32 | payload (len bytes) | crc32 u32 over len..payload
# A power cut at any byte leaves at most one torn record at the tail of the newest segment; boot
# finds it (bad length or CRC) and rewrites the segment's good prefix atomically. Nothing written
# before the cut is lost.
#
# The host reads records and acknowledges them up to a sequence number (stored atomically in
# "ack"). Size is bounded to max_segments segments of segment_bytes each. Policy when a new
# segment is needed and the journal is full:
#   1. delete the oldest segments whose records are all acknowledged;
#   2. if none can go, a critical record (door, pickup, tamper) may use one reserve segment;
#   3. otherwise the record is refused: append() returns 0, `full` is set (the JOURNAL_FULL status
#      bit) and `dropped` counts it. Callers that would lose something important (an offline
#      pickup) check `can_append(critical=True)` first and refuse the action instead.
# Unacknowledged records are never deleted.
from firmware.compat import u32_be
from firmware.flash import crc32

_MAGIC = 0xC5
_HEAD = 6  # magic, len, seq
_TAIL = 4
MAX_PAYLOAD = 255


def _seg_name(first):
    return "j%08x.log" % first


def parse_records(raw):
    """Yield (offset, seq, payload) for each intact record; stops at the first torn/bad one."""
    i = 0
    n = len(raw)
    while i + _HEAD + _TAIL <= n:
        if raw[i] != _MAGIC:
            return
        ln = raw[i + 1]
        end = i + _HEAD + ln + _TAIL
        if end > n:
            return
        want = u32_be(raw, end - 4)
        if (crc32(raw[i + 1:end - 4]) & 0xFFFFFFFF) != want:
            return
        yield i, u32_be(raw, i + 2), raw[i + _HEAD:end - 4]
        i = end


def _encode(seq, payload):
    body = bytearray(5 + len(payload))
    body[0] = len(payload)
    body[1:5] = seq.to_bytes(4, "big")
    body[5:] = payload
    return bytes([_MAGIC]) + body + (crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")


class Journal:
    def __init__(self, flash, segment_bytes=2048, max_segments=8):
        self.flash = flash
        self.segment_bytes = segment_bytes
        self.max_segments = max_segments
        self.full = False
        self.dropped = 0
        self.repaired = 0  # torn tails cut at boot
        self._segs = []  # [first_seq, last_seq, size] oldest first; last_seq = first-1 when empty
        self.acked = 0
        self.next_seq = 1
        self._load()

    # -- boot ----------------------------------------------------------------------------------
    def _load(self):
        raw = self.flash.read_atomic("ack")
        self.acked = u32_be(raw, 0) if raw and len(raw) >= 4 else 0
        listing = self.flash.listdir()
        for n in listing:  # temp files of an interrupted rewrite: complete if their segment is gone
            if n.startswith("j") and n.endswith(".log.tmp"):
                if n[:-4] in listing:
                    self.flash.remove(n)
                else:
                    self.flash.replace(n, n[:-4])
        names = [n for n in self.flash.listdir() if n.startswith("j") and n.endswith(".log")]
        for name in names:
            try:
                first = int(name[1:9], 16)
            except ValueError:
                continue
            raw = self.flash.read(name) or b""
            good = 0
            last = first - 1
            for off, seq, payload in parse_records(raw):
                good = off + _HEAD + len(payload) + _TAIL
                last = seq
            if good != len(raw):
                # torn tail: keep the intact prefix, replaced atomically so a second cut is safe too
                self.repaired += 1
                self._rewrite(name, raw[:good])
            self._segs.append([first, last, good])
        self._segs.sort(key=lambda s: s[0])
        top = self.acked
        for s in self._segs:
            if s[1] > top:
                top = s[1]
        self.next_seq = top + 1

    def _rewrite(self, name, data):
        tmp = name + ".tmp"
        self.flash.remove(tmp)
        self.flash.append(tmp, data)
        self.flash.replace(tmp, name)

    # -- writing -------------------------------------------------------------------------------
    def can_append(self, critical=False):
        if self._segs and self._segs[-1][2] + 64 <= self.segment_bytes:
            return True
        limit = self.max_segments + (1 if critical else 0)
        if len(self._segs) < limit:
            return True
        return self._deletable() > 0

    def _deletable(self):
        k = 0
        for s in self._segs[:-1]:
            if s[1] <= self.acked:
                k += 1
            else:
                break
        return k

    def append(self, payload, critical=False):
        """Write one record; return its sequence number, or 0 if refused (journal full)."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("journal payload too long")
        rec = _encode(self.next_seq, payload)
        if not self._segs or self._segs[-1][2] + len(rec) > self.segment_bytes:
            if not self._new_segment(critical):
                self.full = True
                self.dropped += 1
                return 0
        seg = self._segs[-1]
        self.flash.append(_seg_name(seg[0]), rec)
        seg[1] = self.next_seq
        seg[2] += len(rec)
        self.next_seq += 1
        self.full = False
        return seg[1]

    def _new_segment(self, critical):
        limit = self.max_segments + (1 if critical else 0)
        while len(self._segs) >= limit and self._deletable():
            old = self._segs.pop(0)
            self.flash.remove(_seg_name(old[0]))
        if len(self._segs) >= limit:
            return False
        self._segs.append([self.next_seq, self.next_seq - 1, 0])
        return True

    # -- reading and acknowledging -------------------------------------------------------------
    def unacked(self):
        return self.next_seq - 1 - self.acked

    def last_seq(self):
        return self.next_seq - 1

    def read(self, after=0, max_count=8, max_bytes=200):
        """Records (seq, payload) with seq > max(after, acked), oldest first, within the limits."""
        start = after if after > self.acked else self.acked
        out = []
        used = 0
        for s in self._segs:
            if s[1] <= start:
                continue
            raw = self.flash.read(_seg_name(s[0])) or b""
            for _off, seq, payload in parse_records(raw):
                if seq <= start:
                    continue
                if len(out) >= max_count or (out and used + len(payload) > max_bytes):
                    return out
                out.append((seq, bytes(payload)))
                used += len(payload)
        return out

    def ack(self, upto):
        """Acknowledge every record up to `upto`. Returns the new acknowledged sequence number."""
        if upto > self.last_seq():
            raise ValueError("ack beyond last event")
        if upto > self.acked:
            self.flash.write_atomic("ack", upto.to_bytes(4, "big"))
            self.acked = upto
            if self.full:
                self.full = not self.can_append()
        return self.acked
