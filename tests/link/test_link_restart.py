"""A link (server) restart with commands in the queue: queued ones run exactly once after the restart;
one a dead worker had already put on the wire, and that the board executed, is resolved from the
board's journal (OPEN_RESULT carries the command id) and never pulsed again. Also: keys are sealed at
rest, boards get the server's time, and on a shared database a dead worker's lockers are taken over
by another worker within the lease time."""
import os
import time

import pytest
from sqlalchemy import select
from support.link_stack import code_installed, deposit, parcel_state, pulses, put_and_close, wait_for, where

from hardware_sim.hostclient import HostClient
from protocol import messages as m
from server import clock
from server.db import Database
from server.demo.stack import Stack
from server.link.bus import Options
from server.link.keys import Sealer, SealError
from server.link.worker import LinkWorker
from server.models.link import LinkBoard, LinkLease
from server.services import link_commands, link_state

pytestmark = pytest.mark.timeout(150)


def _stack(tmp_path, **kw):
    opts = dict(root=str(tmp_path / "stack"), lockers=1, boards=2, per_board=4, transport="pty",
                status_period_s=0.2, wait_s=2)
    opts.update(kw)
    return Stack(**opts)


def _online(db, locker_id, n=2):
    return sum(b["online"] for b in link_state.board_status(db, locker_id)) == n


def test_restart_with_queued_and_half_done_commands(tmp_path):
    with _stack(tmp_path) as st:
        lid = st.locker_ids[0]
        sim = st.sims[lid]
        wait_for(lambda: _online(st.db, lid), what="boards online")
        st.stop_linker()  # the server goes down
        # 1. a command a dying worker claimed and put on the wire, and that the board executed
        status, out = deposit(st, lid, "SF5000002", "13800000002")
        assert status == 201 and out["command"]["state"] == "queued", out  # answers with a status resource
        half_pid, half_cmd = out["parcel"]["id"], out["command"]["id"]
        with st.db.transaction() as s:
            lease = s.get(LinkLease, lid)
            lease.owner, lease.expires_at = "dead-worker", clock.utcnow().replace(year=2100)
        claimed = link_commands.claim_next(st.db, lid, "dead-worker")
        assert claimed["id"] == half_cmd and claimed["state"] == "sent"
        # 2. a deposit while the link is down stays queued
        status, out = deposit(st, lid, "SF5000001", "13800000001")
        assert status == 201 and out["command"]["state"] == "queued", out
        queued_pid = out["parcel"]["id"]
        addr, number = where(st.db, half_pid)
        with st.db.reading() as s:
            board_id = claimed["board_id"]
            mark = s.get(LinkBoard, board_id).counter
        client = HostClient(sim.url, st.baud, keys={addr: sim.keys[addr]}, counters={addr: mark})
        r = client.call(addr, m.OPEN, {"compartment": number, "reason": m.REASON_DEPOSIT, "reference": half_cmd})
        client.close()
        assert r.ok and r.fields["result"] == m.OPEN_OPENED  # the reply dies with the worker
        with st.db.transaction() as s:
            s.get(LinkLease, lid).expires_at = clock.utcnow().replace(year=2000)  # its lease runs out
        assert pulses(sim, addr, number) == 1

        # the server comes back, with nothing in memory from before: a fresh Database and worker
        db2 = Database(st.db_url, settings=dict(st.db.settings))
        worker = LinkWorker(db2, sealer=st.sealer, options=Options(baud=st.baud, status_period_s=0.2)).start()
        try:
            wait_for(lambda: link_commands.state_of(db2, half_cmd) == ("done", "opened"),
                     what="half-done open resolved from the journal")
            qaddr, qnum = where(db2, queued_pid)
            wait_for(lambda: sim.compartment(qaddr, qnum).door_open, what="queued open executed")
            for pid in (queued_pid, half_pid):
                a, n = where(db2, pid)
                put_and_close(sim, a, n)
                wait_for(lambda pid=pid: parcel_state(db2, pid) == "in_locker", what="deposit confirmed")
                wait_for(lambda pid=pid: code_installed(db2, sim, pid), what="code installed")
            time.sleep(0.5)
            assert pulses(sim, addr, number) == 1  # the half-done open was never sent again
            assert pulses(sim, qaddr, qnum) == 1
        finally:
            worker.stop()
            db2.dispose()


def test_keys_sealed_at_rest_and_board_clock_set(tmp_path):
    with _stack(tmp_path) as st:
        lid = st.locker_ids[0]
        sim = st.sims[lid]
        wait_for(lambda: _online(st.db, lid), what="boards online")
        wait_for(lambda: all(abs(b.app.unix() - time.time()) <= 2 for b in sim.boards.values()),
                 what="board clocks set from the server")
        with st.db.reading() as s:
            sealed = {r.board_id: bytes(r.key_sealed) for r in s.scalars(select(LinkBoard))}
        raw = b""
        for name in os.listdir(st.root):
            if name.startswith("cunbox.sqlite3"):
                with open(os.path.join(st.root, name), "rb") as f:
                    raw += f.read()
        for key in sim.keys.values():
            assert key not in raw  # never in clear in the database files
        assert sorted(st.sealer.open(k) for k in sealed.values()) == sorted(sim.keys.values())
        other = Sealer(b"another server's secret, 32 bytes")
        with pytest.raises(SealError):
            other.open(next(iter(sealed.values())))
        tampered = bytearray(next(iter(sealed.values())))
        tampered[20] ^= 1
        with pytest.raises(SealError):
            st.sealer.open(bytes(tampered))


