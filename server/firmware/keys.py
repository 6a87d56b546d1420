"""Firmware signing key files: an Ed25519 private key for the build machine, public keys for everyone else.

Both are the PEM files OpenSSL reads and writes (`openssl genpkey -algorithm ed25519` makes a private
key this module reads; `openssl pkey -in KEY -pubout` its public key), so a maintainer may keep the
private key with OpenSSL tooling or an HSM that exports PEM:

- private: PKCS#8 `-----BEGIN PRIVATE KEY-----`, mode 0600 (refused when group or others may read it);
  only `cunbox firmware build --key` ($CUNBOX_FW_SIGNING_KEY) reads it.
- public: SubjectPublicKeyInfo `-----BEGIN PUBLIC KEY-----`, or one line of 64 hex digits; read by
  `verify`, `provision`, `flash` (--pubkey) and the server's release upload ($CUNBOX_FW_PUBKEYS,
  several files separated by ':').

See docs/firmware-delivery.md for how keys are made, kept and rotated.
"""
import base64
import os
import secrets

from firmware import ed25519
from firmware.fwimage import ImageError, hexlify, key_id, parse_key

SIGNING_KEY_ENV = "CUNBOX_FW_SIGNING_KEY"  # the private key file `cunbox firmware build` signs with
PUBKEYS_ENV = "CUNBOX_FW_PUBKEYS"          # public key files that may sign firmware, ':'-separated
RETIRED_ENV = "CUNBOX_FW_KEY_FILE"         # the HMAC fleet key of format-1 images: no longer read

# DER of an Ed25519 key (RFC 8410) up to the 32 key bytes
_PRIVATE_DER = bytes.fromhex("302e020100300506032b657004220420")
_PUBLIC_DER = bytes.fromhex("302a300506032b6570032100")


class KeyFileError(Exception):
    pass


def _pem(label, der):
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, body, label)


def _read_text(path):
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError as exc:
        raise KeyFileError("cannot read key file %s: %s" % (path, exc.strerror)) from None
    except UnicodeDecodeError:
        raise KeyFileError("key file %s is not a PEM or hex text file" % path) from None


def _pem_body(text, label, path):
    begin, end = "-----BEGIN %s-----" % label, "-----END %s-----" % label
    if begin not in text or end not in text:
        return None
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except ValueError:
        raise KeyFileError("key file %s: the %s block is not base64" % (path, label)) from None


def read_private_key(path):
    """The 32-byte Ed25519 private key (seed) from a PKCS#8 PEM file only its owner may read."""
    text = _read_text(path)
    der = _pem_body(text, "PRIVATE KEY", path)
    if der is None:
        if "PUBLIC KEY" in text:
            raise KeyFileError("%s is a public key; signing needs the private key file keygen wrote" % path)
        raise KeyFileError("%s is not a PEM private key (-----BEGIN PRIVATE KEY-----)" % path)
    mode = os.stat(path).st_mode
    if os.name == "posix" and mode & 0o077:
        raise KeyFileError("signing key %s is readable by others (mode %03o); chmod 600 it" % (path, mode & 0o777))
    if len(der) != len(_PRIVATE_DER) + 32 or not der.startswith(_PRIVATE_DER):
        raise KeyFileError("%s is not an Ed25519 private key (PKCS#8, RFC 8410)" % path)
    return der[len(_PRIVATE_DER):]


def read_public_key(path):
    """The 32-byte Ed25519 public key from a PEM SubjectPublicKeyInfo file or a line of 64 hex digits."""
    text = _read_text(path)
    if "PRIVATE KEY" in text:
        raise KeyFileError("%s is a private key; only the signing machine may hold it, give the public key "
                           "(keygen wrote it next to the private one, as .pub)" % path)
    der = _pem_body(text, "PUBLIC KEY", path)
    if der is not None:
        if len(der) != len(_PUBLIC_DER) + 32 or not der.startswith(_PUBLIC_DER):
            raise KeyFileError("%s is not an Ed25519 public key (SubjectPublicKeyInfo, RFC 8410)" % path)
        key = der[len(_PUBLIC_DER):]
        if ed25519.decode_point(key) is None:
            raise KeyFileError("%s: the key is not a point on Ed25519" % path)
        return key
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise KeyFileError("%s must hold a PEM public key or exactly one line of 64 hex digits" % path)
    try:
        return parse_key(lines[0])
    except ImageError as exc:
        raise KeyFileError("key file %s: %s" % (path, exc.message)) from None


def read_key_file(path):
    """A board's link key (the protocol's per-board HMAC key, not a firmware key): 64 hex digits on one
    line; lines starting with '#' are comments."""
    lines = [ln.strip() for ln in _read_text(path).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1:
        raise KeyFileError("key file %s must hold exactly one key line, found %d" % (path, len(lines)))
    try:
        key = bytes.fromhex(lines[0])
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyFileError("key file %s: a board key is 64 hex digits" % path)
    return key


def resolve_signing_key_path(path):
    path = path or os.environ.get(SIGNING_KEY_ENV)
    if not path:
        raise KeyFileError("no signing key: pass --key FILE or set %s%s" % (SIGNING_KEY_ENV, _retired_hint()))
    return path


def pubkey_paths_from_env():
    return [p for p in os.environ.get(PUBKEYS_ENV, "").split(":") if p]


def load_public_keys(paths=None):
    """Public keys from the given files, or from $CUNBOX_FW_PUBKEYS when none are given."""
    paths = list(paths or []) or pubkey_paths_from_env()
    if not paths:
        raise KeyFileError("no firmware public key: pass --pubkey FILE or set %s%s" % (PUBKEYS_ENV, _retired_hint()))
    return [read_public_key(p) for p in paths]


def _retired_hint():
    if os.environ.get(RETIRED_ENV):
        return (" (%s, the HMAC fleet key of format-1 images, is no longer used: see docs/firmware-delivery.md)"
                % RETIRED_ENV)
    return ""


def public_key_text(public, comment=None):
    head = "# %s\n" % comment if comment else ""
    return head + _pem("PUBLIC KEY", _PUBLIC_DER + public)


def write_new_keypair(path, public_path=None, comment="cunbox firmware signing key"):
    """Create a new Ed25519 private key file readable by its owner only, and its public key file; never
    overwrite either. Returns (private seed, public key, public path)."""
    public_path = public_path or path + ".pub"
    if os.path.exists(public_path):
        raise FileExistsError(public_path)
    seed = secrets.token_bytes(32)
    public = ed25519.public_key(seed)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(_pem("PRIVATE KEY", _PRIVATE_DER + seed))
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(public_key_text(public, "%s, public half, key id %s" % (comment, hexlify(key_id(public)))))
    return seed, public, public_path


def describe(public):
    """'key id 0123456789abcdef, public key <64 hex>' for messages."""
    return "key id %s, public key %s" % (hexlify(key_id(public)), hexlify(public))
