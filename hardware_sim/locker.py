"""A whole simulated locker: boards on one RS-485 bus, the physical world, and a serial endpoint.

    from hardware_sim.locker import SimLocker
    locker = SimLocker(boards=2, compartments=16, transport="pty", baud=9600)
    url = locker.start()            # "/dev/pts/7" or "socket://127.0.0.1:43001"
    key = locker.keys[1]            # board 1's auth key (bytes); addresses are 1..boards
    ...  HostSession + serial.serial_for_url(url, baudrate=9600) talk to it ...
    locker.board(1).compartments[0].close()   # or locker.close_door(1, 1)
    locker.stop()

Bytes from the host reach every powered board (a bus); what boards send goes back to the host.
Both directions can be paced at the real baud rate and hit by line noise (LineFaults).
"""
import shutil
import tempfile
import threading
import time

from hardware_sim.board import SimBoard
from hardware_sim.clock import SimClock
from hardware_sim.line import Line, LineFaults
from hardware_sim.transport import PtyTransport, TcpTransport

PHYSICS_MS = 2


class CompartmentAccess:
    """Reaching a locker's compartments by (board address, number from 1, as on the wire), and the
    person's hands on them; shared by SimLocker and hardware_sim.fleet.RemoteSimLocker (self.boards)."""

    def board(self, address):
        if address not in self.boards:
            raise KeyError("no board %r (boards: %s)" % (address, sorted(self.boards)))
        return self.boards[address]

    def compartment(self, address, number):
        comps = self.board(address).compartments
        if not 1 <= number <= len(comps):
            raise KeyError("board %d has compartments 1..%d" % (address, len(comps)))
        return comps[number - 1]

    def close_door(self, address, number):
        self.compartment(address, number).close()

    def force_door(self, address, number):
        self.compartment(address, number).force()

    def put_parcel(self, address, number):
        self.compartment(address, number).put()

    def take_parcel(self, address, number):
        self.compartment(address, number).take()


