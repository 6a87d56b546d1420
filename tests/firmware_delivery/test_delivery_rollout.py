"""Fleet rollout (server/firmware_delivery/rollout.py, /api/v1/firmware): releases, scopes, canaries, the
automatic pause, doors mid-operation, per-board progress; and a rollout driven into simulated boards
whose canary fails its self-test."""
import base64
import hashlib
import json

import pytest
from support.server_world import bearer, build_world

from firmware import ed25519, update_image
from server.errors import BadRequest, Conflict
from server.firmware_delivery import queue, rollout
from server.models import Board, Compartment, LockerCommand
from server.models.firmware_delivery import FwRelease, FwRolloutBoard
from server.services import provisioning

FLEET = bytes(range(32))  # the maintainers' signing key (seed); the server and boards hold FLEET_PUB only
FLEET_PUB = ed25519.public_key(FLEET)
FAMILY = "cunbox-locker-v1"


def image(version, key=FLEET, family=FAMILY):
    body = ("firmware %s" % version).encode() * 20
    manifest = {"format": update_image.FORMAT, "version": version, "family": family, "min_protocol": 1,
                "files": [{"path": "firmware/x.mpy", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}]}
    return update_image.pack_image(json.dumps(manifest).encode(), body, key)


def _boards(db, world, n_lockers=3):
    with db.transaction() as s:
        from server.models import Station
        st = s.get(Station, world.station_id)
        ids = []
        for i in range(n_lockers):
            lk = provisioning.locker(s, st, "fleet %d" % i, "socket://127.0.0.1:%d" % (45090 + i),
                                     [(1, [("S", False, "low")]), (2, [("M", False, "low")])])
            ids += [b.id for b in lk.boards]
        for b in s.query(Board):
            b.firmware_version = "1.0.0"
        return ids


@pytest.fixture
def world(db):
    return build_world(db)


def test_fwupd_release_upload_verified_like_a_board(db, world):
    r = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB], "first")
    assert r["version"] == "1.1.0" and r["files"] == 1
    with pytest.raises(Conflict):
        rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])
    bad = bytearray(image("1.2.0"))
    bad[-1] ^= 1
    with pytest.raises(BadRequest) as info:
        rollout.upload_release(db, world.maintainer, bytes(bad), [FLEET_PUB])
    assert info.value.details["reason"] == "hash"
    with pytest.raises(BadRequest, match="untrusted"):
        rollout.upload_release(db, world.maintainer, image("1.2.0", key=b"x" * 32), [FLEET_PUB])
    forged = bytearray(image("1.2.0", key=b"x" * 32))
    forged[16:24] = update_image.key_id(FLEET_PUB)
    with pytest.raises(BadRequest, match="signature"):
        rollout.upload_release(db, world.maintainer, bytes(forged), [FLEET_PUB])
    from server.errors import Forbidden
    with pytest.raises(Forbidden):
        rollout.upload_release(db, world.operator, image("1.3.0"), [FLEET_PUB])
    assert [x["version"] for x in rollout.list_releases(db, world.maintainer)] == ["1.1.0"]


def test_fwupd_rollout_scopes(db, world):
    ids = _boards(db, world)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    everyone = rollout.create_rollout(db, world.maintainer, rel, station_id=world.station_id)
    station_boards = {b["board_id"] for b in everyone["boards"]}
    assert set(ids) <= station_boards
    half = rollout.create_rollout(db, world.maintainer, rel, percent=50)
    again = rollout.create_rollout(db, world.maintainer, rel, percent=50)
    more = rollout.create_rollout(db, world.maintainer, rel, percent=80)
    pick = [b["board_id"] for b in half["boards"]]
    assert pick == [b["board_id"] for b in again["boards"]]  # stable
    assert set(pick) < {b["board_id"] for b in more["boards"]}  # a larger share is a superset
    with db.reading() as s:
        total = s.query(Board).count()
    assert len(pick) == -(-total * 50 // 100)
    listed = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids[:2], canaries=[ids[3]])
    assert {b["board_id"]: b["canary"] for b in listed["boards"]} == {ids[0]: False, ids[1]: False, ids[3]: True}
    with pytest.raises(BadRequest):
        rollout.create_rollout(db, world.maintainer, rel, percent=10, station_id=world.station_id)


def _updating(db, rid):
    """{board id: firmware command id} of the rollout's boards being updated (their commands queued)."""
    with db.reading() as s:
        rows = s.query(FwRolloutBoard).filter_by(rollout_id=rid, state="updating").all()
        out = {r.board_id: r.command_id for r in rows}
        for bid, cid in out.items():
            cmd = s.get(LockerCommand, cid)
            assert cmd.kind == "firmware" and cmd.board_id == bid and cmd.payload["rollout_id"] == rid
        return out


