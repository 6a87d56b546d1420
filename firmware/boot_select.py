"""Boot selector: picks the firmware slot to run, counts trial boots, rolls back by itself.

On a board this file is copied to the root as /boot_select.py and /main.py is two lines:

    import boot_select
    boot_select.boot("/")

It is the one piece an over-the-link update never replaces (provisioning over USB does), so it only
relies on the pointer format below. Runs on MicroPython and CPython (the simulator and tests call
`select()`; only `boot()` touches sys.path and starts the firmware).

It is the bottom of the firmware: it imports no firmware or protocol module. `boot()` starts the
slot's firmware by its module name (ENTRY), because what it starts is whatever copy the chosen slot
holds, found on sys.path at boot, not a module it depends on (firmware/main.py builds the app on top).

Flash layout under the board's root (config/ and data/ belong to the firmware and are never
touched here):

    fw/boot.json          pointer: {"active": "a", "fallback": "b"|null, "trial": bool, "tries": n,
                                    "budget": n, "note": "..."}, replaced only by write-then-rename
    fw/slot_a/, fw/slot_b/  one firmware each: the image's files and, written last, slot.json
                          (the image manifest). A slot without a readable slot.json is incomplete.
    fw/staging/           the image being received (see updater.py)

Invariants that keep a board bootable through a power cut at any instant:
- the active slot is never written to; an update installs into the other slot;
- slot.json is removed before a slot is rewritten and written (tmp + rename) only after every file
  in it was written and read back;
- the pointer changes only by an atomic rename, so it is always the old or the new one;
- a new slot runs "on trial": every boot of it counts, and when `budget` boots passed without the
  firmware confirming (self-test passed), the selector switches back to the fallback slot.
"""
import hashlib
import json
import os

SLOTS = ("a", "b")
DEFAULT_BUDGET = 3
POINTER = "fw/boot.json"
ENTRY = "firmware.main"  # the module of a slot's firmware that boot() imports and runs main() of
_DIR_BIT = 0x4000


class NoFirmware(Exception):
    """No complete slot at all: only a board that was never provisioned ends here."""


def join(root, path):
    if not root or root == "/":
        return "/" + path
    return root.rstrip("/") + "/" + path


def slot_dir(slot):
    return "fw/slot_" + slot


class FlashFs:
    """The board's filesystem below `root`. Every change goes through `_op(kind, path)` first, so a
    test can cut the power at any single write, rename or delete (see tests/portable/_update_power.py)."""

    def __init__(self, root):
        self.root = root

    def path(self, rel):
        return join(self.root, rel)

    def _op(self, kind, rel, data=None):
        """Called before every change; returns how many bytes of `data` to write (all, normally)."""
        return None if data is None else len(data)

    def power_cut(self):
        """The exception a torn write ends with (a test's power cut; never reached otherwise)."""
        return OSError(5, "write torn")

    # --- reads ---
    def exists(self, rel):
        try:
            os.stat(self.path(rel))
            return True
        except OSError:
            return False

    def isdir(self, rel):
        try:
            return bool(os.stat(self.path(rel))[0] & _DIR_BIT)
        except OSError:
            return False

    def size(self, rel):
        try:
            return os.stat(self.path(rel))[6]
        except OSError:
            return -1

    def listdir(self, rel):
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return []

    def read(self, rel):
        with open(self.path(rel), "rb") as f:
            return f.read()

    def open_read(self, rel):
        return open(self.path(rel), "rb")

    # --- changes ---
    def mkdirs(self, rel):
        cur = ""
        for part in rel.split("/"):
            cur = part if not cur else cur + "/" + part
            if not self.isdir(cur):
                self._op("mkdir", cur)
                os.mkdir(self.path(cur))

    def write_new(self, rel, data):
        """Write a whole file (may be torn by a power cut: use write_atomic where that matters)."""
        n = self._op("write", rel, data)
        with open(self.path(rel), "wb") as f:
            f.write(data if n == len(data) else data[:n])  # a slice of bytes is a copy
        if n != len(data):
            raise self.power_cut()

    def append(self, rel, data):
        n = self._op("append", rel, data)
        with open(self.path(rel), "ab") as f:
            f.write(data[:n])
        if n != len(data):
            raise self.power_cut()

    def open_write(self, rel):
        return _Writer(self, rel)

    def rename(self, src, dst):
        self._op("rename", dst)
        try:
            os.rename(self.path(src), self.path(dst))
        except OSError:
            # FAT refuses to rename onto an existing file; littlefs replaces atomically.
            os.remove(self.path(dst))
            os.rename(self.path(src), self.path(dst))

    def remove(self, rel):
        if self.exists(rel):
            self._op("remove", rel)
            os.remove(self.path(rel))

    def rmtree(self, rel):
        if not self.exists(rel):
            return
        if not self.isdir(rel):
            self.remove(rel)
            return
        for name in self.listdir(rel):
            self.rmtree(rel + "/" + name)
        self._op("rmdir", rel)
        os.rmdir(self.path(rel))

    def write_atomic(self, rel, data):
        tmp = rel + ".tmp"
        self.write_new(tmp, data)
        self.rename(tmp, rel)

    def write_json(self, rel, obj):
        """write_atomic of obj as JSON, dumped straight into the file: a slot.json (the whole manifest)
        is never held as a string and its bytes, about 12 KB of heap on a board."""
        tmp = rel + ".tmp"
        self._op("write", tmp)  # a cut here leaves no file or a torn one, which is never renamed
        with open(self.path(tmp), "w") as f:
            json.dump(obj, f)
        self.rename(tmp, rel)


