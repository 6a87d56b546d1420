"""The live feeds behind the rollout page and the cabinet view, through Flask's test client: true
counts, the target version, Chinese reasons (not "1 of 1" when 2 of 2 failed), the cabinet counters."""
import re

import pytest
from sqlalchemy import select
from support.web_world import FLEET_KEY, built_copy, client_as, firmware_image, make_app

from firmware import ed25519
from server.firmware_delivery import queue, rollout, rollout_boards
from server.models import Board, LockerCommand
from server.models.firmware_delivery import FwRolloutBoard
from server.web import queries_fleet


@pytest.fixture
def site(tmp_path):
    db, world = built_copy(tmp_path)
    app = make_app(db)
    yield app, world, db
    db.dispose()


def _one_board_each(db, world):
    """A board of each of two lockers with no door mid-operation (a rollout would wait for it): the
    world's door commands are taken as sent and done, as a link would have by now."""
    with db.transaction() as s:
        for cmd in s.scalars(select(LockerCommand).where(LockerCommand.state.in_(("queued", "sent")))):
            cmd.state, cmd.result = "done", "opened"
    with db.reading() as s:
        out = []
        for lid in (world.locker_id, world.locker2_id, world.other_locker_id):
            ids = list(s.scalars(select(Board.id).where(Board.locker_id == lid).order_by(Board.address)))
            busy = rollout_boards._busy_board_ids(s, ids)
            out += [i for i in ids if i not in busy][:1]
        assert len(out) >= 2, out
        return out[:2]


def test_two_failed_of_two_is_shown_as_two_of_two_in_chinese_with_the_target_version(site):
    app, world, db = site
    m = rollout._SYSTEM_MAINTAINER
    rel = rollout.upload_release(db, m, firmware_image("1.4.0"), [ed25519.public_key(FLEET_KEY)])
    boards = _one_board_each(db, world)
    ro = rollout.create_rollout(db, m, rel["id"], board_ids=boards, failure_threshold=0.2)
    with db.reading() as s:
        updating = {r.board_id: r.command_id for r in s.scalars(select(FwRolloutBoard).where(
            FwRolloutBoard.rollout_id == ro["id"], FwRolloutBoard.state == "updating"))}
    assert sorted(updating) == sorted(boards)  # one board per locker: both update at once
    c = client_as(app, "maint")
    live = c.get("/fleet/rollouts/%d.json" % ro["id"]).get_json()
    assert live["state_text"] == "进行中" and live["counts"]["active"] == 2 and live["counts"]["total"] == 2
    with db.transaction() as s:  # both boards' links took their update (a queued one is withdrawn on a pause)
        for cmd in s.scalars(select(LockerCommand).where(LockerCommand.id.in_(updating.values()))):
            cmd.state = "sent"
    for _bid, cid in updating.items():  # both fail: the first pauses the rollout, the second lands after
        assert queue.finished(db, cid, False, error="FW_BEGIN refused: NOT_SUPPORTED, detail 0")
    live = c.get("/fleet/rollouts/%d.json" % ro["id"]).get_json()
    assert live["state"] == "paused" and live["state_text"] == "已暂停"
    assert live["counts"] == {"total": 2, "done": 0, "failed": 2, "active": 0, "skipped": 0, "percent_done": 0}
    assert "已结束的 2 台中 2 台失败" in live["pause_text"], live["pause_text"]
    assert live["counts_text"] == "共 2 台：完成 0 台，失败 2 台，进行中 0 台，已是新版 0 台"
    for b in live["boards"]:
        assert b["state_text"] == "失败"
        assert b["reason"] == "控制板不支持远程升级（没有配置固件公钥）"
        assert re.fullmatch(r"(\S+) → 1\.4\.0 （现为 \1）", b["version"]), b["version"]  # target, still runs
    assert "2 of 2" in rollout.progress(db, m, ro["id"])["pause_reason"]  # the API's words agree
    html = c.get("/fleet/rollouts/%d" % ro["id"]).get_data(as_text=True)
    assert "已结束的 2 台中 2 台失败" in html and "NOT_SUPPORTED" not in html.split('title="')[0]
    assert "1.4.0" in html and 'data-failed="2"' in html


def test_rollout_feed_needs_a_maintainer_and_a_rollout(site):
    app, _world, _db = site
    assert client_as(app, "maint").get("/fleet/rollouts/999.json").status_code == 404
    r = app.test_client().get("/fleet/rollouts/1.json")
    assert r.status_code in (302, 401, 403)


@pytest.mark.parametrize("text,key", [
    ("already on 1.2.0", "fwreason.already"),
    ("FW_BEGIN refused: NOT_SUPPORTED, detail 0", "fwreason.not_supported"),
    ("FW_BEGIN refused: signature (BAD_PAYLOAD)", "fwreason.signature"),
    ("new version failed its self-test and rolled back: selftest (BAD_STATE)", "fwreason.rolled_back"),
    ("link: board_not_keyed", "fwreason.not_keyed"),
    ("link: board_unreachable", "fwreason.unreachable"),
    ("board did not come back within 30 s after the reboot", "fwreason.no_return"),
    ("something new", "fwreason.other"),
    (None, None),
])
def test_board_errors_map_to_catalogue_keys(text, key):
    assert queries_fleet.reason_key(text) == key


def test_cabinet_feed_carries_counters_that_match_its_tiles(site):
    app, _world, _db = site
    c = client_as(app, "op-dongcun")
    d = c.get("/station/lockers.json").get_json()
    tiles = {}
    for cpt in d["compartments"]:
        tiles[cpt["state"]] = tiles.get(cpt["state"], 0) + 1
    assert {k: v for k, v in d["counts"].items() if v} == tiles
    html = c.get("/station/").get_data(as_text=True)
    for state, n in d["counts"].items():
        shown = re.search(r'id="count-%s">(\d+)<' % state, html)
        assert shown and int(shown.group(1)) == n, (state, n)