def test_fwupd_canaries_first_then_pause_on_failures(db, world):
    ids = _boards(db, world)  # three lockers of two boards
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    ro = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids, canaries=ids[:2], failure_threshold=0.3)
    rid = ro["id"]
    assert ro["status_url"] == "/api/v1/firmware/rollouts/%d" % rid
    # creating it queued the first canary's update; the second canary shares its locker (one bus): it waits
    first = _updating(db, rid)
    assert list(first) == [ids[0]]
    assert queue.stage(db, rid) == []  # the rest waits for the canaries
    assert queue.finished(db, first[ids[0]], True, "1.1.0")
    assert not queue.finished(db, first[ids[0]], False, None, "late")  # at most once
    second = _updating(db, rid)
    assert list(second) == [ids[1]]  # staged as soon as the first one finished
    assert queue.finished(db, second[ids[1]], False, "1.0.0", "new version failed its self-test and rolled back")
    p = rollout.progress(db, world.maintainer, rid)
    assert p["state"] == "paused" and "1 of 2" in p["pause_reason"] and "self-test" in p["pause_reason"]
    assert queue.stage(db, rid) == []
    rows = {b["board_id"]: b for b in p["boards"]}
    assert rows[ids[0]]["version"] == "1.1.0" and rows[ids[0]]["state"] == "done"
    assert rows[ids[1]]["state"] == "failed" and rows[ids[1]]["version"] == "1.0.0"
    assert all(rows[i]["state"] == "pending" for i in ids[2:])
    with db.reading() as s:
        assert s.get(Board, ids[0]).firmware_version == "1.1.0"
        assert s.get(LockerCommand, second[ids[1]]).state == "failed"
    # the maintainer fixes the board and resumes: the failed canary is retried first
    p = rollout.set_state(db, world.maintainer, rid, "resume")
    assert p["state"] == "running"
    assert list(_updating(db, rid)) == [ids[1]]
    queue.finished(db, _updating(db, rid)[ids[1]], True, "1.1.0")
    while True:
        batch = _updating(db, rid)
        if not batch:
            break
        lockers = set()
        with db.reading() as s:
            for bid in batch:
                lockers.add(s.get(Board, bid).locker_id)
        assert len(lockers) == len(batch) <= queue.PARALLEL  # one board per locker at a time
        for cid in batch.values():
            queue.finished(db, cid, True, "1.1.0")
    p = rollout.progress(db, world.maintainer, rid)
    assert p["state"] == "completed" and p["totals"]["done"] == len(ids)


def test_fwupd_pause_withdraws_queued_updates_and_settle_takes_the_links_outcome(db, world):
    from server.services import link_commands
    ids = _boards(db, world)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids, failure_threshold=0.5)["id"]
    staged = _updating(db, rid)
    assert len(staged) == 3  # one per locker
    rollout.set_state(db, world.maintainer, rid, "pause")
    assert _updating(db, rid) == {}
    with db.reading() as s:
        assert {s.get(LockerCommand, c).result for c in staged.values()} == {"rollout_paused"}
    p = rollout.set_state(db, world.maintainer, rid, "resume")
    assert p["totals"]["updating"] == 3 and all(b["attempts"] <= 1 for b in p["boards"])
    # the link fails a command without running it (no key for the board): the rollout learns it
    bid, cid = sorted(_updating(db, rid).items())[0]
    link_commands.finish(db, cid, "failed", "board_not_keyed")
    p = queue.advance(db, rid)
    row = {b["board_id"]: b for b in p["boards"]}[bid]
    assert row["state"] == "failed" and "board_not_keyed" in row["last_error"]


def test_fwupd_busy_boards_wait(db, world):
    ids = _boards(db, world, 1)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    with db.transaction() as s:
        b0 = s.get(Board, ids[0])
        s.add(LockerCommand(locker_id=b0.locker_id, board_id=b0.id, kind="open", state="sent",
                            requested_by="test"))
        comp = s.query(Compartment).filter_by(board_id=ids[1]).first()
        comp.door = "open"
    rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids)["id"]
    assert _updating(db, rid) == {}  # nothing queued: a door is mid-operation on each board
    with db.transaction() as s:
        s.query(LockerCommand).update({"state": "done"})
    queue.advance(db, rid)  # what the housekeeping loop does
    assert list(_updating(db, rid)) == [ids[0]]
    with db.transaction() as s:
        s.query(Compartment).update({"door": "closed"})
    queue.advance(db, rid)
    assert list(_updating(db, rid)) == [ids[0]]  # one board per locker: ids[1] after it
    queue.finished(db, _updating(db, rid)[ids[0]], True, "1.1.0")
    assert list(_updating(db, rid)) == [ids[1]]


def test_fwupd_boards_already_current_are_skipped(db, world):
    ids = _boards(db, world, 1)
    with db.transaction() as s:
        s.get(Board, ids[0]).firmware_version = "1.2.0"
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    p = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids)
    states = {b["board_id"]: b["state"] for b in p["boards"]}
    assert states == {ids[0]: "skipped", ids[1]: "updating"}  # its update queued at once


