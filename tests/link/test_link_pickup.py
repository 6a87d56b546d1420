"""How bus masters pick up commands: a command written by another process (no in-process wake) is
found by the worker's queue watcher and executed once; an idle master reads no queue at all and
touches the database only for its periodic lease check, not on every pass of its loop."""
import subprocess
import sys
import threading

import pytest
from sqlalchemy import event, select
from support.link_stack import pulses, wait_for

from server.demo.stack import Stack
from server.link.bus import BusMaster, Options
from server.models import Compartment, LockerCommand
from server.services import link_state

pytestmark = pytest.mark.timeout(150)

ENQUEUE = """
import sys
from server.db import Database
from server.models import Compartment
from server.services import doors
db = Database(sys.argv[1])
with db.transaction() as s:
    print(doors.open_door(s, s.get(Compartment, int(sys.argv[2])), "staff", "other-process").id)
db.dispose()
"""


def _compartment(db, locker_id, index):
    with db.reading() as s:
        return s.scalar(select(Compartment).where(Compartment.locker_id == locker_id, Compartment.index == index))


def _online(st):
    return all(b["online"] for lid in st.locker_ids for b in link_state.board_status(st.db, lid))


def _command_from_another_process(tmp_path, db_url=None):
    with Stack(root=str(tmp_path / "stack"), lockers=2, boards=1, per_board=4, transport="pty",
               status_period_s=0.2, wait_s=2, db_url=db_url) as st:
        wait_for(lambda: _online(st), what="boards online")
        lid = st.locker_ids[1]
        comp = _compartment(st.db, lid, 3)
        out = subprocess.run([sys.executable, "-c", ENQUEUE, st.db_url, str(comp.id)], capture_output=True,
                             text=True, check=True, timeout=60)
        cid = int(out.stdout.split()[-1])

        def final():
            with st.db.reading() as s:
                cmd = s.get(LockerCommand, cid)
                return cmd.state in ("done", "failed") and (cmd.state, cmd.result)
        assert wait_for(final, what="the other process's command executed") == ("done", "opened")
        assert pulses(st.sims[lid], 1, 3) == 1  # executed once, on the right locker
        assert pulses(st.sims[st.locker_ids[0]], 1, 3) == 0
        assert st.worker.watch_rounds > 0


def test_command_enqueued_by_another_process_is_executed(tmp_path):
    _command_from_another_process(tmp_path)


@pytest.mark.postgres
def test_command_enqueued_by_another_process_is_executed_postgres(tmp_path, private_pg_url):
    _command_from_another_process(tmp_path, private_pg_url)


def test_idle_master_reads_no_queue_and_hits_the_database_only_for_its_lease(tmp_path):
    """Over a window of status polls (a 0.1 s period), an idle master checks its lease once per
    lease_check_s (1 s) and nothing else reaches the database: at most 3 statements per lease check
    the window spans, plus 3 (12 for 30 polls). Reading the queue on every pass of the loop (every
    50 ms) cost at least 2 statements per poll (60)."""
    period, lease_check, polls = 0.1, 1.0, 30
    with Stack(root=str(tmp_path / "stack"), lockers=1, boards=1, per_board=4, transport="pty",
               status_period_s=period, start_link=False) as st:
        lid = st.locker_ids[0]
        owner = "test-owner"
        assert lid in link_state.acquire_leases(st.db, owner, 120.0)
        master = BusMaster(st.db, lid, owner, st.sealer,
                           Options(baud=st.baud, status_period_s=period, lease_check_s=lease_check))
        statements = [0]

        def count(*_args, **_kw):
            if threading.current_thread() is master:
                statements[0] += 1
        event.listen(st.db.engine, "before_cursor_execute", count)
        master.start()
        try:
            b = wait_for(lambda: master.boards.get(1), what="master connected")
            wait_for(lambda: b.online and not b.needs_sync and master.stats["polls"] >= 5, what="board synced")
            claims0, polls0, statements0 = master.stats["claims"], master.stats["polls"], statements[0]
            wait_for(lambda: master.stats["polls"] >= polls0 + polls, timeout=60, what="a window of polls")
            window_polls = master.stats["polls"] - polls0
            used = statements[0] - statements0
            assert master.stats["claims"] == claims0, "an idle master read the queue"
            assert used <= window_polls * period / lease_check * 3 + 3, (used, window_polls)
            assert master.stats["errors"] == 0
            # woken (as the driver or the queue watcher does), it reads the queue once, finds it empty
            master.wake.set()
            wait_for(lambda: master.stats["claims"] == claims0 + 1, what="one queue read after a wake")
        finally:
            master.stop()
            event.remove(st.db.engine, "before_cursor_execute", count)


def test_a_link_worker_has_the_interpreter_switch_threads_every_millisecond(db):
    """Bus masters are I/O threads sharing the interpreter with the web server's threads: each time
    they take the interpreter lock back from a computing thread they wait out the switch interval
    (bench_link.beside_a_busy_thread measures what it costs a deposit). Starting a worker lowers it,
    and never raises one already lower."""
    import sys

    from server.link.keys import Sealer
    from server.link.worker import SWITCH_INTERVAL_S, LinkWorker, responsive_interpreter
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # CPython's default
        worker = LinkWorker(db, sealer=Sealer(b"s" * 32)).start()
        worker.stop()
        assert sys.getswitchinterval() <= SWITCH_INTERVAL_S
        sys.setswitchinterval(SWITCH_INTERVAL_S / 2)
        responsive_interpreter()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S / 2)
    finally:
        sys.setswitchinterval(before)


def test_a_commit_wakes_the_bus_master_of_its_own_database_only(db, other_db):
    """Locker ids are unique only within one database: a command committed for locker 1 of one
    database wakes that database's master of locker 1, not another database's in the same process
    (the test suite, the benchmarks), and only once the transaction commits."""
    from server.link import driver
    mine, theirs = threading.Event(), threading.Event()
    driver.register(db, 1, mine)
    driver.register(other_db, 1, theirs)
    try:
        with db.transaction() as s:
            driver._wake_after_commit(s, 1)
            assert not mine.is_set()  # not before the command is committed
        assert mine.is_set() and not theirs.is_set()
        mine.clear()
        try:
            with db.transaction() as s:
                driver._wake_after_commit(s, 1)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert not mine.is_set()  # nothing was committed: nothing to find
    finally:
        driver.unregister(db, 1, mine)
        driver.unregister(other_db, 1, theirs)
