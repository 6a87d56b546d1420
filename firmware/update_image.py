"""cunbox firmware image: layout, signature and policy checks, shared by the board and `cunbox firmware`.

This module is the single verifier: the board's updater and `cunbox firmware verify` call the same
functions, so an image the host calls good is exactly an image a board accepts. Runs on MicroPython
and CPython; no I/O of its own beyond reading a file object it is handed.

Layout, format 2 (all integers big-endian):

    offset  size  field
    0       4     magic b"CBFW"
    4       1     format (2)
    5       3     reserved, zero
    8       4     manifest length M
    12      4     payload length P
    16      8     key id: the first 8 bytes of SHA-256(signer's Ed25519 public key)
    24      M     manifest, UTF-8 JSON (version, family, min_protocol, mpy, files[path,size,sha256])
    24+M    64    signature: Ed25519(signing key, SHA-256(bytes 0 .. 24+M)), RFC 8032
    88+M    P     payload: the files' bytes, concatenated in manifest order

The signature covers the header and the manifest; the manifest holds the SHA-256 of every file,
so every payload byte is covered through its file's hash. What is signed is the 32-byte SHA-256 of
header + manifest, so Ed25519's own SHA-512 (pure Python on a board) hashes a single block. A board
holds only public keys (`fw_pubkeys` in its config); the private key never leaves the maintainers.
Format 1 (HMAC-SHA256 under a fleet key every board held) is refused: a key read out of any board
could sign for the whole fleet (SECURITY.md, F3).
"""
import hashlib
import json

try:
    from firmware import ed25519
except ImportError:  # copied flat onto a board's root for recovery tools
    import ed25519

MAGIC = b"CBFW"
FORMAT = 2
LEGACY_HMAC_FORMAT = 1
HEADER_SIZE = 24
KEY_ID_SIZE = 8
SIG_SIZE = 64
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


def hexlify(data):
    return "".join("%02x" % b for b in data)


def parse_key(text):
    """A public key as stored in a board config: 64 hex digits (the 32-byte Ed25519 public key)."""
    if isinstance(text, bytes):
        text = text.decode()
    text = text.strip()
    if len(text) != 64:
        raise ImageError("key", "a public key is 64 hex digits, got %d characters" % len(text))
    try:
        key = bytes(int(text[i:i + 2], 16) for i in range(0, 64, 2))
    except ValueError:
        raise ImageError("key", "a public key is 64 hex digits; found a non-hex character") from None
    if ed25519.decode_point(key) is None:
        raise ImageError("key", "%s... is not an Ed25519 public key (not a point on the curve)" % text[:16])
    return key


def key_id(public):
    """The 8 bytes an image names its signer by."""
    return hashlib.sha256(bytes(public)).digest()[:KEY_ID_SIZE]


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

def pack_header(manifest_len, payload_len, signer_id):
    return (MAGIC + bytes([FORMAT, 0, 0, 0]) + manifest_len.to_bytes(4, "big") + payload_len.to_bytes(4, "big")
            + bytes(signer_id))


def signed_digest(head_and_manifest):
    """What the Ed25519 signature signs: SHA-256 of header + manifest."""
    return hashlib.sha256(head_and_manifest).digest()


def pack_image(manifest_bytes, payload, private_key):
    """A format-2 image signed with the 32-byte Ed25519 private key (seed)."""
    head = pack_header(len(manifest_bytes), len(payload), key_id(ed25519.public_key(private_key))) + manifest_bytes
    return head + ed25519.sign(private_key, signed_digest(head)) + payload


# --- reading and verifying ---

def _read_exact(f, n, what):
    data = f.read(n)
    if data is None or len(data) != n:
        raise ImageError("length", "image truncated inside the %s" % what)
    return data


def read_header(f, total_size):
    """Check the fixed header against the image's real size; return (header, manifest_len, payload_len)."""
    if total_size < HEADER_SIZE:
        raise ImageError("length", "image is %d bytes, shorter than its %d-byte header" % (total_size, HEADER_SIZE))
    head = _read_exact(f, HEADER_SIZE, "header")
    if head[0:4] != MAGIC:
        raise ImageError("magic", "not a cunbox firmware image (bad magic %r)" % (bytes(head[0:4]),))
    if head[4] == LEGACY_HMAC_FORMAT:
        raise ImageError("format", "image format 1 (HMAC under a shared fleet key) is no longer accepted; rebuild "
                                   "it with `cunbox firmware build --key SIGNING_KEY` (format 2, Ed25519)")
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


def _signer(head, keys):
    """The trusted public key the header names, by key id."""
    want = bytes(head[16:HEADER_SIZE])
    if not keys:
        raise ImageError("untrusted", "no trusted public key to check the signature with")
    for key in keys:
        if key_id(key) == want:
            return key
    raise ImageError("untrusted", "image is signed by key %s, which is not among the %d trusted key(s) %s"
                     % (hexlify(want), len(keys), ", ".join(hexlify(key_id(k)) for k in keys)))


