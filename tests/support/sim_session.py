# Shared by the simulator end-to-end tests: start a locker, talk to it over a real pty or TCP link.
import re
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


def flat(screen):
    """A screen's text without its row breaks and layout padding (no prompt has spaces of its own)."""
    return "".join(screen.split())


def answer(board, act, timeout=5.0):
    """Do act() (type, scan), then return what the board answered: (what its voice module said, its
    screen then, flattened). The voice speaks every answer, even one the screen already shows."""
    before = len(board.spoken)
    act()
    wait_for(lambda: len(board.spoken) > before, timeout, "the board's spoken answer")
    return board.spoken[before], flat(board.screen())


def is_prompt(key, text, spoken=True):
    """text is prompt `key` (spoken, or as the screen shows it) with some numbers as its parameters."""
    from firmware import prompts

    model = (prompts.spoken if spoken else prompts.screen)(key, (9999999, 9999999))
    return re.fullmatch(re.escape(model).replace("9999999", r"\d+"), text) is not None
