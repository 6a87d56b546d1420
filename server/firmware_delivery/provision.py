"""Provision a board over USB with mpremote: identity check, image into slot a, boot selector,
board config and the firmware public keys (never a private key), then read every hash back and run the
board's own boot selector.

Uses mpremote's serial transport (the same code as the `mpremote` command maintainers use), so a
board left half-provisioned can be inspected and finished by hand with `mpremote`.
"""
import json

from firmware import boot_select, slot_layout, update_image

MAIN_PY = (b"# cunbox: boot through the slot selector (see firmware/boot_select.py)\n"
           b"import boot_select\nboot_select.boot(\"/\")\n")
BOOT_SELECT = "firmware/boot_select.mpy"
LOCK_TYPES = ("gpio", "kerong", "8a")  # firmware/board.py make_locks()

_IDENTIFY = """
import sys, json
i = {"impl": sys.implementation.name, "version": list(sys.implementation.version[:3]),
     "mpy": getattr(sys.implementation, "_mpy", 0), "machine": getattr(sys.implementation, "_machine", "")}
try:
    import machine
    i["uid"] = "".join("%02x" % b for b in machine.unique_id())
except (ImportError, AttributeError):
    i["uid"] = None
try:
    with open(ROOT + "config.json") as f:
        c = json.load(f)
    i["config"] = {"address": c.get("address"), "family": c.get("family")}
except (OSError, ValueError):
    i["config"] = None
print(json.dumps(i))
"""

_HASHES = """
import hashlib, json
def _h(p):
    try:
        f = open(p, "rb")
    except OSError:
        return None
    d = hashlib.sha256()
    while True:
        b = f.read(512)
        if not b:
            break
        d.update(b)
    f.close()
    return "".join("%02x" % x for x in d.digest())
print(json.dumps([_h(ROOT + p) for p in PATHS]))
"""

_RMTREE = """
import os
def _rm(p):
    try:
        m = os.stat(p)[0]
    except OSError:
        return
    if m & 0x4000:
        for n in os.listdir(p):
            _rm(p + "/" + n)
        os.rmdir(p)
    else:
        os.remove(p)
_rm(ROOT + REL)
"""

_MKDIRS = """
import os
_c = ROOT.rstrip("/")
for _p in REL.split("/"):
    _c = _c + "/" + _p
    try:
        os.stat(_c)
    except OSError:
        os.mkdir(_c)
"""

_RENAME = """
import os
try:
    os.rename(ROOT + SRC, ROOT + DST)
except OSError:
    os.remove(ROOT + DST)
    os.rename(ROOT + SRC, ROOT + DST)
"""

_SELFCHECK = """
import sys
if ROOT.rstrip("/") + "/" not in sys.path:
    sys.path.insert(0, ROOT)
import boot_select
_s, _m, _p = boot_select.select(ROOT)
print(_s, _m["version"])
"""


class ProvisionError(Exception):
    pass


class BoardConfig:
    """What provisioning writes to /config.json (the file firmware/main.py reads): the board's wiring
    template for its hardware model (pins, UARTs; --wiring) with this board's address, compartment
    count, lock type, link key, family and the public keys it trusts to sign firmware filled in."""

    def __init__(self, address, compartments, lock_type, board_key, family, wiring=None, locker_id=None):
        if not isinstance(address, int) or not 1 <= address <= 247:
            raise ProvisionError("address must be 1..247 (a bus address), got %r" % (address,))
        if not isinstance(compartments, int) or not 1 <= compartments <= 128:
            raise ProvisionError("compartments must be 1..128, got %r" % (compartments,))
        if lock_type not in LOCK_TYPES:
            raise ProvisionError("lock type %r: one of %s" % (lock_type, ", ".join(LOCK_TYPES)))
        if len(board_key) != 32:
            raise ProvisionError("board key must be 32 bytes")
        if wiring is not None and not isinstance(wiring, dict):
            raise ProvisionError("the wiring template must be a JSON object")
        self.address = address
        self.compartments = compartments
        self.lock_type = lock_type
        self.board_key = board_key
        self.family = family
        self.wiring = wiring or {}
        self.locker_id = locker_id

    def as_dict(self, pubkeys):
        cfg = json.loads(json.dumps(self.wiring))  # a deep copy
        cfg.update({"address": self.address, "compartments": self.compartments,
                    "key": update_image.hexlify(self.board_key), "family": self.family,
                    "fw_pubkeys": [update_image.hexlify(k) for k in pubkeys]})
        cfg.setdefault("locks", {})["type"] = self.lock_type
        if self.locker_id:
            cfg["locker_id"] = self.locker_id
        return cfg

    def as_json(self, pubkeys):
        return json.dumps(self.as_dict(pubkeys), sort_keys=True).encode()


def _prelude(root, **names):
    lines = ["ROOT = %r" % root]
    lines += ["%s = %r" % (k, v) for k, v in sorted(names.items())]
    return "\n".join(lines) + "\n"


