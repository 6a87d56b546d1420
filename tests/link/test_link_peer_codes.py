"""A code works at every keypad of its locker (real pty link, two simulated boards): the link gives each
board the other board's live codes (SET_PEER_CODE); a code typed at the keypad of the board that does
not hold the door is right there (never counted as wrong), the board journals PEER_CODE and the server
opens the door on the other board, once. With the link down the keypad sends the person to the right
door's own keypad and nothing opens later. A used code is forgotten by every board."""
import time

import pytest
from support.link_stack import (
    call,
    clear_code,
    cut,
    deposit,
    events_of,
    online_stack,
    parcel_state,
    pulses,
    put_and_close,
    take_and_close,
    wait_for,
    where,
)

from firmware import prompt_keys as K
from firmware import prompts
from protocol import messages as m
from server.models.link import LinkEvent

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def stack(tmp_path):
    yield from online_stack(tmp_path / "stack", wait_s=2)


def _said(sim, addr, keys):
    """Type at the keypad; the board's answer: what its voice module said and its screen then (rows
    joined, layout padding dropped), decoded from the simulated devices."""
    board = sim.board(addr)
    before = len(board.spoken)
    sim.type_code(addr, keys)
    wait_for(lambda: len(board.spoken) > before, what="the board's spoken answer")
    return board.spoken[before], "".join(board.screen().split())


def _answer(key, *args):
    return prompts.spoken(key, args), prompts.screen(key, args)


def _peer_holds(sim, at, addr, number, code):
    p = sim.board(at).app.peers.match(code.encode(), 0)
    return p is not None and p[:2] == (addr, number)


def _peer_outcome(db):
    with db.reading() as s:
        row = s.query(LinkEvent).filter(LinkEvent.kind == m.EV_PEER_CODE).one_or_none()
        return row.outcome["outcome"] if row is not None and row.processed_at is not None else None


def _doors_pulsed(sim, n_boards=2, per_board=4):
    return {(a, n): pulses(sim, a, n) for a in range(1, n_boards + 1) for n in range(1, per_board + 1)
            if pulses(sim, a, n)}


def test_a_pickup_code_opens_its_door_from_the_other_boards_keypad(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    status, out = deposit(stack, lid, "SF3000001", "13800000001")
    assert status == 201, out
    pid = out["parcel"]["id"]
    addr, number = where(stack.db, pid)
    other = 2 if addr == 1 else 1
    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "in_locker", what="deposit confirmed")
    code = clear_code(stack.db, pid)
    wait_for(lambda: _peer_holds(sim, other, addr, number, code), what="the other board holds the peer code")

    assert _said(sim, other, code + "#") == _answer(K.PEER_OPENING, addr, number)
    wait_for(lambda: sim.compartment(addr, number).door_open, what="the door opened on its own board")
    assert sim.board(other).app.throttle.fails == 0
    take_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="pickup done")
    # one pulse, on the right door, none on the board where the code was typed
    assert _doors_pulsed(sim) == {(addr, number): 2}  # the deposit's and the pickup's
    assert events_of(stack.db, m.EV_PEER_CODE) == 1 and _peer_outcome(stack.db) == "peer_opened"
    # used: forgotten by the other board too, and now a wrong code there
    wait_for(lambda: not _peer_holds(sim, other, addr, number, code), what="the used code forgotten")
    assert _said(sim, other, code + "#") == _answer(K.WRONG_CODE)


def test_with_the_link_down_the_keypad_names_the_right_door_and_nothing_opens_later(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    status, out = call("POST", stack.url + "/api/v1/sends", stack.tokens["operator"],
                       {"account_id": stack.accounts[0]["id"], "locker_id": lid,
                        "carrier_id": stack.carrier_ids[0], "size": "S"})
    assert status == 201, out
    pid, code = out["parcel"]["id"], out["dropoff_code"]
    addr, number = where(stack.db, pid)
    other = 2 if addr == 1 else 1
    wait_for(lambda: _peer_holds(sim, other, addr, number, code), what="the other board holds the drop-off code")

    cut(sim)
    time.sleep(sim.board(other).app.link_fresh_ms / 1000 + 0.2)  # the board stops counting on the link
    assert _said(sim, other, code + "#") == _answer(K.PEER_USE_KEYPAD, addr, number)
    assert sim.board(other).app.throttle.fails == 0
    cut(sim, False)
    time.sleep(1.5)  # the link is back and reads the journal: nothing was journaled, nothing opens
    assert _doors_pulsed(sim) == {}
    assert parcel_state(stack.db, pid) == "booked"
    # at the right door's own keypad the same code works (offline check on that board)
    assert _said(sim, addr, code + "#") == _answer(K.OPEN_DROPOFF, addr, number)
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the drop-off code")
    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "awaiting_collection", what="drop-off done")
    assert _doors_pulsed(sim) == {(addr, number): 1}


def test_a_peer_code_read_late_opens_nothing(stack):
    """A PEER_CODE journaled just before the link dropped and read a minute later (the server's clock
    moved on while the board was cut off) is recorded and opens nothing: the person has gone. The code
    stays live."""
    import datetime

    import time_machine

    from server import clock
    from server.services import link_events
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    status, out = deposit(stack, lid, "SF3000002", "13800000001")
    assert status == 201, out
    pid = out["parcel"]["id"]
    addr, number = where(stack.db, pid)
    other = 2 if addr == 1 else 1
    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "in_locker", what="deposit confirmed")
    code = clear_code(stack.db, pid)
    wait_for(lambda: _peer_holds(sim, other, addr, number, code), what="peer code held")
    before = pulses(sim, addr, number)
    cut(sim)
    # the board heard the host a moment ago, so it journals PEER_CODE, which the link cannot read yet
    assert _said(sim, other, code + "#") == _answer(K.PEER_OPENING, addr, number)
    later = clock.utcnow() + datetime.timedelta(seconds=link_events.PEER_CODE_FRESH_S + 40)
    with time_machine.travel(later.replace(tzinfo=datetime.timezone.utc), tick=True):
        cut(sim, False)
        wait_for(lambda: events_of(stack.db, m.EV_PEER_CODE) == 1, what="PEER_CODE stored")

        wait_for(lambda: _peer_outcome(stack.db), what="PEER_CODE applied")
        assert _peer_outcome(stack.db) == "peer_code_stale"
        time.sleep(1.0)
        assert pulses(sim, addr, number) == before and not sim.compartment(addr, number).door_open
        assert parcel_state(stack.db, pid) == "in_locker"
