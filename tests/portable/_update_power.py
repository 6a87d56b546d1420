# Power-cut harness for the firmware-update tests: a board filesystem on a fresh directory whose
# every change (write, append, rename, remove, mkdir) can be the one where the power goes.
import json
import os

from _update_util import FAMILY, PUBKEY, make_files, make_image

from firmware import boot_select, update_image, updater

_counter = [0]


class PowerCut(Exception):
    pass


def _rm(path):
    """Remove a file or a directory tree, as the boot selector's flash does (FlashFs.rmtree)."""
    parent, name = path.rsplit("/", 1)
    boot_select.FlashFs(parent or "/").rmtree(name)


def fresh_root():
    try:
        import tempfile
        return tempfile.mkdtemp(prefix="update-")
    except ImportError:  # MicroPython: an in-memory filesystem per run
        _counter[0] += 1
        base = "/tmp"
        try:
            os.mkdir(base)
        except OSError:
            pass
        path = "%s/update-%d" % (base, _counter[0])
        _rm(path)
        os.mkdir(path)
        return path


class CuttingFs(boot_select.FlashFs):
    """Cuts the power at change number `cut_at` (0-based); a cut write leaves half its bytes.
    The same cut as hardware_sim/flash.py SimFlash's arm_change(), kept apart: these tests run on
    MicroPython too, where the simulator (threads, the fake `machine`, its BaseException PowerLoss)
    is not copied, and they catch PowerCut as an Exception."""

    def __init__(self, root, cut_at=-1, torn=True):
        boot_select.FlashFs.__init__(self, root)
        self.cut_at = cut_at
        self.torn = torn
        self.ops = 0
        self.log = []

    def _op(self, kind, rel, data=None):
        n = self.ops
        self.ops += 1
        self.log.append((kind, rel))
        if n == self.cut_at:
            if self.torn and data is not None and len(data) > 1:
                return len(data) // 2  # torn: the write stops half-way, then the board is dead
            raise PowerCut("power cut at %s %s" % (kind, rel))
        if self.cut_at >= 0 and n > self.cut_at:
            raise PowerCut("write after power cut")
        return None if data is None else len(data)

    def power_cut(self):
        return PowerCut("torn write")


def provision(root, version="1.0.0"):
    """A board as USB provisioning leaves it: slot a holds `version`, config and data files exist."""
    fs = boot_select.FlashFs(root)
    files = make_files(version)
    image = make_image(version, files=files)
    mlen = int.from_bytes(image[8:12], "big")
    manifest = json.loads(image[update_image.HEADER_SIZE:update_image.HEADER_SIZE + mlen])
    d = boot_select.slot_dir("a")
    for path, data in files:
        fs.mkdirs((d + "/" + path).rsplit("/", 1)[0])
        fs.write_new(d + "/" + path, data)
    fs.write_json(d + "/slot.json", manifest)
    fs.write_json(boot_select.POINTER, {"active": "a", "fallback": None, "trial": False, "tries": 0,
                                        "budget": 3})
    fs.mkdirs("config")
    fs.mkdirs("data")
    fs.write_new("config/board.json", b'{"address": 7, "compartments": 24}')
    fs.write_new("data/journal.log", b"event 1\nevent 2\n")
    fs.write_new("data/codes.bin", bytes(range(256)))
    return fs


def keep_files(root):
    fs = boot_select.FlashFs(root)
    return {p: fs.read(p) for p in ("config/board.json", "data/journal.log", "data/codes.bin")}


def make_updater(root, fs=None, slot=None, family=FAMILY, protocol_version=1):
    return updater.Updater(root, [PUBKEY], family, protocol_version=protocol_version, fs=fs, running_slot=slot)


def boot(root, fs=None):
    """One power-on: the selector picks a slot; the updater runs from it."""
    slot, manifest, pointer = boot_select.select(root, fs)
    return slot, manifest, pointer


def send_image(up, image, chunk=64, allow_downgrade=False):
    """What the host does: begin (maybe resuming), send the rest in chunks, commit."""
    off = up.begin(len(image), allow_downgrade=allow_downgrade)
    while off < len(image):
        off = up.write(off, image[off:off + chunk])
    return up.commit()


def full_update(root, image, fs=None, chunk=64):
    """Boot, receive, commit, reset, first boot, self-test, confirm. Returns the confirmed version."""
    slot, _m, _p = boot(root, fs)
    send_image(make_updater(root, fs, slot), image, chunk)
    slot, m, _p = boot(root, fs)
    ok, _failures = make_updater(root, fs, slot).confirm_if_healthy({"doors": _ok, "locks": _ok, "journal": _ok,
                                                                "link": _ok})
    assert ok
    return m["version"]


def _ok():
    return True


def running(root):
    """Power on with no cut and report (slot, version, trial); asserts the slot's files are intact."""
    slot, m, p = boot(root)
    assert boot_select.slot_manifest(boot_select.FlashFs(root), slot) is not None
    return slot, m["version"], bool(p.get("trial"))


def clean(root):
    _rm(root)


__all__ = ["PowerCut", "CuttingFs", "provision", "make_updater", "boot", "send_image", "full_update", "running",
           "keep_files", "fresh_root", "clean", "update_image"]
