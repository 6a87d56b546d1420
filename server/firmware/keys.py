"""Fleet key files: 64 hex digits on one line; lines starting with '#' are comments.

See docs/firmware-delivery.md for how keys are made, kept and rotated.
"""
import os
import secrets

from firmware.fwimage import ImageError, hexlify, parse_key

KEY_ENV = "CUNBOX_FW_KEY_FILE"


class KeyFileError(Exception):
    pass


def read_key_file(path):
    try:
        with open(path, encoding="ascii") as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise KeyFileError("cannot read key file %s: %s" % (path, exc.strerror)) from None
    except UnicodeDecodeError:
        raise KeyFileError("key file %s is not ASCII hex" % path) from None
    if len(lines) != 1:
        raise KeyFileError("key file %s must hold exactly one key line, found %d" % (path, len(lines)))
    try:
        return parse_key(lines[0])
    except ImageError as exc:
        raise KeyFileError("key file %s: %s" % (path, exc.message)) from None


def resolve_key_path(path):
    path = path or os.environ.get(KEY_ENV)
    if not path:
        raise KeyFileError("no fleet key: pass --key FILE or set %s" % KEY_ENV)
    return path


def write_new_key(path, comment=None):
    """Create a new random fleet key file readable by its owner only; never overwrite one."""
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        if comment:
            f.write("# %s\n" % comment)
        f.write(hexlify(key) + "\n")
    return key
