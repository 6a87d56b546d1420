# The board's flash, seen as a directory. Every write the firmware makes goes through here, so
# the simulator can cut the power in the middle of one (see hardware_sim/flash.py) and the files
# left behind are exactly what a real flash would keep.
#
# Two kinds of file: append-only logs (the journal) and small state files replaced atomically by
# write-to-temp-then-rename, each with a CRC-32 trailer so a half-written temp file is never
# mistaken for a good one.
import os

try:
    from binascii import crc32
except ImportError:  # pragma: no cover
    from zlib import crc32

_TMP = ".tmp"


class Flash:
    def __init__(self, root):
        self.root = root.rstrip("/") or "/"
        try:
            os.mkdir(self.root)
        except OSError:
            pass  # already there

    def path(self, name):
        return self.root + "/" + name

    # The one call that puts bytes on flash; the simulator overrides it to model a power cut.
    def _put(self, f, data):
        f.write(data)

    def listdir(self):
        return sorted(os.listdir(self.root))

    def exists(self, name):
        try:
            os.stat(self.path(name))
            return True
        except OSError:
            return False

    def size(self, name):
        try:
            return os.stat(self.path(name))[6]
        except OSError:
            return 0

    def remove(self, name):
        try:
            os.remove(self.path(name))
        except OSError:
            pass

    def replace(self, old, new):
        # Atomic on littlefs and POSIX. Where rename will not replace (FAT) the old file is removed
        # first; a cut between the two leaves only `old`, which readers then recover.
        try:
            os.rename(self.path(old), self.path(new))
        except OSError:
            self.remove(new)
            os.rename(self.path(old), self.path(new))

    def read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def append(self, name, data):
        # open-write-close per record: on littlefs the close is the commit point.
        with open(self.path(name), "ab") as f:
            self._put(f, data)

    def write_atomic(self, name, data):
        tmp = self.path(name + _TMP)
        with open(tmp, "wb") as f:
            self._put(f, bytes(data) + (crc32(data) & 0xFFFFFFFF).to_bytes(4, "big"))
        self.replace(name + _TMP, name)

    def read_atomic(self, name):
        # The main file if intact, else a complete temp file left by a cut between remove and rename.
        for n in (name, name + _TMP):
            raw = self.read(n)
            if raw is not None and len(raw) >= 4:
                body = raw[:-4]
                if (crc32(body) & 0xFFFFFFFF).to_bytes(4, "big") == raw[-4:]:
                    return body
        return None
