"""What a board's flash holds after provisioning over USB with a signed image: the image's files in
slot a, then its slot.json, then the boot pointer to slot a, not on trial (the layout: boot_select.py).

Host side, kept below its two users so that they lay a board out alike: `cunbox firmware provision`
(server/firmware_delivery/provision.py) writes these over USB together with the boot selector, /main.py and
/config.json, and the simulator (hardware_sim) writes them into a simulated board's directory. It is
compiled into images with the rest of firmware/ and runs on MicroPython, but no board calls it.
"""
import json

from firmware import boot_select, update_image

SLOT = "a"


def provisioned_files(image, keys, family=None):
    """Check `image` (bytes) as a board would: signed by one of `keys`, every file's hash and, given
    `family`, the board family. Returns (manifest, files, pointer): `files` are the (path, bytes) of
    slot a in write order, slot.json last (it marks the slot complete); `pointer` is the (path, bytes)
    of the boot pointer, to be written after everything else. Raises update_image.ImageError."""
    manifest = update_image.verify_image(update_image.BytesReader(image), len(image), keys)
    update_image.check_policy(manifest, family=family)
    mlen = int.from_bytes(image[8:12], "big")
    offset = update_image.HEADER_SIZE + mlen + update_image.SIG_SIZE
    slot = boot_select.slot_dir(SLOT)
    files = []
    for entry in manifest["files"]:
        files.append((slot + "/" + entry["path"], image[offset:offset + entry["size"]]))
        offset += entry["size"]
    slot_manifest = dict(manifest)
    slot_manifest["installed_from"] = "usb"
    files.append((slot + "/slot.json", json.dumps(slot_manifest).encode()))
    pointer = {"active": SLOT, "fallback": None, "trial": False, "tries": 0, "budget": boot_select.DEFAULT_BUDGET,
               "note": "provisioned over USB with %s" % manifest["version"]}
    return manifest, files, (boot_select.POINTER, json.dumps(pointer).encode())