def _lease_takeover(st):
    lid = st.locker_ids[0]
    sim = st.sims[lid]
    opts = Options(baud=st.baud, status_period_s=0.2)
    a = LinkWorker(st.db, owner="worker-a", sealer=st.sealer, options=opts, lease_ttl_s=2.0).start()
    b = None
    try:
        wait_for(lambda: link_state.lease_owners(st.db).get(lid) == "worker-a", what="a holds the locker")
        wait_for(lambda: _online(st.db, lid), what="boards online under a")
        b = LinkWorker(st.db, owner="worker-b", sealer=st.sealer, options=opts, lease_ttl_s=2.0).start()
        time.sleep(1.0)
        assert link_state.lease_owners(st.db)[lid] == "worker-a"  # a live worker keeps its lockers
        a.stop(release=False)  # a dies: its lease is left to run out
        died = time.monotonic()
        wait_for(lambda: link_state.lease_owners(st.db).get(lid) == "worker-b", timeout=10, what="b takes over")
        assert time.monotonic() - died <= 2.0 + 2.0 / 3 + 1.0  # ttl + one renewal round + slack
        status, out = deposit(st, lid, "SF6000001", "13800000001")
        assert status == 201 and out["command"]["state"] == "done", out
        pid = out["parcel"]["id"]
        addr, number = where(st.db, pid)
        put_and_close(sim, addr, number)
        wait_for(lambda: parcel_state(st.db, pid) == "in_locker", what="deposit confirmed under b")
        assert pulses(sim, addr, number) == 1
    finally:
        a.stop(release=False)
        if b is not None:
            b.stop()


def test_dead_workers_lockers_taken_over_sqlite(tmp_path):
    with _stack(tmp_path, start_link=False) as st:
        from server.link import http
        http.attach(st.app, 5.0)
        _lease_takeover(st)


@pytest.mark.postgres
def test_dead_workers_lockers_taken_over_postgres(tmp_path, private_pg_url):
    with _stack(tmp_path, start_link=False, db_url=private_pg_url) as st:
        from server.link import http
        http.attach(st.app, 5.0)
        _lease_takeover(st)


def test_a_link_that_died_between_storing_events_and_acking_them_does_not_take_it_for_a_wiped_board(
        tmp_path, monkeypatch):
    """The previous life of the link committed a batch of events and died before EVENTS_ACK. The
    board still holds them unacknowledged, and nothing newer: the next life must acknowledge them,
    not re-read the journal as a restarted one (which would store them again above a gap)."""
    from server.link import bus
    from server.models import AuditEvent
    from server.models.link import LinkEvent
    from server.services import link_events
    real_call = bus.BusMaster.call
    died = []

    def call(self, address, msg_type, fields=None, auth=None):
        if msg_type == m.EVENTS_ACK and not died:
            died.append(fields["upto"])
            raise RuntimeError("the link dies after committing the events, before EVENTS_ACK")
        return real_call(self, address, msg_type, fields, auth)
    monkeypatch.setattr(bus.BusMaster, "call", call)
    with _stack(tmp_path, boards=1) as st:
        lid = st.locker_ids[0]
        sim = st.sims[lid]
        wait_for(lambda: _online(st.db, lid, 1), what="board online")
        wait_for(lambda: sim.board(1).app.journal.unacked() == 0, what="boot events acknowledged")
        died.clear()
        sim.type_code(1, "11112222#")  # a wrong code: the board journals CODE_REJECTED
        wait_for(lambda: died, what="the link's death before its EVENTS_ACK")

        def settled():
            # the board may journal more (a TIME_SET, ...) at any moment: wait until the stored cursor
            # has caught up with the board's newest event and nothing is left unacknowledged
            with st.db.reading() as s:
                cursor = s.get(LinkBoard, sim_board_id(st, lid)).event_cursor
            journal = sim.board(1).app.journal
            return journal.unacked() == 0 and cursor == journal.last_seq()
        wait_for(settled, what="the stored events acknowledged")
        with st.db.reading() as s:
            stored = [(e.seq, e.kind) for e in s.scalars(select(LinkEvent).order_by(LinkEvent.seq))]
            restarts = s.scalars(select(AuditEvent).where(AuditEvent.action == "board_journal_restarted")).all()
            cursor = s.get(LinkBoard, sim_board_id(st, lid)).event_cursor
        assert restarts == [] and link_events.lost_events(st.db) == 0
        assert [k for _seq, k in stored].count(m.EV_CODE_REJECTED) == 1
        # every event up to the cursor is stored once (later ones, e.g. a TIME_SET, may follow)
        assert died[0] <= cursor <= stored[-1][0]
        assert [seq for seq, _k in stored if seq <= cursor] == list(range(stored[0][0], cursor + 1))
        assert len({seq for seq, _k in stored}) == len(stored)


def sim_board_id(st, locker_id):
    from server.models import Board
    with st.db.reading() as s:
        return s.scalar(select(Board.id).where(Board.locker_id == locker_id))
