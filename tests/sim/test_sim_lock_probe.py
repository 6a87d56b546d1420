# Commissioning on the board itself, through the simulator over a real link: LOCK_PROBE finds the
# lock boards' hidden settings, the lock.* settings are taken only when the bus answers them.
import time

from support.sim_session import stop, wait_for

from hardware_sim.hostclient import HostClient
from hardware_sim.locker import SimLocker
from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_BUSY

BAUD = 115200


def _start(hidden, **kw):
    locker = SimLocker(transport="tcp", baud=BAUD, **kw)
    locker.board(1).lockboard_options = hidden  # what the cabinet's lock boards are really set to
    url = locker.start()
    return locker, HostClient(url, BAUD, locker.keys)


def _probe(host, mode=m.PROBE_SCAN, dialect=m.DIALECT_ANY, baud=0, boards=(), lock=0, timeout=60):
    r = host.call(1, m.LOCK_PROBE, {"mode": mode, "dialect": dialect, "baud": baud, "boards": list(boards),
                                    "lock": lock, "budget_s": 120})
    assert r.ok, r
    return _finished(host, timeout)


def _finished(host, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = host.call(1, m.LOCK_PROBE_STATUS).fields
        if st["state"] != m.PROBE_RUNNING:
            return st
        time.sleep(0.05)
    raise AssertionError("probe did not finish")


def _items(**kv):
    return [{"key": "lock." + k, "value": str(v)} for k, v in kv.items()]


def test_kerong_boards_2_and_3_at_38400_found_and_a_wrong_profile_refused():
    locker, host = _start({"boards": [2, 3], "baud": 38400, "polarity": "hook_1_is_open"},
                          compartments=32, lock_type="kerong")
    try:
        hello = host.call(1, m.HELLO).fields
        assert hello["capabilities"] & m.CAP_LOCK_PROBE
        r = host.call(1, m.LOCK_PROBE, {"mode": m.PROBE_SCAN, "dialect": m.DIALECT_ANY, "baud": 0, "boards": [],
                                        "lock": 0, "budget_s": 120})
        assert r.ok and r.fields["state"] == m.PROBE_RUNNING
        # the lock driver is paused: a door open is refused as out of service, no pulse
        o = host.call(1, m.OPEN, {"compartment": 1, "reason": m.REASON_OPERATOR, "reference": 1}).fields
        assert (o["result"], o["detail"]) == (m.OPEN_REFUSED, m.REFUSE_OUT_OF_SERVICE)
        again = host.call(1, m.LOCK_PROBE, {"mode": m.PROBE_SCAN, "dialect": 0, "baud": 0, "boards": [],
                                            "lock": 0, "budget_s": 0})
        assert again.nak_code == NAK_BUSY
        st = _finished(host)
        assert (st["state"], st["dialect"], st["baud"], st["boards"], st["per_board"]) == (
            m.PROBE_DONE, m.DIALECT_KERONG, 38400, [2, 3], 16)
        assert locker.total_pulses() == 0
        # a profile the bus has not answered: the board checks it first (BUSY), then refuses it
        wrong = _items(type="kerong", baud=19200, boards="0,1", per_board=16, polarity="hook_1_is_locked")
        r = host.call(1, m.CONFIG_SET, {"items": wrong})
        assert r.nak_code == NAK_BUSY, r
        st = _finished(host)
        assert (st["mode"], st["dialect"], st["baud"], st["queried"], st["boards"]) == (
            m.PROBE_CHECK, m.DIALECT_KERONG, 19200, [0, 1], [])
        r = host.call(1, m.CONFIG_SET, {"items": wrong})
        assert (r.nak_code, r.nak_detail) == (NAK_BAD_PAYLOAD, 2)  # item 2: lock.boards
        prof = host.call(1, m.CONFIG_GET, {"keys": ["lock_profile"]}).fields["items"][0]["value"]
        assert prof.startswith("kerong/19200/")  # nothing changed: the factory default it boots with
        # the polarity check's raw reading: lock 1 of board 2 latched, hook bit 0 with hook_1_is_open
        st = _probe(host, m.PROBE_READ, m.DIALECT_KERONG, 38400, [2], 1)
        assert (st["feedback"], st["raw"]) == (0, bytes(4))
    finally:
        stop(locker, host)


def test_8a_board_with_12_channels_commissioned_with_its_polarity():
    # an 8A query waits 1.5 s for its reply: the board's clock runs 8 times as fast here
    locker, host = _start({"polarity": "short_when_locked"}, compartments=12, lock_type="8a",
                          board_specs=[{"address": 1, "x8a_per_board": 12}], clock_scale=8.0)
    try:
        st = _probe(host)
        assert (st["state"], st["dialect"], st["baud"], st["boards"], st["per_board"], st["flags"]) == (
            m.PROBE_DONE, m.DIALECT_8A, 9600, [1], 12, 0)
        r = host.call(1, m.CONFIG_SET, {"items": _items(type="8a", baud=9600, boards="1", per_board=12,
                                                        polarity="short_when_open", ir=0)})
        assert r.ok and r.fields["applied"] == 6, r
        prof = host.call(1, m.CONFIG_GET, {"keys": ["lock_profile"]}).fields["items"][0]["value"]
        assert prof == "8a/9600/1/12/short_when_open"
        # the polarity check: door 1 opened through the normal path, read raw open and shut
        o = host.call(1, m.OPEN, {"compartment": 1, "reason": m.REASON_MAINTENANCE, "reference": 2}).fields
        assert o["result"] == m.OPEN_OPENED
        door = locker.compartment(1, 1)
        wait_for(lambda: door.door_open and not door.coil, what="door open, pulse over")
        opened = _probe(host, m.PROBE_READ, m.DIALECT_8A, 9600, [1], 1)["feedback"]
        locker.close_door(1, 1)
        wait_for(lambda: not door.hook_released(), what="latch shut")
        shut = _probe(host, m.PROBE_READ, m.DIALECT_8A, 9600, [1], 1)["feedback"]
        assert (opened, shut) == (0x00, 0x11)  # 00 = opened: SHORT_WHEN_LOCKED
        assert locker.compartment(1, 1).pulses == 1
    finally:
        stop(locker, host)