def read_signed_part(f, total_size, keys):
    """Read header, manifest and signature from the start of f and find the signer among `keys` (a board
    may trust the current and the next key). No cryptography yet: returns a SignedPart."""
    head, mlen, plen = read_header(f, total_size)
    manifest_bytes = _read_exact(f, mlen, "manifest")
    sig = _read_exact(f, SIG_SIZE, "signature")
    return SignedPart(head, manifest_bytes, sig, _signer(head, keys), plen)


def _bad_signature(public_key):
    return ImageError("signature", "Ed25519 signature does not verify under key %s (image altered after "
                                   "signing, or a forged signature)" % hexlify(key_id(public_key)))


class SignedPart:
    def __init__(self, head, manifest_bytes, sig, public_key, payload_len):
        self.head = head
        self.manifest_bytes = manifest_bytes
        self.sig = sig
        self.public_key = public_key
        self.payload_len = payload_len

    def check_signature(self, tick=None):
        digest = signed_digest(self.head + self.manifest_bytes)
        if not ed25519.verify(self.public_key, digest, self.sig, tick):
            raise _bad_signature(self.public_key)

    def manifest(self):
        """The manifest, parsed and checked for shape (whether or not the signature was checked yet)."""
        return parse_manifest(self.manifest_bytes, self.payload_len)


def verify_signature(f, total_size, keys, tick=None):
    """Read header + manifest + signature from the start of f; check the signature with the trusted public
    key the header names. Return (manifest dict, payload_len). `tick` is called between units of work."""
    part = read_signed_part(f, total_size, keys)
    part.check_signature(tick)
    return part.manifest(), part.payload_len


class SignedDigest:
    """What the Ed25519 check needs of an image, the manifest's bytes replaced by the SHA-256 they are
    signed as (header + manifest): read by read_signed_digest, so a 5 KB manifest is not in RAM while the
    signature is checked (the board's updater, Updater.commit_steps)."""

    def __init__(self, head, digest, sig, public_key, manifest_len, payload_len):
        self.head = head
        self.digest = digest
        self.sig = sig
        self.public_key = public_key
        self.manifest_len = manifest_len
        self.payload_len = payload_len

    def signature_steps(self):
        """Generator: the Ed25519 check, yielding None between its units of work; raises
        ImageError('signature') when the signature does not verify."""
        ok = None
        for ok in ed25519.verify_steps(self.public_key, self.digest, self.sig):
            if ok is None:
                yield None
        if ok is not True:
            raise _bad_signature(self.public_key)

    def _reread(self, f, keep):
        """f at the image's start: header, manifest (whole if keep, else by blocks) and signature read
        again and checked to be the bytes whose digest was signed. f is left at the payload."""
        head = _read_exact(f, HEADER_SIZE, "header")
        h = hashlib.sha256(head)
        if keep:
            mb = _read_exact(f, self.manifest_len, "manifest")
            h.update(mb)
        else:
            mb = None
            _hash_exact(f, self.manifest_len, h)
        if head != self.head or h.digest() != self.digest or _read_exact(f, SIG_SIZE, "signature") != self.sig:
            raise ImageError("flash", "the staged image's header or manifest read back differently from what "
                                      "was checked against its signature")
        return mb

    def read_manifest(self, f):
        """With f at the image's start: the manifest read again, checked to hash to the signed digest,
        parsed and checked for shape. f is left at the payload."""
        return parse_manifest(self._reread(f, True), self.payload_len)

    def skip_to_payload(self, f):
        """With f at the image's start: header and manifest read again by blocks and checked as
        read_manifest does, without parsing. f is left at the payload."""
        self._reread(f, False)


def _hash_exact(f, n, h):
    """The next n bytes of f into hash h, through one small buffer."""
    buf = bytearray(min(READ_BLOCK, n) or 1)
    mv = memoryview(buf)
    while n:
        k = f.readinto(mv[:min(len(buf), n)])
        if not k:
            raise ImageError("length", "image truncated inside the manifest")
        h.update(mv[:k])
        n -= k


def read_signed_digest(f, total_size, keys):
    """Read header, manifest and signature from the start of f as read_signed_part does, hashing the
    manifest by blocks instead of keeping it: returns a SignedDigest. No cryptography yet."""
    head, mlen, plen = read_header(f, total_size)
    h = hashlib.sha256(head)
    _hash_exact(f, mlen, h)
    sig = _read_exact(f, SIG_SIZE, "signature")
    return SignedDigest(head, h.digest(), sig, _signer(head, keys), mlen, plen)


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


class BytesReader:
    """An image held in memory as the checks read a file: read and readinto (io.BytesIO lacks
    readinto on some MicroPython ports)."""

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


def verify_image(f, total_size, keys, tick=None):
    """Full check of an image: header, signature, manifest, every file hash. Returns the manifest."""
    manifest, _ = verify_signature(f, total_size, keys, tick)
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
