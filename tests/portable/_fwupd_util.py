# Shared helpers for the firmware-update portable tests: synthetic signed images, no mpy-cross needed.
import hashlib
import json

from firmware import fwimage

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
FAMILY = "cunbox-locker-v1"


def make_files(version, n=3, size=40):
    files = []
    for i in range(n):
        body = ("# file %d of firmware %s\n" % (i, version)).encode()
        body = (body * (size // len(body) + 1))[:size]
        files.append(("firmware/mod%d.mpy" % i, body))
    return files


def make_image(version="1.1.0", family=FAMILY, min_protocol=1, key=KEY, files=None, extra=None):
    files = files if files is not None else make_files(version)
    entries = []
    for path, data in files:
        entries.append({"path": path, "size": len(data), "sha256": fwimage.hexlify(hashlib.sha256(data).digest())})
    manifest = {"format": 1, "version": version, "family": family, "min_protocol": min_protocol, "files": entries}
    if extra:
        for k in extra:
            manifest[k] = extra[k]
    payload = b"".join(d for _p, d in files)
    return fwimage.pack_image(json.dumps(manifest).encode(), payload, key)


class BytesFile:
    """A minimal read-only file over bytes (io.BytesIO lacks readinto on some ports)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n):
        out = self.data[self.pos:self.pos + n]
        self.pos += len(out)
        return out

    def readinto(self, buf):
        n = min(len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def verify_bytes(data, keys=None):
    return fwimage.verify_image(BytesFile(data), len(data), keys if keys is not None else [KEY])
