# Shared by the simulator end-to-end tests: start a locker, talk to it over a real pty or TCP link.
import time

from hardware_sim.hostclient import HostClient
from hardware_sim.locker import SimLocker
from protocol import messages as m
from protocol.auth import code_hash


def start(transport="pty", baud=115200, **kw):
    locker = SimLocker(transport=transport, baud=baud, **kw)
    url = locker.start()
    host = HostClient(url, baud, locker.keys)
    return locker, host


def wait_for(pred, timeout=5.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def open_(host, addr, comp, reason=m.REASON_PICKUP, reference=1):
    r = host.call(addr, m.OPEN, {"compartment": comp, "reason": reason, "reference": reference})
    assert r.ok, r
    return r.fields


def set_code(host, addr, comp, code, salt=b"salt0001", expiry=0, kind=m.CODE_PICKUP):
    r = host.call(addr, m.SET_CODE, {"compartment": comp, "kind": kind, "salt": salt,
                                     "code_hash": code_hash(salt, code), "expiry": expiry})
    assert r.ok, r


def kinds(events):
    return [e["kind"] for e in events]


def stop(locker, host):
    """Shut down, then check no board's loop ever raised (a firmware bug would be hidden otherwise)."""
    host.close()
    crashed = [(b.address, b.server.session.last_exception) for b in locker.boards.values()
               if b.server is not None and b.server.session.last_exception is not None]
    locker.stop()
    assert not crashed, "a command handler raised: %r" % (crashed,)
    for b in locker.boards.values():
        assert not b.errors, "board %d loop raised:\n%s" % (b.address, b.errors[0])
