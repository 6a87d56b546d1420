"""Firmware signing key files: an Ed25519 private key for the build machine, public keys for everyone else.

Both are the PEM files OpenSSL reads and writes (`openssl genpkey -algorithm ed25519` makes a private
key this module reads; `openssl pkey -in KEY -pubout` its public key), so a maintainer may keep the
private key with OpenSSL tooling or an HSM that exports PEM:

- private: PKCS#8 `-----BEGIN PRIVATE KEY-----`, unencrypted, mode 0600 (refused when group or others
  may read it); only `cunbox firmware build --key` ($CUNBOX_FW_SIGNING_KEY) reads it.
- public: SubjectPublicKeyInfo `-----BEGIN PUBLIC KEY-----`, or one line of 64 hex digits; read by
  `verify`, `provision`, `flash` (--pubkey) and the server's release upload ($CUNBOX_FW_PUBKEYS,
  several files separated by ':').

The host's key handling and signing is the `cryptography` package (OpenSSL underneath): key
generation, PEM/DER, and the (constant-time) Ed25519 signature. Boards only verify, with their own
pure-Python verifier (firmware/ed25519.py); tests/firmware_delivery/test_signing_cryptography.py checks the
two against each other. A private key is passed around as its 32-byte seed (RFC 8032's private key),
which is what `update_image.pack_image` and the tests take as well; `signing_key` makes the cryptography
object of it.

See docs/firmware-delivery.md for how keys are made, kept and rotated.
"""
import os

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firmware import ed25519
from firmware.update_image import ImageError, hexlify, key_id, parse_key
from server import config

SIGNING_KEY_ENV = "CUNBOX_FW_SIGNING_KEY"  # the private key file `cunbox firmware build` signs with
PUBKEYS_ENV = "CUNBOX_FW_PUBKEYS"          # public key files that may sign firmware, ':'-separated
RETIRED_ENV = "CUNBOX_FW_KEY_FILE"         # the HMAC fleet key of format-1 images: no longer read

_RAW = serialization.Encoding.Raw


class KeyFileError(Exception):
    pass


def signing_key(seed):
    """The cryptography Ed25519 private key of a 32-byte seed (an Ed25519PrivateKey is taken as is)."""
    if isinstance(seed, Ed25519PrivateKey):
        return seed
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def _seed(key):
    return key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def _raw_public(key):
    return key.public_bytes(_RAW, serialization.PublicFormat.Raw)


def public_key(seed):
    """The 32-byte Ed25519 public key of a private key (seed or Ed25519PrivateKey)."""
    return _raw_public(signing_key(seed).public_key())


def sign(seed, message):
    """The 64-byte Ed25519 signature (RFC 8032) of message under the private key (seed or object)."""
    return signing_key(seed).sign(bytes(message))


def _read_text(path):
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except OSError as exc:
        raise KeyFileError("cannot read key file %s: %s" % (path, exc.strerror)) from None
    except UnicodeDecodeError:
        raise KeyFileError("key file %s is not a PEM or hex text file" % path) from None


def read_private_key(path):
    """The 32-byte Ed25519 private key (seed) from a PKCS#8 PEM file only its owner may read."""
    text = _read_text(path)
    if "PRIVATE KEY-----" not in text:
        if "PUBLIC KEY" in text:
            raise KeyFileError("%s is a public key; signing needs the private key file keygen wrote" % path)
        raise KeyFileError("%s is not a PEM private key (-----BEGIN PRIVATE KEY-----)" % path)
    mode = os.stat(path).st_mode
    if os.name == "posix" and mode & 0o077:
        raise KeyFileError("signing key %s is readable by others (mode %03o); chmod 600 it" % (path, mode & 0o777))
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except TypeError:  # a passphrase-protected (ENCRYPTED) PKCS#8 key
        raise KeyFileError("%s is an encrypted private key; cunbox reads unencrypted PKCS#8 only (keep the file "
                           "0600 and offline, or decrypt a copy with `openssl pkey -in KEY -out PLAIN`)" % path) \
            from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError("%s is not a readable PEM private key (PKCS#8)" % path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError("%s is not an Ed25519 private key (PKCS#8, RFC 8410)" % path)
    return _seed(key)


def read_public_key(path):
    """The 32-byte Ed25519 public key from a PEM SubjectPublicKeyInfo file or a line of 64 hex digits."""
    text = _read_text(path)
    if "PRIVATE KEY" in text:
        raise KeyFileError("%s is a private key; only the signing machine may hold it, give the public key "
                           "(keygen wrote it next to the private one, as .pub)" % path)
    if "-----BEGIN PUBLIC KEY-----" in text:
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFileError("%s is not a readable PEM public key (SubjectPublicKeyInfo)" % path) from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError("%s is not an Ed25519 public key (SubjectPublicKeyInfo, RFC 8410)" % path)
        raw = _raw_public(key)
        # cryptography takes any 32 bytes; whether the boards can use the key is their verifier's say
        if ed25519.decode_point(raw) is None:
            raise KeyFileError("%s: the key is not a point on Ed25519" % path)
        return raw
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
    path = path or config.get("FW_SIGNING_KEY")
    if not path:
        raise KeyFileError("no signing key: pass --key FILE or set %s%s" % (SIGNING_KEY_ENV, _retired_hint()))
    return path


def pubkey_paths_from_env():
    return list(config.get("FW_PUBKEY_FILES"))


def load_public_keys(paths=None):
    """Public keys from the given files, or from $CUNBOX_FW_PUBKEYS when none are given."""
    paths = list(paths or []) or pubkey_paths_from_env()
    if not paths:
        raise KeyFileError("no firmware public key: pass --pubkey FILE or set %s%s" % (PUBKEYS_ENV, _retired_hint()))
    return [read_public_key(p) for p in paths]


def _retired_hint():
    if config.get("FW_RETIRED_KEY_FILE"):
        return (" (%s, the HMAC fleet key of format-1 images, is no longer used: see docs/firmware-delivery.md)"
                % RETIRED_ENV)
    return ""


def public_key_text(public, comment=None):
    head = "# %s\n" % comment if comment else ""
    pem = Ed25519PublicKey.from_public_bytes(bytes(public)).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return head + pem.decode("ascii")


def write_new_keypair(path, public_path=None, comment="cunbox firmware signing key"):
    """Create a new Ed25519 private key file readable by its owner only, and its public key file; never
    overwrite either. Returns (private seed, public key, public path)."""
    public_path = public_path or path + ".pub"
    if os.path.exists(public_path):
        raise FileExistsError(public_path)
    key = Ed25519PrivateKey.generate()
    public = _raw_public(key.public_key())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(public_key_text(public, "%s, public half, key id %s" % (comment, hexlify(key_id(public)))))
    return _seed(key), public, public_path


def describe(public):
    """'key id 0123456789abcdef, public key <64 hex>' for messages."""
    return "key id %s, public key %s" % (hexlify(key_id(public)), hexlify(public))


def fleet_keys():
    """The public keys a release may be signed with, for the running app (none: uploads are refused,
    no_fleet_key): FW_PUBKEYS from the app's config, else the key files the environment names."""
    from flask import current_app

    from server.errors import BadRequest
    keys = current_app.config.get("FW_PUBKEYS")
    if keys is not None:
        return list(keys)
    paths = pubkey_paths_from_env()
    if not paths:
        return []
    try:
        return load_public_keys(paths)
    except KeyFileError as exc:
        raise BadRequest(str(exc), code="no_fleet_key") from None
