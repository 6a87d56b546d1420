"""cunbox firmware image: layout, signature and policy checks, shared by the board and `cunbox firmware`.

This module is the single verifier: the board's updater and `cunbox firmware verify` call the same
functions, so an image the host calls good is exactly an image a board accepts. Runs on MicroPython
and CPython; no I/O of its own beyond reading a file object it is handed.

Layout (all integers big-endian):

    offset  size  field
    0       4     magic b"CBFW"
    4       1     format (1)
    5       3     reserved, zero
    8       4     manifest length M
    12      4     payload length P
    16      M     manifest, UTF-8 JSON (version, family, min_protocol, mpy, files[path,size,sha256])
    16+M    32    signature: HMAC-SHA256(fleet key, bytes 0 .. 16+M)
    48+M    P     payload: the files' bytes, concatenated in manifest order

The signature covers the header and the manifest; the manifest holds the SHA-256 of every file,
so every payload byte is covered through its file's hash. The signature is checked before the
manifest is parsed.
"""
import hashlib
import json

MAGIC = b"CBFW"
FORMAT = 1
HEADER_SIZE = 16
SIG_SIZE = 32
MAX_MANIFEST = 16384  # bytes; a manifest is read into RAM whole
READ_BLOCK = 512


class ImageError(Exception):
    """An image refused. `code` is a stable short name; the message says what is wrong and where."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.code, self.message)


# --- HMAC-SHA256 (RFC 2104). MicroPython has hashlib.sha256 but no hmac module. ---

def hmac_sha256(key, data):
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(data)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def equal_digest(a, b):
    """Compare without an early exit, so timing says nothing about where two digests differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def hexlify(data):
    return "".join("%02x" % b for b in data)


def parse_key(text):
    """A fleet key as stored in a key file or board config: 64 hex digits (32 bytes)."""
    if isinstance(text, bytes):
        text = text.decode()
    text = text.strip()
    if len(text) != 64:
        raise ImageError("key", "a fleet key is 64 hex digits, got %d characters" % len(text))
    try:
        return bytes(int(text[i:i + 2], 16) for i in range(0, 64, 2))
    except ValueError:
        raise ImageError("key", "a fleet key is 64 hex digits; found a non-hex character") from None


# --- versions ---

def parse_version(text):
    """'1.2.3' -> (1, 2, 3). Exactly three non-negative integers."""
    if not isinstance(text, str):
        raise ImageError("manifest", "version must be a string like 1.2.3, got %r" % (text,))
    parts = text.split(".")
    if len(parts) != 3:
        raise ImageError("manifest", "version %r is not MAJOR.MINOR.PATCH" % text)
    out = []
    for p in parts:
        if not p or not p.isdigit() or (len(p) > 1 and p[0] == "0"):
            raise ImageError("manifest", "version %r is not MAJOR.MINOR.PATCH" % text)
        out.append(int(p))
    return tuple(out)


# --- building (host side, but kept here so the layout lives in one file) ---

def pack_header(manifest_len, payload_len):
    return MAGIC + bytes([FORMAT, 0, 0, 0]) + manifest_len.to_bytes(4, "big") + payload_len.to_bytes(4, "big")


def pack_image(manifest_bytes, payload, key):
    head = pack_header(len(manifest_bytes), len(payload)) + manifest_bytes
    return head + hmac_sha256(key, head) + payload


# --- reading and verifying ---

def _read_exact(f, n, what):
    data = f.read(n)
    if data is None or len(data) != n:
        raise ImageError("length", "image truncated inside the %s" % what)
    return data


def read_header(f, total_size):
    """Check the fixed header against the image's real size; return (manifest_len, payload_len)."""
    if total_size < HEADER_SIZE:
        raise ImageError("length", "image is %d bytes, shorter than its %d-byte header" % (total_size, HEADER_SIZE))
    head = _read_exact(f, HEADER_SIZE, "header")
    if head[0:4] != MAGIC:
        raise ImageError("magic", "not a cunbox firmware image (bad magic %r)" % (bytes(head[0:4]),))
    if head[4] != FORMAT:
        raise ImageError("format", "image format %d is not supported (this verifier reads format %d)"
                         % (head[4], FORMAT))
    if head[5:8] != b"\x00\x00\x00":
        raise ImageError("header", "reserved header bytes are not zero")
    mlen = int.from_bytes(head[8:12], "big")
    plen = int.from_bytes(head[12:16], "big")
    if mlen == 0 or mlen > MAX_MANIFEST:
        raise ImageError("header", "manifest length %d out of range 1..%d" % (mlen, MAX_MANIFEST))
    expected = HEADER_SIZE + mlen + SIG_SIZE + plen
    if expected != total_size:
        raise ImageError("length", "image is %d bytes but its header describes %d" % (total_size, expected))
    return head, mlen, plen