class _Writer:
    def __init__(self, fs, rel):
        self.fs = fs
        self.rel = rel
        fs._op("create", rel)
        self.f = open(fs.path(rel), "wb")

    def write(self, data):
        n = self.fs._op("write", self.rel, data)
        self.f.write(data[:n])
        if n != len(data):
            self.f.close()
            raise self.fs.power_cut()

    def close(self):
        self.f.close()


# --- slots ---

def read_json(fs, rel):
    """A JSON object from flash, or None when missing, torn or not an object."""
    try:
        obj = json.loads(fs.read(rel))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def slot_manifest(fs, slot, check_files=True):
    """The manifest of a complete slot, or None. With check_files, every file's size and SHA-256
    is checked against it, so a slot damaged on flash is never booted."""
    m = read_json(fs, slot_dir(slot) + "/slot.json")
    if m is None or not isinstance(m.get("files"), list) or "version" not in m:
        return None
    if check_files:
        for entry in m["files"]:
            if not _file_matches(fs, slot_dir(slot) + "/" + entry["path"], entry):
                return None
    return m


def _file_matches(fs, rel, entry):
    if fs.size(rel) != entry["size"]:
        return False
    h = hashlib.sha256()
    buf = bytearray(512)  # one buffer for the whole file: a large file costs no more heap than a small one
    mv = memoryview(buf)
    try:
        with fs.open_read(rel) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(mv[:n])
    except OSError:
        return False
    return "".join("%02x" % b for b in h.digest()) == entry["sha256"]


def other(slot):
    return "b" if slot == "a" else "a"


def read_pointer(fs):
    p = read_json(fs, POINTER)
    if p is None or p.get("active") not in SLOTS:
        return None
    return p


def _version_key(m):
    try:
        return tuple(int(x) for x in m["version"].split("."))
    except (ValueError, AttributeError):
        return ()


def select(root, fs=None):
    """Decide which slot this boot runs, updating the pointer first. Returns (slot, manifest, pointer).

    The pointer is rewritten before the firmware starts, so a power cut during this boot counts as
    a failed boot of a slot on trial."""
    fs = fs or FlashFs(root)
    p = read_pointer(fs)
    if p is None:
        p = _recover(fs)
    if p.get("trial"):
        budget = p.get("budget", DEFAULT_BUDGET)
        if p.get("tries", 0) >= budget:
            p = _rollback(fs, p, "version on slot %s did not confirm within %d boots" % (p["active"], budget))
        else:
            p["tries"] = p.get("tries", 0) + 1
            fs.write_json(POINTER, p)
    m = slot_manifest(fs, p["active"])
    if m is None:
        p = _rollback(fs, p, "slot %s is damaged or incomplete" % p["active"])
        m = slot_manifest(fs, p["active"])
        if m is None:
            raise NoFirmware("no bootable firmware slot")
    return p["active"], m, p


def _recover(fs):
    """Pointer missing or unreadable: boot the newest complete slot, not on trial."""
    best = None
    best_m = None
    for s in SLOTS:
        m = slot_manifest(fs, s)
        if m is not None and (best_m is None or _version_key(m) > _version_key(best_m)):
            best, best_m = s, m
    if best is None:
        raise NoFirmware("no pointer and no complete firmware slot")
    p = {"active": best, "fallback": None, "trial": False, "tries": 0, "budget": DEFAULT_BUDGET,
         "note": "pointer rebuilt: booting newest complete slot %s" % best}
    fs.mkdirs("fw")
    fs.write_json(POINTER, p)
    return p


def _rollback(fs, p, why):
    fallback = p.get("fallback")
    if fallback not in SLOTS or slot_manifest(fs, fallback) is None:
        if p.get("trial") and slot_manifest(fs, p["active"]) is not None:
            # Nothing to go back to: keep running the trial slot rather than nothing.
            p["trial"] = False
            p["note"] = why + "; no fallback slot, kept"
            fs.write_json(POINTER, p)
            return p
        raise NoFirmware(why + "; no fallback slot")
    bad = slot_manifest(fs, p["active"], check_files=False)
    new = {"active": fallback, "fallback": None, "trial": False, "tries": 0,
           "budget": p.get("budget", DEFAULT_BUDGET), "note": "rolled back: " + why,
           "rejected": p["active"], "rejected_version": bad["version"] if bad else None}
    fs.write_json(POINTER, new)
    return new


def boot(root="/", entry=ENTRY):
    """Real boards: select a slot, put it first on sys.path and run its firmware (`entry`.main()). If
    selecting fails (never provisioned with slots, or the flash misbehaves), still try to run something:
    the firmware on the root (files copied by hand), then slot a, then slot b."""
    import sys
    try:
        slot, _manifest, _pointer = select(root)
        candidates = [slot]
    except Exception as exc:  # the board must not stay dark because the selector failed
        print("boot_select: %r; trying any firmware" % (exc,))
        candidates = [None] + list(SLOTS)
    for slot in candidates:
        if slot is not None:
            sys.path.insert(0, join(root, slot_dir(slot)))
        try:
            __import__(entry)  # the slot's own copy, by name: the selector does not depend on it
            app = sys.modules[entry]
        except ImportError:
            if slot is not None:
                sys.path.pop(0)
            continue
        app.main()
        return
    raise NoFirmware("no firmware to run")
