"""Offline drop-off of sends over a real pty link with the simulated locker: a booked send's compartment
is reserved at booking and its drop-off code lands on the board as kind CODE_DROPOFF; with the link cut
the villager types it at the keypad, the board opens the door on its own and journals DROPOFF_OFFLINE;
when the link returns the send is dropped off, awaiting the carrier, exactly once. A code used online,
cancelled or expired is cleared from the board and refused at the keypad."""
import datetime
import time

import pytest
from sqlalchemy import select
from support.link_stack import (
    board_code,
    call,
    clear_code,
    code_installed,
    cut,
    deposit,
    duplicate_events,
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
from server import clock
from server.models import AccessCode, Compartment, LockerCommand, Notification, ParcelEvent
from server.models.link import LinkEvent
from server.services import overdue

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def stack(tmp_path):
    yield from online_stack(tmp_path / "stack", wait_s=2)


def _book(st, size="S", villager=0, carrier=0):
    status, out = call("POST", st.url + "/api/v1/sends", st.tokens["operator"],
                       {"account_id": st.accounts[villager]["id"], "locker_id": st.locker_ids[0],
                        "carrier_id": st.carrier_ids[carrier], "size": size})
    assert status == 201, out
    return out["parcel"]["id"], out["dropoff_code"]


def _dropoff_row(db, pid):
    with db.reading() as s:
        return s.scalars(select(AccessCode).where(AccessCode.parcel_id == pid, AccessCode.purpose == "dropoff")
                         .order_by(AccessCode.id.desc())).first()


def _holds_dropoff_code(st, sim, pid):
    """The board holds the send's drop-off code in the reserved compartment, as kind 2 (CODE_DROPOFF)."""
    row = _dropoff_row(st.db, pid)
    addr, number = where(st.db, pid)
    app = sim.board(addr).app
    return (row.state == "live" and board_code(sim, addr, number) == bytes(row.code_hash)
            and app.codes.kind(number - 1) == m.CODE_DROPOFF)


def _transitions(db, pid):
    with db.reading() as s:
        return [(e.to_state, e.action) for e in s.scalars(select(ParcelEvent).where(ParcelEvent.parcel_id == pid)
                                                           .order_by(ParcelEvent.id))]


def _notes(db, pid, kind):
    with db.reading() as s:
        return len(s.scalars(select(Notification).where(Notification.parcel_id == pid,
                                                        Notification.kind == kind)).all())


def _type_and_read(sim, addr, keys):
    """Type at the keypad and return the board's answer: what its voice module said and what its screen
    showed then (rows joined, layout padding dropped), both decoded from the simulated devices."""
    board = sim.board(addr)
    before = len(board.spoken)
    sim.type_code(addr, keys)
    wait_for(lambda: len(board.spoken) > before, what="the board's spoken answer")
    return board.spoken[before], "".join(board.screen().split())


def _answer(key, *args):
    return prompts.spoken(key, args), prompts.screen(key, args)


def _courier_of(st, carrier=0):
    return next(c for c in st.tokens["couriers"] if c["carrier_id"] == st.carrier_ids[carrier])


def test_offline_dropoff_with_the_link_cut_is_reconciled_once_and_collected(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    pid, code = _book(stack)
    addr, number = where(stack.db, pid)
    with stack.db.reading() as s:
        assert s.get(Compartment, _dropoff_row(stack.db, pid).compartment_id).state == "reserved"
    assert parcel_state(stack.db, pid) == "booked"
    wait_for(lambda: _holds_dropoff_code(stack, sim, pid), what="drop-off code installed as kind 2")

    cut(sim)  # the village's 4G drops
    assert _type_and_read(sim, addr, code + "#") == _answer(K.OPEN_DROPOFF, addr, number)
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the drop-off code")
    put_and_close(sim, addr, number)
    time.sleep(0.3)
    assert parcel_state(stack.db, pid) == "booked"  # the server cannot know yet
    assert not sim.board(addr).app.codes.has(number - 1)  # used up on the board at once
    reinstalled = _watch_code(sim, addr, number)
    cut(sim, False)

    wait_for(lambda: parcel_state(stack.db, pid) == "awaiting_collection", what="offline drop-off reconciled")
    time.sleep(0.5)
    # the link read the board's journal before re-syncing its codes: the used code never came back
    assert reinstalled() == 0
    assert _transitions(stack.db, pid) == [("booked", "send_booked"), ("reserved", "offline_dropoff"),
                                           ("awaiting_collection", "dropoff_confirmed")]
    assert _dropoff_row(stack.db, pid).state == "used"
    assert _notes(stack.db, pid, "dropoff_received") == 1
    assert events_of(stack.db, m.EV_DROPOFF_OFFLINE) == 1 and events_of(stack.db, m.EV_PICKUP_OFFLINE) == 0
    assert duplicate_events(stack.db) == []
    assert pulses(sim, addr, number) == 1
    with stack.db.reading() as s:
        assert s.get(Compartment, _dropoff_row(stack.db, pid).compartment_id).state == "occupied"

    # The same code typed again: the board has nothing for it, and nothing changes.
    assert _type_and_read(sim, addr, code + "#") == _answer(K.WRONG_CODE)
    time.sleep(0.5)
    assert pulses(sim, addr, number) == 1 and parcel_state(stack.db, pid) == "awaiting_collection"

    # The carrier's courier collects it.
    courier = _courier_of(stack)
    status, out = call("POST", stack.url + "/api/v1/parcels/%d/collect" % pid, courier["token"])
    assert status == 200, out
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened for the courier")
    take_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "collected", what="send collected")
    assert pulses(sim, addr, number) == 2


def test_a_code_used_online_is_cleared_from_the_board_and_refused_at_the_keypad(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    pid, code = _book(stack)
    addr, number = where(stack.db, pid)
    wait_for(lambda: _holds_dropoff_code(stack, sim, pid), what="drop-off code installed")
    # A kiosk asks the server (link up): the code is used, the board is told to clear it, the door opens.
    status, out = call("POST", stack.url + "/api/v1/lockers/%d/codes/verify" % lid, stack.tokens["lockers"][lid],
                       {"code": code, "source": "kiosk"})
    assert status == 200 and out["action"] == "dropoff", out
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the server")
    put_and_close(sim, addr, number)
    wait_for(lambda: parcel_state(stack.db, pid) == "awaiting_collection", what="online drop-off confirmed")
    wait_for(lambda: not sim.board(addr).app.codes.has(number - 1), what="code cleared on the board")
    assert _type_and_read(sim, addr, code + "#") == _answer(K.WRONG_CODE)
    time.sleep(0.5)
    assert pulses(sim, addr, number) == 1
    assert events_of(stack.db, m.EV_DROPOFF_OFFLINE) == 0
    assert [t for t in _transitions(stack.db, pid) if t[0] == "awaiting_collection"] == [
        ("awaiting_collection", "dropoff_confirmed")]


def test_code_used_online_while_the_board_is_cut_off_and_then_offline_is_counted_once(stack):
    """The kiosk reached the server, but the server's link to the board is down: the board never heard
    the code was used and opens the door for it by itself. Reconciled: one drop-off, one opening, and
    the server's own door opening, still waiting for the link, is not done on top."""
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    pid, code = _book(stack)
    addr, number = where(stack.db, pid)
    wait_for(lambda: _holds_dropoff_code(stack, sim, pid), what="drop-off code installed")
    cut(sim)
    status, out = call("POST", stack.url + "/api/v1/lockers/%d/codes/verify" % lid, stack.tokens["lockers"][lid],
                       {"code": code, "source": "kiosk"})
    assert status == 200 and out["command"]["state"] in ("queued", "sent"), out  # the door cannot be reached
    assert parcel_state(stack.db, pid) == "reserved"
    assert _type_and_read(sim, addr, code + "#") == _answer(K.OPEN_DROPOFF, addr, number)  # still held
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened offline")
    put_and_close(sim, addr, number)
    cut(sim, False)

    wait_for(lambda: parcel_state(stack.db, pid) == "awaiting_collection", what="drop-off reconciled")
    wait_for(lambda: _command(stack.db, out["command"]["id"]).state == "failed", what="server's open superseded")
    assert _command(stack.db, out["command"]["id"]).result == "superseded:offline_dropoff"
    time.sleep(1.0)  # several passes of the link: nothing more happens
    assert pulses(sim, addr, number) == 1 and not sim.compartment(addr, number).door_open
    assert parcel_state(stack.db, pid) == "awaiting_collection"
    assert [t for t in _transitions(stack.db, pid) if t[0] == "awaiting_collection"] == [
        ("awaiting_collection", "dropoff_confirmed")]
    assert _notes(stack.db, pid, "dropoff_received") == 1
    with stack.db.reading() as s:
        ev = s.scalars(select(LinkEvent).where(LinkEvent.kind == m.EV_DROPOFF_OFFLINE)).one()
        assert ev.outcome["outcome"] == "already_reconciled"
    assert not sim.board(addr).app.codes.has(number - 1)


def _command(db, cid):
    with db.reading() as s:
        return s.get(LockerCommand, cid)


def test_cancelled_and_expired_sends_are_cleared_from_the_board_and_refused(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    cancelled, cancelled_code = _book(stack, "S")
    expired, expired_code = _book(stack, "M", villager=1)
    for pid in (cancelled, expired):
        wait_for(lambda pid=pid: _holds_dropoff_code(stack, sim, pid), what="drop-off code installed")

    status, out = call("POST", stack.url + "/api/v1/sends/%d/cancel" % cancelled, stack.tokens["operator"])
    assert status == 200 and out["parcel"]["state"] == "cancelled", out
    overdue.flag_overdue(stack.db, now=clock.utcnow() + datetime.timedelta(hours=73))
    assert parcel_state(stack.db, expired) == "cancelled"

    for pid, code, state in ((cancelled, cancelled_code, "revoked"), (expired, expired_code, "expired")):
        addr, number = where(stack.db, pid)
        wait_for(lambda addr=addr, number=number: not sim.board(addr).app.codes.has(number - 1),
                 what="code of send %d cleared on the board" % pid)
        assert _dropoff_row(stack.db, pid).state == state
        assert _type_and_read(sim, addr, code + "#") == _answer(K.WRONG_CODE)
        assert pulses(sim, addr, number) == 0
        with stack.db.reading() as s:
            assert s.get(Compartment, _dropoff_row(stack.db, pid).compartment_id).state == "free"
    assert _notes(stack.db, cancelled, "send_cancelled") == 1 and _notes(stack.db, expired, "send_expired") == 1
    # and a cancelled send's code is no good online either
    status, out = call("POST", stack.url + "/api/v1/lockers/%d/codes/verify" % lid, stack.tokens["lockers"][lid],
                       {"code": cancelled_code, "source": "kiosk"})
    assert status == 403 and out["error"]["code"] == "wrong_code", out


def test_pickup_codes_still_go_to_the_board_as_kind_1_beside_a_dropoff_code(stack):
    lid = stack.locker_ids[0]
    sim = stack.sims[lid]
    send, _code = _book(stack, "S")
    status, out = deposit(stack, lid, "SF7000001", stack.accounts[1]["phone"], size="S")
    assert status == 201 and out["command"]["state"] == "done", out
    pid = out["parcel"]["id"]
    addr, number = where(stack.db, pid)
    assert (addr, number) != where(stack.db, send)  # the send's compartment is not given to a deposit
    put_and_close(sim, addr, number)
    wait_for(lambda: code_installed(stack.db, sim, pid), what="pickup code installed")
    assert sim.board(addr).app.codes.kind(number - 1) == m.CODE_PICKUP
    cut(sim)
    assert _type_and_read(sim, addr, clear_code(stack.db, pid) + "#") == _answer(K.OPEN_PICKUP, addr, number)
    wait_for(lambda: sim.compartment(addr, number).door_open, what="door opened by the pickup code")
    take_and_close(sim, addr, number)
    cut(sim, False)
    wait_for(lambda: parcel_state(stack.db, pid) == "picked_up", what="offline pickup reconciled")
    assert events_of(stack.db, m.EV_PICKUP_OFFLINE) == 1 and events_of(stack.db, m.EV_DROPOFF_OFFLINE) == 0
    assert parcel_state(stack.db, send) == "booked" and _holds_dropoff_code(stack, sim, send)


def _watch_code(sim, addr, number):
    """Sample, every few ms until asked, whether the board holds a code for the compartment; returns
    a function that stops the sampling and says how many samples saw one."""
    import threading
    seen, stop = [0], threading.Event()

    def run():
        while not stop.is_set():
            if sim.board(addr).app.codes.has(number - 1):
                seen[0] += 1
            time.sleep(0.003)
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def result():
        stop.set()
        t.join(5)
        return seen[0]
    return result