def verify_signature(f, total_size, keys):
    """Read header + manifest + signature from the start of f; check the signature against any of
    `keys` (a board may hold the current and the next fleet key). Return (manifest dict, payload_len)."""
    head, mlen, plen = read_header(f, total_size)
    manifest_bytes = _read_exact(f, mlen, "manifest")
    sig = _read_exact(f, SIG_SIZE, "signature")
    signed = head + manifest_bytes
    if not keys:
        raise ImageError("signature", "no fleet key to check the signature with")
    ok = False
    for key in keys:
        if equal_digest(hmac_sha256(key, signed), sig):
            ok = True
    if not ok:
        raise ImageError("signature", "signature does not match the fleet key (image altered or signed with "
                                      "another key)")
    manifest = parse_manifest(manifest_bytes, plen)
    return manifest, plen


def parse_manifest(manifest_bytes, payload_len):
    try:
        m = json.loads(manifest_bytes)
    except ValueError:
        raise ImageError("manifest", "manifest is not valid JSON") from None
    if not isinstance(m, dict):
        raise ImageError("manifest", "manifest is not a JSON object")
    for field in ("version", "family", "min_protocol", "files"):
        if field not in m:
            raise ImageError("manifest", "manifest has no %r" % field)
    parse_version(m["version"])
    if not isinstance(m["min_protocol"], int) or m["min_protocol"] < 1:
        raise ImageError("manifest", "min_protocol must be a positive integer")
    files = m["files"]
    if not isinstance(files, list) or not files:
        raise ImageError("manifest", "manifest lists no files")
    total = 0
    seen = {}
    for entry in files:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not safe_path(path):
            raise ImageError("manifest", "unsafe or missing file path %r" % (path,))
        if path in seen:
            raise ImageError("manifest", "file %s listed twice" % path)
        seen[path] = True
        size = entry.get("size")
        digest = entry.get("sha256")
        if not isinstance(size, int) or size < 0:
            raise ImageError("manifest", "file %s has no valid size" % path)
        if not isinstance(digest, str) or len(digest) != 64:
            raise ImageError("manifest", "file %s has no valid sha256" % path)
        total += size
    if total != payload_len:
        raise ImageError("manifest", "file sizes add up to %d but the payload is %d bytes" % (total, payload_len))
    return m


def safe_path(path):
    """Relative, no '..', no empty parts, no backslashes: a file name can never escape its slot."""
    if not path or path[0] == "/" or "\\" in path:
        return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
    return True


def iter_file_chunks(f, manifest, block=READ_BLOCK):
    """With f positioned at the payload, yield (entry, chunk) for every file's bytes in order and
    (entry, None) once that file's SHA-256 has matched. Raises ImageError('hash', ...) naming the
    first file that differs."""
    buf = bytearray(block)
    mv = memoryview(buf)
    for entry in manifest["files"]:
        left = entry["size"]
        h = hashlib.sha256()
        while left:
            n = f.readinto(mv[:min(block, left)])
            if not n:
                raise ImageError("length", "image truncated inside file %s" % entry["path"])
            chunk = bytes(mv[:n])
            h.update(chunk)
            left -= n
            yield entry, chunk
        if hexlify(h.digest()) != entry["sha256"]:
            raise ImageError("hash", "file %s: SHA-256 does not match the manifest" % entry["path"])
        yield entry, None


def verify_image(f, total_size, keys):
    """Full check of an image: header, signature, manifest, every file hash. Returns the manifest."""
    manifest, _ = verify_signature(f, total_size, keys)
    for _entry, _chunk in iter_file_chunks(f, manifest):
        pass
    return manifest


def mpy_name(value):
    """sys.implementation._mpy (version | sub-version << 8 | arch << 10) or a manifest's mpy -> 'v6'.
    Bytecode-only .mpy files (all an image holds) load wherever the major version matches."""
    return "v%d" % (value & 0xFF)


def check_policy(manifest, family=None, current_version=None, protocol_version=None, allow_downgrade=False,
                 mpy_version=None):
    """Would this board take this image? Each argument left None is not checked."""
    if family is not None and manifest["family"] != family:
        raise ImageError("family", "image is for board family %r, this board is %r" % (manifest["family"], family))
    if protocol_version is not None and manifest["min_protocol"] > protocol_version:
        raise ImageError("protocol", "image needs protocol version %d or later, the link speaks %d"
                         % (manifest["min_protocol"], protocol_version))
    if mpy_version is not None and "mpy" in manifest and (manifest["mpy"] & 0xFF) != (mpy_version & 0xFF):
        raise ImageError("mpy", "image bytecode is .mpy %s, this interpreter loads .mpy %s"
                         % (mpy_name(manifest["mpy"]), mpy_name(mpy_version)))
    if current_version is not None and not allow_downgrade:
        new = parse_version(manifest["version"])
        cur = parse_version(current_version)
        if new <= cur:
            raise ImageError("downgrade", "image version %s is not newer than the running %s (downgrade refused)"
                             % (manifest["version"], current_version))
    return manifest
