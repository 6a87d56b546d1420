# The bus and its transports: several boards on one line, TCP, pacing at a real baud rate, noise.
import time

from _sim_helpers import open_, start, stop, wait_for

from hardware_sim.line import LineFaults
from protocol import messages as m
from protocol import timing


def test_several_boards_share_one_paced_tcp_bus():
    locker, host = start(transport="tcp", baud=9600, paced=True, boards=3, compartments=4)
    try:
        assert locker.url.startswith("socket://127.0.0.1:")
        for addr in (1, 2, 3):
            assert host.call(addr, m.HELLO).fields["compartments"] == 4
        t0 = time.monotonic()
        r = host.call(2, m.STATUS)
        took = time.monotonic() - t0
        wire = len(host.last_wire) + host.last_rx  # request and reply bytes
        assert took >= timing.wire_time_s(wire, 9600)  # paced like the wire, never faster
        assert r.ok
        assert open_(host, 3, 2)["result"] == m.OPEN_OPENED
        assert [locker.compartment(a, 2).pulses for a in (1, 2, 3)] == [0, 0, 1]
    finally:
        stop(locker, host)


def test_line_noise_every_open_completes_and_no_lock_pulses_twice():
    # 0.5% of bytes hit (each OPEN exchange has ~25% odds of a damaged frame); the link issue runs 1%
    locker, host = start(transport="pty", baud=115200, compartments=8, faults=LineFaults(seed=3))
    locker.set_noise(0.005)
    try:
        opened = 0
        for i in range(8):
            comp = i + 1
            r = host.call(1, m.OPEN, {"compartment": comp, "reason": 1, "reference": 100 + i})
            if r.ok:
                assert r.fields["result"] in (m.OPEN_OPENED, m.OPEN_REFUSED), r
                opened += r.fields["result"] == m.OPEN_OPENED
            # a NAK or a timeout leaves the outcome to the journal, as the link reads it below
        assert opened >= 5
        assert sum(locker.faults.counts.values()) > 0
        locker.set_noise(0)
        results = [e for e in host.events(1) if e["kind"] == m.EV_OPEN_RESULT]
        refs = [int.from_bytes(e["data"][2:6], "big") for e in results if e["data"][0] == m.OPEN_OPENED]
        assert len(refs) == len(set(refs)), "one command pulsed twice"
        assert locker.total_pulses() == len(refs)
    finally:
        stop(locker, host)


def test_a_scripted_person_deposits_and_the_door_closed_event_says_occupied():
    locker, host = start(compartments=3, auto_close_ms=700)
    locker.set_person(lambda addr, n, comp: comp.put())
    try:
        assert open_(host, 1, 2, reason=m.REASON_DEPOSIT)["result"] == m.OPEN_OPENED

        def closed():
            return [e for e in host.events(1) if e["kind"] == m.EV_DOOR_CLOSED and e["compartment"] == 2]

        ev = wait_for(closed, what="door closed")
        assert ev[0]["data"] == bytes((1,))  # occupied
        assert host.call(1, m.STATUS).fields["compartments"][1] & m.ST_OCCUPIED
    finally:
        stop(locker, host)
