"""A simulated locker board for firmware-update tests: the real firmware (app, protocol server,
updater, boot selector) on a directory that stands for its flash, behind a TCP serial bridge.

The bridge (the 4G serial-to-TCP box in front of a real locker) listens on 127.0.0.1:port; the host
connects with the pyserial URL socket://127.0.0.1:port. The board behind it can lose power at a
chosen flash change (`cut_when`), stays dark for `off_s`, then powers on again through the boot
selector, exactly as a board restarts: whatever is on its flash decides what runs. `drop_link()`
closes the TCP connection as a failing modem would.

What runs is the code in this repository; the version a board reports is the version of the slot
the boot selector picked (slot.json), which is what an update changes.
"""
import json
import select
import socket
import threading
import time

from firmware import board, boot_select, slot_layout, update_handler
from hardware_sim.fakes import Clock, Pin, Uart
from protocol import messages as m


class PowerCut(BaseException):
    """Not an Exception: nothing in the firmware may catch the power going away."""


class BoardReset(BaseException):
    pass


class PowerCutFs(boot_select.FlashFs):
    """The board's flash; `cut(kind, rel, n)` decides at each change whether the power goes now
    (n counts changes since power-on). A cut write keeps half its bytes."""

    def __init__(self, root, cut=None):
        boot_select.FlashFs.__init__(self, root)
        self.cut = cut
        self.ops = 0
        self.dead = False

    def _op(self, kind, rel, data=None):
        if self.dead:
            raise PowerCut("no power")
        n = self.ops
        self.ops += 1
        if self.cut is not None and self.cut(kind, rel, n):
            self.dead = True
            if data is not None and len(data) > 1:
                return len(data) // 2
            raise PowerCut("power cut at %s %s" % (kind, rel))
        return None if data is None else len(data)

    def power_cut(self):
        return PowerCut("torn write")


class BridgedBoard:
    """One board of its own behind a TCP serial bridge, its flash a directory it can lose power in the
    middle of (for firmware-update tests). Not hardware_sim.board.SimBoard, a board of a simulated locker
    on the fake `machine` with its physics; both run the real firmware."""

    def __init__(self, root, address, key_hex, pubkeys_hex, family, n=4, port=0, off_s=0.3, baud=None):
        self.root = root
        self.cfg = {"address": address, "key": key_hex, "fw_pubkeys": list(pubkeys_hex), "family": family,
                    "compartments": n, "locker_id": "SIM-%d" % address}
        self.n = n
        self.off_s = off_s
        self.baud = baud  # None: as fast as TCP; else bytes take 10 bits / baud each way, half duplex
        self.cut_when = None  # callable(kind, rel, n) -> True to cut the power there (one shot)
        self.boots = []  # (slot, version) of every power-on
        self.cuts = []  # description of every power cut
        self.selftest_fail = None  # name of a self-test check to fail, or None
        self._lock = threading.Lock()
        self._alive = False
        self._stop = False
        self._conn = None
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.url = "socket://127.0.0.1:%d" % self.port
        self._power_on()
        self._thread = threading.Thread(target=self._run, name="sim-board-%d" % address, daemon=True)
        self._thread.start()

    # --- life cycle ---
    def _power_on(self):
        cut, self.cut_when = self.cut_when, None
        self.fs = PowerCutFs(self.root, cut)
        self.dead_until = None
        try:
            slot, manifest, _p = boot_select.select(self.root, self.fs)
        except PowerCut as exc:
            self._died("during boot: %s" % exc)
            return
        self.boots.append((slot, manifest["version"]))
        self.uart = Uart()
        clock = Clock(real=True)
        self.lock_pins = [Pin(0) for _ in range(self.n)]
        self.door_pins = [Pin(0) for _ in range(self.n)]
        hw = {"lock_pins": self.lock_pins, "door_pins": self.door_pins, "bus": self.uart, "uid": b"SIMBOARD",
              "reset_cause": m.RESET_POWER_ON, "reset": self._reset, "idle": self._idle,
              "fw_root": self.root, "fw_fs": self.fs}
        self.app = board.build(self.cfg, hw, clock, boot_select.join(self.root, "flash"))
        self.server = board.build_server(self.app, self.cfg, hw)
        if self.selftest_fail:
            self.server.fw.checks[self.selftest_fail] = lambda: False
        self._alive = True

    def _died(self, why):
        self._alive = False
        self.cuts.append(why)
        self.dead_until = time.monotonic() + self.off_s

    def _reset(self):
        raise BoardReset()

    def _idle(self):
        time.sleep(0.001)
        for i, p in enumerate(self.lock_pins):  # a pulsed latch lets the spring door pop open
            if p.v:
                self.door_pins[i].v = 1

    # --- the bridge ---
    def drop_link(self):
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except OSError:
                    pass
                self._conn = None

    def close(self):
        self._stop = True
        self.drop_link()
        self._thread.join(timeout=5)
        self.listener.close()

    def _run(self):
        while not self._stop:
            if not self._alive and self.dead_until is not None and time.monotonic() >= self.dead_until:
                self._power_on()
            conn = self._conn
            socks = [self.listener] + ([conn] if conn is not None else [])
            try:
                readable, _w, _x = select.select(socks, [], [], 0.005)
            except (OSError, ValueError):
                readable = []
            if self.listener in readable:
                new, _addr = self.listener.accept()
                new.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._lock:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = new
                continue
            data = b""
            if conn is not None and conn in readable:
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    with self._lock:
                        if self._conn is conn:
                            self._conn = None
                    conn.close()
                    continue
            if not self._alive:
                continue  # a dark board hears nothing
            if data and self.baud:
                time.sleep(len(data) * 10.0 / self.baud)  # the request was still on the wire
            try:
                if data:
                    self.uart.feed(data)
                now = self.app.step()
                self.server.poll(now)
                self.app.feed(now)
            except PowerCut as exc:
                self._died(str(exc))
                continue
            except BoardReset:
                out = self.uart.take()
                self._send(out)
                self._alive = False
                self._power_on()
                continue
            self._send(self.uart.take())

    def _send(self, out):
        if out and self.baud:
            from protocol import timing
            # the board waits the inter-frame gap, then its reply takes its wire time
            time.sleep(timing.inter_frame_gap_us(self.baud) / 1e6 + len(out) * 10.0 / self.baud)
        if out and self._conn is not None:
            try:
                self._conn.sendall(out)
            except OSError:
                pass

    # --- for tests ---
    def status(self):
        fs = boot_select.FlashFs(self.root)
        return boot_select.read_pointer(fs), json.loads(fs.read("fw/slot_%s/slot.json" % self.boots[-1][0]))


def provision_dir(root, image, pubkeys):
    """Lay out a board directory as `cunbox firmware provision` would (slot a, pointer), from an image
    checked as a board would check it (firmware/slot_layout.py, which provisioning uses too). The boot
    selector, /main.py and /config.json are not written: this simulator runs the repository's boot
    selector and holds its config in memory. Raises update_image.ImageError for an image a board refuses."""
    _manifest, files, pointer = slot_layout.provisioned_files(image, pubkeys)
    fs = boot_select.FlashFs(root)
    for path, data in files + [pointer]:
        fs.mkdirs(path.rsplit("/", 1)[0])
        fs.write_new(path, data)


__all__ = ["BridgedBoard", "PowerCut", "provision_dir", "update_handler"]
