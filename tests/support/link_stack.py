"""Shared helpers for the locker link tests (test_link_*.py): a whole Stack, HTTP calls, waiting."""
import re
import time

from sqlalchemy import func, select

from server.demo.day import call as demo_call
from server.demo.day import human_close
from server.models import AccessCode, Compartment, LockerCommand, Notification, Parcel
from server.models.link import LinkEvent


def call(method, url, token=None, body=None, timeout=30):
    """One JSON request, as `cunbox demo` makes them (a shorter timeout suits tests)."""
    return demo_call(method, url, token=token, body=body, timeout=timeout)


def wait_for(fn, timeout=15.0, step=0.02, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(step)


def online_stack(root, transport="pty", wait_s=8, **kw):
    """For a pytest fixture (`yield from online_stack(...)`): a started one-locker Stack, two boards of
    four compartments polled every 0.2 s, once every board is online; stopped afterwards."""
    from server.demo.stack import Stack
    from server.services import link_state
    opts = dict(lockers=1, boards=2, per_board=4, transport=transport, status_period_s=0.2, wait_s=wait_s)
    opts.update(kw)
    st = Stack(root=str(root), **opts)
    st.start()
    try:
        wait_for(lambda: all(b["online"] for b in link_state.board_status(st.db, st.locker_ids[0])),
                 what="boards online")
        yield st
    finally:
        st.stop()


def deposit(stack, locker_id, tracking, phone, size="S", courier=0):
    c = stack.tokens["couriers"][courier]
    return call("POST", stack.url + "/api/v1/deposits", c["token"],
                {"locker_id": locker_id, "tracking_number": tracking, "recipient_phone": phone, "size": size})


def parcel(db, parcel_id):
    with db.reading() as s:
        return s.get(Parcel, parcel_id)


def parcel_state(db, parcel_id):
    return parcel(db, parcel_id).state


def where(db, parcel_id):
    """(board address, compartment number) of the parcel's compartment."""
    with db.reading() as s:
        p = s.get(Parcel, parcel_id)
        comp = s.get(Compartment, p.active_compartment_id or p.compartment_id)
        return comp.board.address, comp.index


def clear_code(db, parcel_id):
    """The code as the villager reads it in the SMS (the outbox is the only place it exists)."""
    with db.reading() as s:
        note = s.scalars(select(Notification).where(Notification.parcel_id == parcel_id,
                                                    Notification.kind == "pickup_code")
                         .order_by(Notification.id.desc())).first()
        return re.search(r"取件码(\d{8})", note.body).group(1)


def live_code_row(db, parcel_id):
    with db.reading() as s:
        return s.scalars(select(AccessCode).where(AccessCode.parcel_id == parcel_id, AccessCode.state == "live",
                                                  AccessCode.purpose == "pickup")).first()


def board_code(sim, address, number):
    """The code hash the simulated board holds for a compartment, or None."""
    app = sim.board(address).app
    if app is None or not app.codes.has(number - 1):
        return None
    return app.codes.digest(number - 1)


def code_installed(db, sim, parcel_id):
    row = live_code_row(db, parcel_id)
    if row is None:
        return False
    addr, number = where(db, parcel_id)
    return board_code(sim, addr, number) == bytes(row.code_hash)


def pulses(sim, address, number):
    return sim.compartment(address, number).pulses


def events_of(db, kind=None):
    with db.reading() as s:
        q = select(func.count(LinkEvent.id))
        if kind is not None:
            q = q.where(LinkEvent.kind == kind)
        return s.scalar(q)


def duplicate_events(db):
    with db.reading() as s:
        return s.execute(select(LinkEvent.board_id, LinkEvent.seq, func.count()).group_by(
            LinkEvent.board_id, LinkEvent.seq).having(func.count() > 1)).all()


def commands(db, state=None):
    with db.reading() as s:
        q = select(LockerCommand)
        if state:
            q = q.where(LockerCommand.state == state)
        return s.scalars(q.order_by(LockerCommand.id)).all()


def put_and_close(sim, address, number):
    human_close(sim, address, number, put=True)


def take_and_close(sim, address, number):
    human_close(sim, address, number, take=True)


def cut(sim, on=True):
    """Cut (or mend) the wire between the link and the locker: every byte is lost."""
    sim.faults.drop = 1.0 if on else 0.0