def plan_files(image, pubkeys, config):
    """Check the image as a board would and return (manifest, [(path, bytes)]) in write order:
    slot files, slot.json (last of the slot), boot selector and main.py, config, pointer."""
    try:
        # slot a, its slot.json and the pointer: the same layout the simulator lays out (firmware/slot_layout.py)
        manifest, files, pointer = slot_layout.provisioned_files(image, pubkeys, config.family)
    except update_image.ImageError as exc:
        raise ProvisionError("image refused: %s" % exc) from None
    slot = boot_select.slot_dir(slot_layout.SLOT) + "/"
    contents = {path[len(slot):]: data for path, data in files if path.startswith(slot)}
    if BOOT_SELECT not in contents:
        raise ProvisionError("image has no %s; it cannot boot a board" % BOOT_SELECT)
    files.append(("boot_select.mpy", contents[BOOT_SELECT]))
    files.append(("main.py", MAIN_PY))
    files.append(("config.json", config.as_json(pubkeys)))
    files.append(pointer)
    return manifest, files


def check_identity(ident, manifest, config, expect_uid=None, force=False):
    """Refuse a board that is not what the maintainer expects to be plugged in."""
    if ident.get("impl") != "micropython":
        raise ProvisionError("the device answers as %r, not as a MicroPython board" % ident.get("impl"))
    mpy = manifest.get("mpy")
    if mpy is not None and (ident.get("mpy", 0) & 0xFF) != (mpy & 0xFF):
        raise ProvisionError("board runs MicroPython %s (.mpy %s); the image is .mpy %s"
                             % (".".join(map(str, ident.get("version", []))),
                                update_image.mpy_name(ident.get("mpy", 0)), update_image.mpy_name(mpy)))
    if expect_uid is not None and (ident.get("uid") or "").lower() != expect_uid.lower():
        raise ProvisionError("board unique id is %s, expected %s: wrong board plugged in?"
                             % (ident.get("uid"), expect_uid))
    existing = ident.get("config")
    if existing and not force:
        if existing.get("family") not in (None, config.family):
            raise ProvisionError("board is provisioned for family %r, not %r (use --force to re-provision)"
                                 % (existing.get("family"), config.family))
        if existing.get("address") not in (None, config.address):
            raise ProvisionError("board is provisioned as address %r, not %r (use --force to re-provision)"
                                 % (existing.get("address"), config.address))


class Provisioner:
    """Drives one board over an mpremote transport (anything with exec(code) -> bytes and
    fs_writefile(path, data))."""

    def __init__(self, transport, root="/", progress=None):
        self.t = transport
        self.root = root if root.endswith("/") else root + "/"
        self.progress = progress or (lambda msg: None)

    def _exec(self, code, **names):
        from mpremote.transport import TransportError
        try:
            return self.t.exec(_prelude(self.root, **names) + code).decode()
        except TransportError as exc:
            raise ProvisionError("board error: %s" % (getattr(exc, "error_output", None) or exc)) from None

    def identify(self):
        out = self._exec(_IDENTIFY).strip().splitlines()
        try:
            return json.loads(out[-1])
        except (IndexError, ValueError):
            raise ProvisionError("the board did not answer the identity query: %r" % out) from None

    def hashes(self, paths):
        out = self._exec(_HASHES, PATHS=list(paths)).strip().splitlines()
        return json.loads(out[-1])

    def write(self, path, data):
        """Write via a temporary name and rename, so a pulled cable never leaves a torn config."""
        if "/" in path:
            self._exec(_MKDIRS, REL=path.rsplit("/", 1)[0])
        self.t.fs_writefile(self.root + path + ".tmp", data)
        self._exec(_RENAME, SRC=path + ".tmp", DST=path)

    def provision(self, image, pubkeys, config, expect_uid=None, force=False):
        manifest, files = plan_files(image, pubkeys, config)
        ident = self.identify()
        check_identity(ident, manifest, config, expect_uid=expect_uid, force=force)
        self.progress("board %s (MicroPython %s, uid %s): writing firmware %s"
                      % (ident.get("machine"), ".".join(map(str, ident.get("version", []))), ident.get("uid"),
                         manifest["version"]))
        self._exec(_RMTREE, REL="fw")
        for i, (path, data) in enumerate(files):
            self.progress("[%d/%d] %s (%d bytes)" % (i + 1, len(files), path, len(data)))
            self.write(path, data)
        got = self.hashes([p for p, _d in files])
        bad = [p for (p, d), h in zip(files, got, strict=True) if h != update_image.hexlify(_sha256(d))]
        if bad:
            raise ProvisionError("read-back hash mismatch on the board for: %s" % ", ".join(bad))
        out = self._exec(_SELFCHECK).strip().splitlines()
        if not out or out[-1].split() != ["a", manifest["version"]]:
            raise ProvisionError("the board's boot selector did not pick the new firmware: %r" % out)
        self.progress("verified %d files by hash; boot selector picks slot a, version %s"
                      % (len(files), manifest["version"]))
        return manifest, ident


def _sha256(data):
    import hashlib
    return hashlib.sha256(data).digest()


def open_transport(port, baudrate=115200):
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport
    try:
        t = SerialTransport(port, baudrate=baudrate)
        t.enter_raw_repl(soft_reset=True)
    except (TransportError, OSError) as exc:
        raise ProvisionError("no MicroPython raw REPL on %s: %s" % (port, exc)) from None
    return t


def close_transport(t):
    try:
        t.exit_raw_repl()
    finally:
        t.close()
