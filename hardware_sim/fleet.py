"""Simulated lockers in another process: a fleet host, and proxies that act like SimLocker.

The benchmarks measure what one link worker can drive; simulated boards running in the worker's own
process would compete with it for one interpreter lock, which real boards never do. So
server.demo.stack.Stack(sim_processes=N) starts N fleet hosts (`python -m hardware_sim.fleet`), each
running its share of the SimLockers on real pseudo-terminals (or TCP), and talks to them through
RemoteSimLocker: the same attributes the demo day and the benchmarks use on a SimLocker (doors,
parcels, keypad, scanner, line faults, codes and journal of a board), each a small call over a
local socket (multiprocessing.connection, with an authentication key).

The host reads its spec as one JSON line on stdin, prints one JSON line (control address, serial
URLs), serves calls until told to stop, and stops when its stdin closes (the parent is gone).
"""
import json
import os
import subprocess
import sys
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

from hardware_sim.locker import CompartmentAccess

COMP_READ = ("door_open", "coil", "retracted", "pulses", "occupied")
COMP_ACT = ("close", "put", "take", "force")
FAULTS = ("drop", "flip", "dup", "delay")


# -- the host (child process) ----------------------------------------------------------------------
class _Host:
    def __init__(self, lockers):
        self.lockers = lockers  # id -> SimLocker

    def call(self, lid, op, args):
        sim = self.lockers[lid]
        if op == "comp_get" and args[2] in COMP_READ:
            return getattr(sim.compartment(args[0], args[1]), args[2])
        if op == "comp_do" and args[2] in COMP_ACT:
            return getattr(sim.compartment(args[0], args[1]), args[2])()
        if op == "type_code":
            return sim.type_code(*args)
        if op == "scan":
            return sim.scan(*args)
        if op == "faults_set" and args[0] in FAULTS:
            return setattr(sim.faults, args[0], float(args[1]))
        app = sim.board(args[0]).app if op in ("has_app", "code_has", "code_digest", "unacked") else None
        if op == "has_app":
            return app is not None
        if op == "code_has":
            return app is not None and app.codes.has(args[1])
        if op == "code_digest":
            return app.codes.digest(args[1]) if app is not None else None
        if op == "unacked":
            return app.journal.unacked() if app is not None else 0
        raise ValueError("unknown fleet call %r" % (op,))


def _serve_conn(host, conn):
    with conn:
        while True:
            try:
                lid, op, args = conn.recv()
            except (EOFError, OSError):
                return
            try:
                conn.send(("ok", host.call(lid, op, args)))
            except Exception as exc:  # noqa: BLE001 - the caller gets the error, the host goes on
                conn.send(("error", "%s: %s" % (type(exc).__name__, exc)))


def host_main():
    from hardware_sim.locker import SimLocker
    spec = json.loads(sys.stdin.readline())
    authkey = bytes.fromhex(spec["authkey"])
    lockers = {}
    for lk in spec["lockers"]:
        keys = {int(a): bytes.fromhex(k) for a, k in lk.pop("keys").items()}
        lid = lk.pop("id")
        lockers[lid] = SimLocker(keys=keys, **lk)
        lockers[lid].start()
    host = _Host(lockers)
    listener = Listener(("127.0.0.1", 0), authkey=authkey)
    print(json.dumps({"port": listener.address[1], "urls": {str(k): v.url for k, v in lockers.items()}}), flush=True)

    def accept():
        while True:
            try:
                conn = listener.accept()
            except AuthenticationError:
                continue  # a caller without the key: ignored
            except OSError:
                return  # closed
            threading.Thread(target=_serve_conn, args=(host, conn), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # until the parent closes our stdin (stop, or it died)
    for sim in lockers.values():
        sim.stop()
    listener.close()


# -- the parent's side -----------------------------------------------------------------------------
class FleetProcess:
    """One fleet host process running some SimLockers; start() returns {locker id: RemoteSimLocker}."""

    def __init__(self, lockers):
        """lockers: [{"id": ..., "keys": {address: bytes}, **SimLocker options}] (plain values only)."""
        self.spec = lockers
        self.authkey = os.urandom(16)
        self.proc = None
        self._local = threading.local()

    def start(self):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "hardware_sim.fleet"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)
        lockers = [dict(lk, keys={str(a): k.hex() for a, k in lk["keys"].items()}) for lk in self.spec]
        self.proc.stdin.write(json.dumps({"authkey": self.authkey.hex(), "lockers": lockers}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError("simulated locker host exited with %s" % self.proc.returncode)
        out = json.loads(line)
        self.port = out["port"]
        return {lk["id"]: RemoteSimLocker(self, lk["id"], out["urls"][str(lk["id"])], lk) for lk in self.spec}

    def call(self, lid, op, *args):
        conn = getattr(self._local, "conn", None)
        if conn is None:  # one connection per calling thread: calls from threads never interleave
            conn = self._local.conn = Client(("127.0.0.1", self.port), authkey=self.authkey)
        conn.send((lid, op, args))
        status, value = conn.recv()
        if status != "ok":
            raise RuntimeError("simulated locker %s: %s" % (lid, value))
        return value

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class RemoteSimLocker(CompartmentAccess):
    """What the demo day and the benchmarks use of a SimLocker, on a locker in a fleet host."""

    def __init__(self, fleet, lid, url, spec):
        self.fleet, self.lid, self.url = fleet, lid, url
        self.faults = _RemoteFaults(self)
        self.boards = {b["address"]: _RemoteBoard(self, b["address"], b["compartments"])
                       for b in spec["board_specs"]}

    def _call(self, op, *args):
        return self.fleet.call(self.lid, op, *args)

    def type_code(self, address, keys):
        self._call("type_code", address, keys)

    def scan(self, address, payload):
        self._call("scan", address, payload)

    def stop(self):
        pass  # the fleet host stops all its lockers at once (FleetProcess.stop)


class _RemoteFaults:
    def __init__(self, sim):
        object.__setattr__(self, "_sim", sim)

    def __setattr__(self, name, value):
        self._sim._call("faults_set", name, value)


class _RemoteBoard:
    def __init__(self, sim, address, n):
        self.sim, self.address = sim, address
        self.compartments = [_RemoteCompartment(sim, address, k + 1) for k in range(n)]

    @property
    def app(self):
        return _RemoteApp(self.sim, self.address) if self.sim._call("has_app", self.address) else None


class _RemoteApp:
    def __init__(self, sim, address):
        self.codes = _RemoteCodes(sim, address)
        self.journal = _RemoteJournal(sim, address)


class _RemoteCodes:
    def __init__(self, sim, address):
        self.sim, self.address = sim, address

    def has(self, index):
        return self.sim._call("code_has", self.address, index)

    def digest(self, index):
        return self.sim._call("code_digest", self.address, index)


class _RemoteJournal:
    def __init__(self, sim, address):
        self.sim, self.address = sim, address

    def unacked(self):
        return self.sim._call("unacked", self.address)


class _RemoteCompartment:
    def __init__(self, sim, address, number):
        self.sim, self.address, self.number = sim, address, number

    def __getattr__(self, name):
        if name in COMP_READ:
            return self.sim._call("comp_get", self.address, self.number, name)
        if name in COMP_ACT:
            return lambda: self.sim._call("comp_do", self.address, self.number, name)
        raise AttributeError(name)


if __name__ == "__main__":
    host_main()
