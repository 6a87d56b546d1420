"""A firmware update through the locker link's durable queue (rollout -> 'firmware' command -> the bus
master's Flasher, a slice at a time) next to the same update by the Flasher over a port of its own
(`cunbox flash`), into the same simulated locker board (hardware_sim.locker, real firmware, updater
and boot selector) on a pty at 115200 baud, unpaced and paced at the baud rate. Also: how long a
courier's deposit (door open) takes while an update is crossing the same bus."""
import base64
import pathlib
import tempfile
import time

from firmware import ed25519
from server.firmware_delivery import build as builder

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLEET = bytes(range(32))  # the maintainers' Ed25519 signing key (seed); boards and server hold FLEET_PUB
FLEET_PUB = ed25519.public_key(FLEET)
KEY = b"\x44" * 16
SECTION = "firmware update through the link's queue"
BAUD = 115200


def _img(files, version):
    return builder.pack(files, builder.make_manifest(files, version, builder.DEFAULT_FAMILY, 1, mpy=6), FLEET)


def direct(files, paced):
    from hardware_sim.locker import SimLocker
    from server.firmware_delivery.flasher import Flasher
    from server.firmware_delivery.link import Link
    with tempfile.TemporaryDirectory(prefix="cunbox-bench-fwq-") as root:
        sim = SimLocker(board_specs=[{"address": 1, "compartments": 4, "fw_image": _img(files, "1.0.0"),
                                      "fw_pubkeys": [FLEET_PUB]}], transport="pty", baud=BAUD, paced=paced,
                        keys={1: KEY}, root=root)
        url = sim.start()
        link = Link(url, 1, KEY, baud=BAUD)
        try:
            t0 = time.monotonic()
            version = Flasher(link, _img(files, "1.1.0"), boot_wait_s=30).run()
            took = time.monotonic() - t0
        finally:
            link.close()
            sim.stop()
        assert version == "1.1.0", version
        return took


def queued(files, paced, with_deposit=False):
    from server.demo.day import call
    from server.demo.stack import Stack
    with tempfile.TemporaryDirectory(prefix="cunbox-bench-fwq-") as root:
        st = Stack(root=root, lockers=1, boards=1, per_board=4, baud=BAUD, paced=paced, status_period_s=1.0,
                   board_options={"fw_image": _img(files, "1.0.0"), "fw_pubkeys": [FLEET_PUB]})
        st.start()
        try:
            st.app.config["FW_PUBKEYS"] = [FLEET_PUB]
            h = st.tokens["maintainer"]
            _wait(lambda: _version(st) == "1.0.0", 20)
            status, rel = call("POST", st.url + "/api/v1/firmware/releases", h,
                               {"image_base64": base64.b64encode(_img(files, "1.1.0")).decode()})
            assert status == 201, rel
            with st.db.reading() as s:
                from server.models import Board
                bid = s.query(Board).first().id
            t0 = time.monotonic()
            status, ro = call("POST", st.url + "/api/v1/firmware/rollouts", h,
                              {"release_id": rel["id"], "board_ids": [bid]})
            assert status == 201, ro
            door = None
            if with_deposit:
                time.sleep(1.0)  # the transfer is under way
                d0 = time.monotonic()
                status, out = call("POST", st.url + "/api/v1/deposits", st.tokens["couriers"][0]["token"],
                                   {"locker_id": st.locker_ids[0], "tracking_number": "SF-BENCH-1",
                                    "recipient_phone": st.accounts[0]["phone"], "size": "S"})
                door = time.monotonic() - d0
                assert out["command"]["result"] == "opened", out
            p = _wait(lambda: (lambda p: p if p["state"] != "running" else None)(
                call("GET", st.url + ro["status_url"], h)[1]), 300)
            took = time.monotonic() - t0
            assert p["state"] == "completed", p
            return took, door
        finally:
            st.stop()


def _version(st):
    from server.models import Board
    with st.db.reading() as s:
        return s.query(Board).first().firmware_version


def _wait(fn, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out")


def run(report):
    files = builder.compile_tree(ROOT)
    size = len(_img(files, "1.1.0"))
    cmd = ".venv/bin/python -m bench fwqueue"
    report.add(SECTION, "image size", size, "bytes")
    for paced in (False, True):
        how = "paced at %d baud" % BAUD if paced else "pty unpaced, %d baud" % BAUD
        old = direct(files, paced)
        new, door = queued(files, paced, with_deposit=True)
        report.add(SECTION, "update through the queue (%s; rollout created .. confirmed)" % how, round(new, 2),
                   "s", reference=round(old, 2), reference_name="s Flasher on its own port", command=cmd,
                   note="a deposit made meanwhile included")
        report.add(SECTION, "courier deposit while the update crosses the bus (%s)" % how, round(door, 2), "s",
                   reference=round(size * 10.0 / BAUD, 2), reference_name="s bare wire time of the image")
