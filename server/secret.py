"""The server secret: one secret per installation, from which every server-side key is derived.

CUNBOX_SECRET (hex or text, at least 16 bytes), else instance/link-secret, created on first use with
32 random bytes (0600). Each use gets its own key by HMAC-SHA256(secret, label), so the web session
key and the board-key sealing keys never coincide, and one value is all an operator keeps safe.
"""
import hashlib
import hmac
import os
import pathlib
import secrets

FILE_NAME = "link-secret"  # its historical name; it seals link keys and signs web sessions


def load_secret(instance_dir=None):
    """CUNBOX_SECRET (hex or text), else the file under the instance folder (made on first use)."""
    from server import config
    env = config.get("SECRET")
    if env:
        return env.encode()
    path = pathlib.Path(instance_dir or config.get("INSTANCE_DIR")) / FILE_NAME
    if not path.exists():
        _create(path)
    return path.read_bytes().strip()


def _create(path):
    """Write a new secret at `path` unless another process got there first: the file appears whole
    (written aside, then linked in place) and only once (a link never replaces), so two processes
    starting together end up with the same secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("%s.%d.%s.tmp" % (path.name, os.getpid(), secrets.token_hex(4)))
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32).hex().encode())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass           # the other process's secret stands; this one is dropped
    finally:
        os.unlink(tmp)


def derive(secret, label):
    """A 32-byte key for one use (label), independent of the keys for every other label."""
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def web_session_key(secret):
    return derive(secret, "cunbox web sessions").hex()
