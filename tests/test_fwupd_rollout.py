"""Fleet rollout (server/firmware/rollout.py, /api/v1/firmware): releases, scopes, canaries, the
automatic pause, doors mid-operation, per-board progress; and a rollout driven into simulated boards
whose canary fails its self-test."""
import base64
import hashlib
import json

import pytest
from _server_helpers import *  # noqa: F403 - the shared fixtures (db, app, client, ...)
from _server_helpers import bearer, build_world

from firmware import ed25519, fwimage
from server.errors import BadRequest, Conflict
from server.firmware import rollout
from server.models import Board, Compartment, LockerCommand
from server.services import provisioning

FLEET = bytes(range(32))  # the maintainers' signing key (seed); the server and boards hold FLEET_PUB only
FLEET_PUB = ed25519.public_key(FLEET)
FAMILY = "cunbox-locker-v1"


def image(version, key=FLEET, family=FAMILY):
    body = ("firmware %s" % version).encode() * 20
    manifest = {"format": fwimage.FORMAT, "version": version, "family": family, "min_protocol": 1,
                "files": [{"path": "firmware/x.mpy", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}]}
    return fwimage.pack_image(json.dumps(manifest).encode(), body, key)


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
    forged[16:24] = fwimage.key_id(FLEET_PUB)
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


def test_fwupd_canaries_first_then_pause_on_failures(db, world):
    ids = _boards(db, world)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    ro = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids, canaries=ids[:2], failure_threshold=0.3)
    rid = ro["id"]
    first = rollout.claim_next(db, rid, 10)
    assert [t["board_id"] for t in first] == ids[:2] and all(t["canary"] for t in first)
    assert rollout.claim_next(db, rid, 10) == []  # the rest waits for the canaries
    rollout.report(db, rid, ids[0], True, "1.1.0")
    p = rollout.report(db, rid, ids[1], False, "1.0.0", "new version failed its self-test and rolled back")
    assert p["state"] == "paused" and "1 of 2" in p["pause_reason"] and "self-test" in p["pause_reason"]
    assert rollout.claim_next(db, rid, 10) == []
    rows = {b["board_id"]: b for b in p["boards"]}
    assert rows[ids[0]]["version"] == "1.1.0" and rows[ids[0]]["state"] == "done"
    assert rows[ids[1]]["state"] == "failed" and rows[ids[1]]["version"] == "1.0.0"
    assert all(rows[i]["state"] == "pending" for i in ids[2:])
    with db.reading() as s:
        assert s.get(Board, ids[0]).firmware_version == "1.1.0"
    # the maintainer fixes the board and resumes: the failed canary is retried first
    p = rollout.set_state(db, world.maintainer, rid, "resume")
    assert p["state"] == "running"
    assert [t["board_id"] for t in rollout.claim_next(db, rid, 10)] == [ids[1]]
    rollout.report(db, rid, ids[1], True, "1.1.0")
    while True:
        batch = rollout.claim_next(db, rid, 2)
        if not batch:
            break
        for t in batch:
            p = rollout.report(db, rid, t["board_id"], True, "1.1.0")
    assert p["state"] == "completed" and p["totals"]["done"] == len(ids)


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
    assert rollout.claim_next(db, rid, 5) == []
    with db.transaction() as s:
        s.query(LockerCommand).update({"state": "done"})
    assert [t["board_id"] for t in rollout.claim_next(db, rid, 5)] == [ids[0]]
    with db.transaction() as s:
        s.query(Compartment).update({"door": "closed"})
    assert [t["board_id"] for t in rollout.claim_next(db, rid, 5)] == [ids[1]]