class SimLocker(CompartmentAccess):
    def __init__(self, boards=1, compartments=8, lock_type="gpio", lock_kind="solenoid", sizes=None,
                 chilled_zones=0, transport="pty", host="127.0.0.1", port=0, baud=9600, paced=False,
                 faults=None, keys=None, first_address=1, locker_id="LK-SIM", root=None, auto_close_ms=None,
                 board_specs=None, wdt_ms=4000, left_open_s=120, zone_options=None, zone_time_scale=1.0,
                 clock_scale=1.0):
        """boards: how many boards (addresses first_address...), each with the same options, or
        board_specs: a list of dicts of SimBoard options (address, compartments, lock_type, ...).
        keys: {address: bytes} (default: hardware_sim.board.default_key). faults: LineFaults.
        clock_scale: simulated seconds per real second for the boards and the physics."""
        if transport not in ("pty", "tcp"):
            raise ValueError("transport must be pty or tcp")
        self.baud = baud
        self.paced = paced
        self.clock = SimClock(clock_scale)
        self.faults = faults or LineFaults()
        self.transport_kind = transport
        self._owns_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="cunbox_sim_")
        self.locker_id = locker_id
        if board_specs is None:
            board_specs = [{"address": first_address + i} for i in range(boards)]
        self.boards = {}
        for spec in board_specs:
            opts = {"compartments": compartments, "lock_type": lock_type, "lock_kind": lock_kind, "sizes": sizes,
                    "zones": chilled_zones, "locker_id": locker_id, "wdt_ms": wdt_ms, "left_open_s": left_open_s,
                    "zone_options": zone_options, "zone_time_scale": zone_time_scale}
            opts.update(spec)
            addr = opts.pop("address")
            if keys and addr in keys:
                opts["key"] = keys[addr]
            if addr in self.boards or not 1 <= addr <= 247:
                raise ValueError("board addresses must be distinct, 1..247")
            self.boards[addr] = SimBoard(self, addr, self.root, **opts)
        self.keys = {a: b.key for a, b in self.boards.items()}
        self.set_auto_close(auto_close_ms)
        self._to_host = Line(self._send_to_host, baud, paced, self.faults, "to-host")
        self._to_boards = Line(self._deliver_to_boards, baud, paced, self.faults, "to-boards")
        if transport == "pty":
            self.transport = PtyTransport(self._to_boards.put)
        else:
            self.transport = TcpTransport(self._to_boards.put, host, port)
        self.url = self.transport.url
        self._stop = False
        self._physics = threading.Thread(target=self._physics_loop, name="sim-physics", daemon=True)
        self.started = False

    # -- life ----------------------------------------------------------------------------------
    def start(self, wait=True):
        """Power every board, start the physics and the transport; returns the serial URL."""
        self._to_host.start()
        self._to_boards.start()
        self._physics.start()
        self.transport.start()
        for b in self.boards.values():
            b.power_on()
        if wait:
            for b in self.boards.values():
                if not b.wait_ready(10):
                    raise RuntimeError("board %d did not boot: %s" % (b.address, b.errors[-1:] or "no error"))
        self.started = True
        return self.url

    def stop(self, remove=None):
        for b in self.boards.values():
            b.power_off(wait=False)  # for good: a board dark after a cut does not come back either
        for b in self.boards.values():
            b.join(3)
        self._stop = True
        if self._physics.is_alive():
            self._physics.join(2)
        self.transport.stop()
        self._to_host.stop()
        self._to_boards.stop()
        if remove if remove is not None else self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- the bus -------------------------------------------------------------------------------
    def board_to_host(self, data):
        self._to_host.put(data)

    def _send_to_host(self, data):
        self.transport.send(data)

    def _deliver_to_boards(self, data):
        for b in self.boards.values():
            hw = b.hw
            if b.powered and hw is not None:
                hw.uart(1).feed(data)

    def drop_link(self):
        """Close the host's TCP connection, as a failing 4G bridge does (the host may connect again)."""
        if not hasattr(self.transport, "drop"):
            raise ValueError("only a tcp transport has a connection to drop")
        self.transport.drop()

    def set_noise(self, rate):
        """Overall byte error rate on both directions (spread over flip/drop/dup/delay)."""
        self.faults.set_error_rate(rate)

    def set_pacing(self, paced, baud=None):
        for line in (self._to_host, self._to_boards):
            line.paced = paced
            if baud:
                line.baud = baud
        if baud:
            self.baud = baud

    # -- physics -------------------------------------------------------------------------------
    def _physics_loop(self):
        while not self._stop:
            now = self.clock.ms()
            for b in self.boards.values():
                b.step_physics(now)
            time.sleep(PHYSICS_MS / 1000.0)

    def set_person(self, fn):
        """fn(address, number, compartment) runs whenever a door swings open (on the physics thread;
        keep it short): a scripted person, e.g. put a parcel in and let auto-close shut the door."""
        for addr, b in self.boards.items():
            for i, c in enumerate(b.compartments):
                c.on_open = None if fn is None else (lambda comp, a=addr, n=i + 1: fn(a, n, comp))

    def set_auto_close(self, ms):
        """People close each door `ms` after it opened (None: doors stay open until told)."""
        for b in self.boards.values():
            for c in b.compartments:
                c.auto_close_ms = ms

    # -- acting on the locker (compartments numbered from 1, as on the wire) --------------------

    def type_code(self, address, keys):
        self.board(address).type_keys(keys)

    def scan(self, address, payload):
        self.board(address).scan(payload)

    def jam(self, address, number, on=True):
        self.compartment(address, number).jammed = on

    def dead_sensor(self, address, number, level=0):
        """Door switch stuck at `level` (0 reads closed, 1 open); None repairs it."""
        self.compartment(address, number).sensor_stuck = level

    def leave_open(self, address, number, on=True):
        self.compartment(address, number).left_open = on

    def power_cut(self, address=None, at_byte=None):
        for b in self._targets(address):
            b.power_off(at_byte)

    def power_on(self, address=None, wait=True):
        for b in self._targets(address):
            b.power_on()
        if wait:
            for b in self._targets(address):
                b.wait_ready(10)

    def reboot(self, address=None, wait=True):
        for b in self._targets(address):
            before = b.boots
            b.reboot()
            if wait:
                end = time.monotonic() + 10
                while b.boots == before and time.monotonic() < end:
                    time.sleep(0.01)
                b.wait_ready(10)

    def _targets(self, address):
        return list(self.boards.values()) if address is None else [self.board(address)]

    def total_pulses(self):
        return sum(c.pulses for b in self.boards.values() for c in b.compartments)

    def state(self):
        return {"url": self.url, "baud": self.baud, "paced": self.paced, "locker_id": self.locker_id,
                "noise": self.faults.describe(), "boards": [b.state() for b in self.boards.values()]}
