# What USB provisioning lays on a board's flash (firmware/slot_layout.py, used by `cunbox firmware
# provision` and the simulator), and the boot selector starting the chosen slot's firmware by its module
# name (boot_select.boot). CPython and MicroPython.
import sys

from _update_power import clean, fresh_root
from _update_util import FAMILY, OTHER_KEY, PUBKEY, make_files, make_image

from firmware import boot_select, slot_layout, update_image


def _lay_out(root, image):
    _manifest, files, pointer = slot_layout.provisioned_files(image, [PUBKEY], FAMILY)
    fs = boot_select.FlashFs(root)
    for path, data in files + [pointer]:
        fs.mkdirs(path.rsplit("/", 1)[0])
        fs.write_new(path, data)
    return files, pointer


def test_fwupd_slot_layout_boots_slot_a_not_on_trial():
    root = fresh_root()
    files, pointer = _lay_out(root, make_image("1.3.0"))
    # slot.json last: a slot is complete only once every file of it is written
    assert [p for p, _d in files] == ["fw/slot_a/" + p for p, _d in make_files("1.3.0")] + ["fw/slot_a/slot.json"]
    assert pointer[0] == boot_select.POINTER
    slot, manifest, p = boot_select.select(root)
    assert (slot, manifest["version"], manifest["installed_from"]) == ("a", "1.3.0", "usb")
    assert not p["trial"] and p["fallback"] is None
    clean(root)


def test_fwupd_slot_layout_refuses_what_a_board_refuses():
    for image, code in ((make_image("1.3.0", key=OTHER_KEY), "untrusted"),
                        (make_image("1.3.0", family="other-board"), "family"),
                        (make_image("1.3.0")[:-1], "length")):
        try:
            slot_layout.provisioned_files(image, [PUBKEY], FAMILY)
        except update_image.ImageError as exc:
            assert exc.code == code, (code, str(exc))
        else:
            raise AssertionError("not refused: " + code)


def test_fwupd_boot_starts_the_slots_entry_by_name():
    root = fresh_root()
    entry = "boot_probe_entry"
    # a stand-in firmware that says where it ran from
    probe = "def main():\n    f = open(%r, 'w')\n    f.write(__file__)\n    f.close()\n" % (root + "/ran.txt")
    _lay_out(root, make_image("1.3.0", files=[(entry + ".py", probe.encode())]))
    n = len(sys.path)
    try:
        boot_select.boot(root, entry)
        with open(root + "/ran.txt") as f:
            ran = f.read()
    finally:
        while len(sys.path) > n:
            sys.path.pop(0)
        sys.modules.pop(entry, None)
    assert "fw/slot_a/" in ran, ran
    clean(root)