def test_fwupd_boards_already_current_are_skipped(db, world):
    ids = _boards(db, world, 1)
    with db.transaction() as s:
        s.get(Board, ids[0]).firmware_version = "1.2.0"
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    p = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids)
    states = {b["board_id"]: b["state"] for b in p["boards"]}
    assert states == {ids[0]: "skipped", ids[1]: "pending"}


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
    r = client.post("/api/v1/firmware/rollouts", headers=h, json={"release_id": rel, "board_ids": ["x"]})
    assert r.status_code == 400
    assert client.post("/api/v1/firmware/rollouts/%d/pause" % rid, headers=h).get_json()["state"] == "paused"
    assert client.post("/api/v1/firmware/rollouts/%d/resume" % rid, headers=h).get_json()["state"] == "running"
    body = client.get("/api/v1/firmware/rollouts/%d" % rid, headers=h).get_json()
    assert body["totals"]["pending"] == 2 and body["boards"][0]["canary"]
    assert client.get("/api/v1/firmware/releases", headers=h).get_json()["releases"][0]["version"] == "1.1.0"
    assert client.post("/api/v1/firmware/rollouts/%d/cancel" % rid, headers=h).get_json()["state"] == "cancelled"
    assert client.post("/api/v1/firmware/rollouts/%d/resume" % rid, headers=h).status_code == 409
    assert client.get("/api/v1/firmware/rollouts/999", headers=h).status_code == 404


def test_fwupd_rollout_into_simulated_boards_pauses_when_a_canary_fails(db, world, tmp_path):
    """Three simulated boards behind their own TCP bridges; the second canary's new version fails
    its self-test (locks), rolls itself back, and the rollout pauses before the third board."""
    from hardware_sim.fw_sim_board import SimBoard, provision_dir
    from server.firmware import build as builder
    from server.firmware.flasher import Flasher
    from server.firmware.link import Link
    from server.models import Station

    small = ("firmware/__init__.mpy", "firmware/boot_select.mpy", "firmware/fwupdate.mpy", "protocol/__init__.mpy")
    files = [(p, d) for p, d in builder.compile_tree(builder.pathlib.Path(__file__).resolve().parents[1])
             if p in small]

    def img(version):
        return builder.pack(files, builder.make_manifest(files, version, FAMILY, 1, mpy=6), FLEET)

    key = b"\x22" * 32
    sims = []
    try:
        for i in range(3):
            root = tmp_path / ("board%d" % i)
            root.mkdir()
            provision_dir(str(root), img("1.0.0"), [FLEET_PUB])
            sims.append(SimBoard(str(root), 1, key.hex(), [FLEET_PUB.hex()], FAMILY))
        sims[1].selftest_fail = "locks"  # applies from its next power-on: the new version's first boot
        board_ids = []
        with db.transaction() as s:
            st = s.get(Station, world.station_id)
            for i, sim in enumerate(sims):
                lk = provisioning.locker(s, st, "sim %d" % i, sim.url, [(1, [("S", False, "low")] * 4)])
                lk.boards[0].firmware_version = "1.0.0"
                board_ids.append(lk.boards[0].id)
        rel = rollout.upload_release(db, world.maintainer, img("1.1.0"), [FLEET_PUB])["id"]
        rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=board_ids, canaries=board_ids[:2],
                                     failure_threshold=0.25)["id"]

        def update_board(target, image_bytes):
            link = Link(target["serial_url"], target["address"], key, baud=115200)
            try:
                return Flasher(link, image_bytes, boot_wait_s=15).run()
            finally:
                link.close()

        p = rollout.run_rollout(db, rid, update_board)
        rows = {b["board_id"]: b for b in p["boards"]}
        assert p["state"] == "paused", p
        assert rows[board_ids[0]]["state"] == "done" and rows[board_ids[0]]["version"] == "1.1.0"
        assert rows[board_ids[1]]["state"] == "failed" and "self-test" in rows[board_ids[1]]["last_error"]
        assert rows[board_ids[2]]["state"] == "pending" and rows[board_ids[2]]["attempts"] == 0
        assert "auto-paused" in p["pause_reason"]
        assert [v for _s, v in sims[0].boots] == ["1.0.0", "1.1.0"]
        assert [v for _s, v in sims[1].boots][-1] == "1.0.0"  # rolled back by itself
        assert sims[2].boots == [("a", "1.0.0")]  # never touched
    finally:
        for sim in sims:
            sim.close()