def test_fwupd_rollout_api(app, client, db, world):
    ids = _boards(db, world, 1)
    app.config["FW_PUBKEYS"] = [FLEET_PUB]
    h = bearer(world.maintainer_token)
    r = client.post("/api/v1/firmware/releases", headers=h,
                    json={"image_base64": base64.b64encode(image("1.1.0")).decode(), "notes": "n"})
    assert r.status_code == 201, r.get_json()
    rel = r.get_json()["id"]
    bad = client.post("/api/v1/firmware/releases", headers=h,
                      json={"image_base64": base64.b64encode(image("1.2.0", family="x")[:-1]).decode()})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "bad_image"
    assert client.get("/api/v1/firmware/releases", headers=bearer(world.operator_token)).status_code == 403
    r = client.post("/api/v1/firmware/rollouts", headers=h,
                    json={"release_id": rel, "board_ids": ids, "canaries": [ids[0]], "failure_threshold": 0.5})
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["id"]
    assert r.headers["Location"].endswith("/api/v1/firmware/rollouts/%d" % rid)
    r = client.post("/api/v1/firmware/rollouts", headers=h, json={"release_id": rel, "board_ids": ["x"]})
    assert r.status_code == 400
    assert client.post("/api/v1/firmware/rollouts/%d/pause" % rid, headers=h).get_json()["state"] == "paused"
    assert client.post("/api/v1/firmware/rollouts/%d/resume" % rid, headers=h).get_json()["state"] == "running"
    body = client.get("/api/v1/firmware/rollouts/%d" % rid, headers=h).get_json()
    assert body["totals"]["pending"] == 1 and body["totals"]["updating"] == 1 and body["boards"][0]["canary"]
    assert body["boards"][0]["command_id"] is not None and body["status_url"].endswith("/rollouts/%d" % rid)
    assert client.get("/api/v1/firmware/releases", headers=h).get_json()["releases"][0]["version"] == "1.1.0"
    assert client.post("/api/v1/firmware/rollouts/%d/cancel" % rid, headers=h).get_json()["state"] == "cancelled"
    assert client.post("/api/v1/firmware/rollouts/%d/resume" % rid, headers=h).status_code == 409
    assert client.get("/api/v1/firmware/rollouts/999", headers=h).status_code == 404


def test_fwupd_rollout_run_cli_queues_waits_and_says_why_it_paused(db, world):
    """`cunbox firmware rollout-run` queues updates and waits; it never opens a port. Without a link
    nothing executes (exit 2 once --timeout passes); when the link fails the canary's command (no key
    for the board) the rollout pauses itself and the command says why (exit 1)."""
    from click.testing import CliRunner

    from server.cli import main as cunbox
    from server.services import link_commands

    ids = _boards(db, world, 1)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids, canaries=[ids[0]])["id"]
    args = ["firmware", "rollout-run", str(rid), "--database-url", db.url, "--timeout", "0", "--poll", "0.05"]
    r = CliRunner().invoke(cunbox, args)
    assert r.exit_code == 2, r.output
    assert "still running" in r.output and "updating" in r.output
    link_commands.finish(db, _updating(db, rid)[ids[0]], "failed", "board_not_keyed")
    r = CliRunner().invoke(cunbox, args)
    assert r.exit_code == 1, r.output
    assert "auto-paused" in r.output and "board_not_keyed" in r.output
    p = rollout.progress(db, world.maintainer, rid)
    assert [b["state"] for b in p["boards"]] == ["failed", "pending"]
    assert CliRunner().invoke(cunbox, ["firmware", "rollout-run", "999", "--database-url", db.url]).exit_code == 1


def test_fwupd_damaged_stored_image_queues_nothing(db, world):
    ids = _boards(db, world, 1)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    with db.transaction() as s:
        r = s.get(FwRelease, rel)
        r.image = r.image[:-1] + bytes([r.image[-1] ^ 1])
    with pytest.raises(BadRequest, match="no longer matches"):
        rollout.create_rollout(db, world.maintainer, rel, board_ids=ids)
    with db.reading() as s:
        assert s.query(LockerCommand).filter_by(kind="firmware").count() == 0


def test_fwupd_an_update_for_a_board_offline_for_hours_fails_and_the_rollout_moves_on(db, world):
    import datetime

    from server.clock import utcnow
    from server.models.link import LinkBoard
    ids = _boards(db, world, 2)  # two lockers of two boards: one board of each updates at a time
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids, failure_threshold=1.0)["id"]
    staged = _updating(db, rid)
    gone, away = sorted(staged)
    now = utcnow()
    with db.transaction() as s:
        s.add(LinkBoard(board_id=gone, online=False, changed_at=now - datetime.timedelta(hours=7)))
        s.add(LinkBoard(board_id=away, online=False, changed_at=now - datetime.timedelta(hours=1)))
    assert queue.settle(db, rid, now=now) == 1
    p = rollout.progress(db, world.maintainer, rid)
    rows = {b["board_id"]: b for b in p["boards"]}
    assert rows[gone]["state"] == "failed" and "board_unreachable" in rows[gone]["last_error"]
    assert rows[away]["state"] == "updating"  # an hour away: its update still waits for it
    with db.reading() as s:
        assert s.get(LockerCommand, staged[gone]).state == "failed"
        assert s.get(LockerCommand, staged[away]).state == "queued"
    assert queue.settle(db, rid, now=now) == 0  # settled once
    # the gone board's locker may take its next board now
    assert len(queue.stage(db, rid)) == 1
