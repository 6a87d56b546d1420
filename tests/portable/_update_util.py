# Shared helpers for the firmware-update portable tests: synthetic signed images, no mpy-cross needed.
import hashlib
import json

from firmware import ed25519, update_image
from protocol import auth

KEY = bytes(range(32))               # the maintainers' private signing key (seed)
PUBKEY = ed25519.public_key(KEY)     # what a board holds
OTHER_KEY = bytes(range(1, 33))      # someone else's signing key
OTHER_PUBKEY = ed25519.public_key(OTHER_KEY)
FAMILY = "cunbox-locker-v1"


def make_files(version, n=3, size=40):
    files = []
    for i in range(n):
        body = ("# file %d of firmware %s\n" % (i, version)).encode()
        body = (body * (size // len(body) + 1))[:size]
        files.append(("firmware/mod%d.mpy" % i, body))
    return files


def _manifest_and_payload(version, family, min_protocol, files, extra, fmt):
    files = files if files is not None else make_files(version)
    entries = []
    for path, data in files:
        entries.append({"path": path, "size": len(data), "sha256": update_image.hexlify(hashlib.sha256(data).digest())})
    manifest = {"format": fmt, "version": version, "family": family, "min_protocol": min_protocol, "files": entries}
    if extra:
        for k in extra:
            manifest[k] = extra[k]
    return json.dumps(manifest).encode(), b"".join(d for _p, d in files)


def make_image(version="1.1.0", family=FAMILY, min_protocol=1, key=KEY, files=None, extra=None):
    manifest, payload = _manifest_and_payload(version, family, min_protocol, files, extra, update_image.FORMAT)
    return update_image.pack_image(manifest, payload, key)


def make_hmac_image(version="1.1.0", key=KEY, family=FAMILY):
    """A format-1 image as the retired scheme made it: 16-byte header, HMAC-SHA256 under a fleet key."""
    manifest, payload = _manifest_and_payload(version, family, 1, None, None, 1)
    head = update_image.MAGIC + bytes([1, 0, 0, 0]) + len(manifest).to_bytes(4, "big") + len(payload).to_bytes(4, "big")
    head += manifest
    return head + auth.hmac_sha256(key, head) + payload


def verify_bytes(data, keys=None):
    return update_image.verify_image(update_image.BytesReader(data), len(data), keys if keys is not None else [PUBKEY])