def test_fwupd_rollout_run_cli_pauses_and_says_why(db, world, tmp_path):
    from click.testing import CliRunner

    from server.cli import main as cunbox

    ids = _boards(db, world, 1)
    rel = rollout.upload_release(db, world.maintainer, image("1.1.0"), [FLEET_PUB])["id"]
    rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=ids, canaries=[ids[0]])["id"]
    keys = tmp_path / "keys"
    keys.mkdir()  # no key for the canary: it fails before any byte is sent, and the rollout pauses
    r = CliRunner().invoke(cunbox, ["firmware", "rollout-run", str(rid), "--board-keys", str(keys),
                                    "--database-url", db.url])
    assert r.exit_code == 1, r.output
    assert "auto-paused" in r.output and "%d.key" % ids[0] in r.output
    p = rollout.progress(db, world.maintainer, rid)
    assert [b["state"] for b in p["boards"]] == ["failed", "pending"]


def test_fwupd_rollout_run_cli_uses_the_links_sealed_keys(db, world, tmp_path, monkeypatch):
    """Without --board-keys the rollout takes each board's key from the link's key store (sealed in
    link_boards) and its auth counter from there too: a simulated board is updated, a board the link
    holds no key for fails with a clear reason."""
    from click.testing import CliRunner

    from hardware_sim.fw_sim_board import SimBoard, provision_dir
    from server.cli import main as cunbox
    from server.firmware import build as builder
    from server.link.keys import Sealer
    from server.link.models import LinkBoard
    from server.models import Station
    from server.services import link_state

    small = ("firmware/__init__.mpy", "firmware/boot_select.mpy", "firmware/fwupdate.mpy", "protocol/__init__.mpy")
    files = [(p, d) for p, d in builder.compile_tree(builder.pathlib.Path(__file__).resolve().parents[1])
             if p in small]

    def img(version):
        return builder.pack(files, builder.make_manifest(files, version, FAMILY, 1, mpy=6), FLEET)

    secret = "rollout-test-server-secret-0123456789"
    monkeypatch.setenv("CUNBOX_SECRET", secret)
    key = b"\x5a" * 32
    root = tmp_path / "board"
    root.mkdir()
    provision_dir(str(root), img("1.0.0"), [FLEET_PUB])
    sim = SimBoard(str(root), 1, key.hex(), [FLEET_PUB.hex()], FAMILY)
    try:
        with db.transaction() as s:
            st = s.get(Station, world.station_id)
            lk = provisioning.locker(s, st, "sim", sim.url, [(1, [("S", False, "low")] * 4)])
            lk.boards[0].firmware_version = "1.0.0"
            keyed = lk.boards[0].id
            lk2 = provisioning.locker(s, st, "unkeyed", "socket://127.0.0.1:9", [(1, [("S", False, "low")])])
            lk2.boards[0].firmware_version = "1.0.0"
            unkeyed = lk2.boards[0].id
        link_state.provision_key(db, keyed, key, Sealer(secret.encode()))
        rel = rollout.upload_release(db, world.maintainer, img("1.1.0"), [FLEET_PUB])["id"]
        rid = rollout.create_rollout(db, world.maintainer, rel, board_ids=[keyed, unkeyed], canaries=[keyed],
                                     failure_threshold=1.0)["id"]
        r = CliRunner().invoke(cunbox, ["firmware", "rollout-run", str(rid), "--database-url", db.url,
                                        "--baud", "115200"])
        rows = {b["board_id"]: b for b in rollout.progress(db, world.maintainer, rid)["boards"]}
        assert rows[keyed]["state"] == "done" and rows[keyed]["version"] == "1.1.0", (rows, r.output)
        assert [v for _s, v in sim.boots] == ["1.0.0", "1.1.0"]
        assert rows[unkeyed]["state"] == "failed", rows
        assert "no key in the link's key store" in rows[unkeyed]["last_error"]
        with db.reading() as s:
            assert s.get(LinkBoard, keyed).counter > 0  # counters reserved where the link keeps them
    finally:
        sim.close()
