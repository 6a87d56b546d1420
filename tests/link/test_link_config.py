"""Board settings through the durable command queue: a maintainer's POST .../boards/<id>/config is
queued, the link's bus master sends it as an authenticated CONFIG_SET, the board applies it once, and
the outcome lands on the command and in the audit trail. Bad input queues nothing."""
import pytest
from sqlalchemy import select
from support.link_stack import call, online_stack, wait_for

from server.models import AuditEvent, Board, LockerCommand

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def stack(tmp_path):
    yield from online_stack(tmp_path / "stack", transport="tcp")


def _boards(st):
    from server.services import link_state
    return link_state.board_status(st.db, st.locker_ids[0])


def _board(st, address):
    with st.db.reading() as s:
        return s.scalar(select(Board).where(Board.locker_id == st.locker_ids[0], Board.address == address)).id


def _post(st, board_id, items, token=None, locker_id=None):
    url = "%s/api/v1/lockers/%d/boards/%d/config" % (st.url, locker_id or st.locker_ids[0], board_id)
    return call("POST", url, token or st.tokens["maintainer"], {"items": items})


def _commands(st):
    with st.db.reading() as s:
        return [(c.kind, c.state, c.result) for c in s.scalars(select(LockerCommand).order_by(LockerCommand.id))]


def _audit(st, action):
    with st.db.reading() as s:
        return [a.detail for a in s.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_config_is_applied_by_the_board_once_and_audited(stack):
    lid = stack.locker_ids[0]
    app = stack.sims[lid].board(2).app
    status, out = _post(stack, _board(stack, 2), {"left_open_s": "45", "disabled": "2,3", "door_window_ms": 7000})
    assert status == 202, out
    cmd = out["command"]
    assert cmd["kind"] == "config" and cmd["state"] == "done" and cmd["result"] == "applied:3", cmd
    assert app.left_open_ms == 45000 and app.door_window_ms == 7000
    assert list(app.disabled) == [0, 1, 1, 0]
    assert list(stack.sims[lid].board(1).app.disabled) == [0, 0, 0, 0]  # only the board named
    assert [d["command_id"] for d in _audit(stack, "config_requested")] == [cmd["id"]]
    assert [d["result"] for d in _audit(stack, "config_done")] == ["applied:3"]
    # the status resource says the same
    status, again = call("GET", stack.url + "/api/v1/commands/%d" % cmd["id"], stack.tokens["maintainer"])
    assert status == 200 and again["state"] == "done", again


def test_bad_config_queues_nothing(stack):
    bid = _board(stack, 1)
    before = _commands(stack)
    for items in ({"address": "9"}, {"left_open_s": "0"}, {"disabled": "5"}, {"left_open_s": "x"}, {},
                  {"door_window_ms": "1" * 40}):
        status, out = _post(stack, bid, items)
        assert status == 400, (items, out)
    assert _post(stack, bid, {"left_open_s": "10"}, locker_id=999)[0] == 404
    assert _post(stack, 999, {"left_open_s": "10"})[0] == 404
    assert _post(stack, bid, {"left_open_s": "10"}, token=stack.tokens["operator"])[0] == 403
    assert _commands(stack) == before
    assert _audit(stack, "config_requested") == []


def test_config_queued_while_the_link_is_down_runs_once_when_it_is_back(stack):
    lid = stack.locker_ids[0]
    stack.stop_linker()  # the server's link goes down; the request still gets a durable command
    stack.app.config["LINK_WAIT_SECONDS"] = 0.2
    status, out = _post(stack, _board(stack, 1), {"left_open_s": "99"})
    assert status == 202 and out["command"]["state"] == "queued", out
    assert "status_url" in out["command"]
    assert stack.sims[lid].board(1).app.left_open_ms != 99000
    stack.start_linker()  # the server's link comes back
    wait_for(lambda: _commands(stack)[-1][1] == "done", what="config executed after the link came back")
    assert stack.sims[lid].board(1).app.left_open_ms == 99000
    assert [c for c in _commands(stack) if c[0] == "config"] == [("config", "done", "applied:1")]
