"""Firmware update over the link: the full image of this repository, built with mpy-cross, sent to a
simulated board (the real firmware and updater, hardware_sim/fw_sim_board.py) whose bridge paces
every byte at the line's baud rate (10 bits per byte, half duplex, inter-frame gap before each reply),
by the real host side (server/firmware_delivery/flasher.py). Measured in real time from the first HELLO to
the confirmed version, next to the bare wire time of the image's bytes at the same baud."""
import pathlib
import tempfile
import time

from firmware import ed25519
from hardware_sim.fw_sim_board import BridgedBoard, provision_dir
from server.firmware_delivery import build as builder
from server.firmware_delivery.flasher import Flasher
from server.firmware_delivery.link import Link

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLEET = bytes(range(32))  # the signing key (seed); the board holds FLEET_PUB
FLEET_PUB = ed25519.public_key(FLEET)
KEY = b"\x33" * 32
SECTION = "firmware update over the link"


def _update(old, new, baud):
    with tempfile.TemporaryDirectory(prefix="cunbox-bench-fw-") as root:
        provision_dir(root, old, [FLEET_PUB])
        board = BridgedBoard(root, 7, KEY.hex(), [FLEET_PUB.hex()], builder.DEFAULT_FAMILY, baud=baud)
        link = Link(board.url, 7, KEY, baud=baud)
        phases = {}
        try:
            def progress(p):
                if p.done >= p.total and "transfer" not in phases:
                    phases["transfer"] = time.monotonic() - t0

            f = Flasher(link, new, boot_wait_s=60, on_progress=progress)
            t0 = time.monotonic()
            version = f.run()
            phases["total"] = time.monotonic() - t0
        finally:
            link.close()
            board.close()
        assert version == "2.0.1", version
        return phases, link.session.retries


def run(report):
    files = builder.compile_tree(ROOT)
    old = builder.pack(files, builder.make_manifest(files, "2.0.0", builder.DEFAULT_FAMILY, 1, mpy=6), FLEET)
    new = builder.pack(files, builder.make_manifest(files, "2.0.1", builder.DEFAULT_FAMILY, 1, mpy=6), FLEET)
    report.add(SECTION, "image size (%d .mpy files from firmware/ and protocol/)" % len(files), len(new), "bytes")
    for baud in (115200, 9600):
        wire = len(new) * 10.0 / baud
        phases, retries = _update(old, new, baud)
        cmd = ".venv/bin/python -m bench updater"
        report.add(SECTION, "full update at %d baud (HELLO .. confirmed)" % baud, round(phases["total"], 2), "s",
                   reference=round(wire, 2), reference_name="s bare wire time of the image", command=cmd,
                   note="%d retries" % retries)
        report.add(SECTION, "transfer phase at %d baud (FW_BEGIN .. last FW_CHUNK)" % baud,
                   round(phases["transfer"], 2), "s", reference=round(wire, 2),
                   reference_name="s bare wire time of the image")
        report.add(SECTION, "effective throughput at %d baud" % baud, round(len(new) / phases["transfer"]), "B/s",
                   reference=baud // 10, reference_name="B/s line rate")
