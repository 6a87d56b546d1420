"""The pages' idea of a locker being online follows the link (issue: every compartment drawn 离线
five minutes after start, while the lockers worked): an answering board's last contact is written
every few polls, and a board that stops answering is offline within a minute."""
import datetime
import time

import pytest
import time_machine
from support.link_stack import online_stack, wait_for

from server import clock
from server.link import bus
from server.models import Board
from server.web import queries

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setattr(bus, "HEARD_WRITE_S", 0.5)   # the field's 15 s, shortened with the clock jumps below
    yield from online_stack(tmp_path / "stack")


def _statuses(st):
    with st.db.reading() as s:
        now = clock.utcnow()
        return [queries.board_status(b, now) for b in s.query(Board).filter(Board.locker_id == st.locker_ids[0])]


def test_boards_stay_online_after_ten_minutes_and_go_offline_within_a_minute_of_silence(stack):
    assert _statuses(stack) == ["online", "online"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)
    with time_machine.travel(later, tick=True):         # ten minutes of a working locker, in a moment
        wait_for(lambda: _statuses(stack) == ["online", "online"], timeout=10, what="boards online after 10 min")
        time.sleep(1.0)
        assert _statuses(stack) == ["online", "online"]
        sim = stack.sims[stack.locker_ids[0]]
        for b in sim.boards.values():
            b.power_off()
        time.sleep(1.0)
        silent = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=50)
        with time_machine.travel(silent, tick=True):
            assert _statuses(stack) == ["offline", "offline"]
