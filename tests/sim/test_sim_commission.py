"""Commissioning through the real locker link: the server queues the probe, the link's bus master
drives the board over a real TCP link, the simulated cabinet's lock boards have hidden settings, and
commissioning finds them; a wrong profile is refused with a message naming what was found."""
import html

import pytest
from support.link_stack import online_stack, wait_for
from support.web_world import csrf_of

from server import locker_cli
from server.services import commissioning, link_state

pytestmark = pytest.mark.timeout(180)


def _stack(tmp_path, lock_type, per_board, hidden, **board_options):
    gen = online_stack(tmp_path / "stack", transport="tcp", boards=1, per_board=per_board,
                       board_options=dict(board_options, lock_type=lock_type))
    st = next(gen)
    sim = st.sims[st.locker_ids[0]]
    sim.board(1).lockboard_options = hidden  # how the cabinet's lock boards are really set
    sim.reboot(1)
    wait_for(lambda: sim.board(1).server is not None and sim.board(1).lockboard.baud == hidden.get("baud"),
             what="board rebooted with its lock boards")
    wait_for(lambda: all(b["online"] for b in link_state.board_status(st.db, st.locker_ids[0])), what="online")
    return st, sim, gen


def _page(st, lang="en"):
    """The board's commissioning page, as a signed-in maintainer sees it (Flask test client)."""
    from sqlalchemy import select

    from server.models import Board
    c = st.app.test_client()
    token = csrf_of(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"login": "maint", "password": "demo-maint", "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    with st.db.reading() as s:
        board_id = s.scalar(select(Board.id).where(Board.locker_id == st.locker_ids[0]))
    r = c.get("/fleet/boards/%d/commission?lang=%s" % (board_id, lang))
    assert r.status_code == 200
    return html.unescape(r.get_data(as_text=True))


def _done(gen):
    with pytest.raises(StopIteration):
        next(gen)


def test_kerong_boards_found_and_a_wrong_profile_refused_naming_what_was_found(tmp_path):
    st, sim, gen = _stack(tmp_path, "kerong", 32, {"boards": [2, 3], "baud": 38400, "polarity": "hook_1_is_open"})
    try:
        lid = st.locker_ids[0]
        lines = []
        cmd = commissioning.start_scan(st.db, lid, "maintainer:test")
        c = locker_cli.follow(st.db, cmd["id"], lines.append, "en")
        assert c["state"] == "done", c
        found = c["status"]
        assert (found["dialect"], found["baud"], found["boards"], found["per_board"]) == ("kerong", 38400, [2, 3], 16)
        assert any(line.startswith("probing the lock bus: ") for line in lines)  # progress was reported
        assert commissioning.status_text(found, "en") == "found kerong boards 2,3 at 38400, 16 channels each"
        prof = commissioning.profile(st.db, lid)["profile"]
        assert (prof["type"], prof["baud"], prof["boards"], prof["state"]) == ("kerong", 38400, [2, 3], "found")
        # a wrong profile stored and sent: the board checks its bus, finds nobody there, refuses it
        commissioning.store(st.db, lid, "maintainer:test", type="kerong", baud=19200, boards=[0, 1], per_board=16,
                            polarity="hook_1_is_locked")
        c = locker_cli.follow(st.db, commissioning.push(st.db, lid, "maintainer:test")["id"], lines.append, "en")
        assert (c["state"], c["result"]) == ("failed", "refused:lock.boards")
        prof = commissioning.profile(st.db, lid)["profile"]
        assert prof["state"] == "refused"
        assert commissioning.refusal_text(prof["refusal"], "en") == (
            "no answer from board 0 at 19200 in kerong; no answer from board 1 at 19200 in kerong; "
            "found kerong boards 2,3 at 38400")
        assert commissioning.refusal_text(prof["refusal"], "zh").endswith("找到科荣锁控板2,3，波特率38400")
        assert sim.board(1).server.commission.summary().startswith("kerong/19200/")  # the board changed nothing
        assert sim.total_pulses() == 0
        page = _page(st)  # the fleet page shows what was found and why the board refused
        assert "found kerong boards 2,3 at 38400, 16 channels each" in page
        assert ("The board refused the profile: no answer from board 0 at 19200 in kerong; no answer from board 1 "
                "at 19200 in kerong; found kerong boards 2,3 at 38400") in page
        assert "refused by the board" in page
        zh = _page(st, "zh")
        assert "控制板拒绝了配置" in zh and "找到科荣锁控板2,3，波特率38400，每板16路" in zh
        from support.page_words import english_words
        assert english_words(zh)[0] == []  # every word of it from the catalogue, in Chinese
        # the profile the bus does answer: taken, and the boards at 2 and 3 drive the doors, once each
        commissioning.store(st.db, lid, "maintainer:test", type="kerong", baud=38400, boards=[2, 3], per_board=16,
                            polarity="hook_1_is_open")
        c = locker_cli.follow(st.db, commissioning.push(st.db, lid, "maintainer:test")["id"], lines.append, "en")
        assert c["state"] == "done", c
        assert sim.board(1).server.commission.summary() == "kerong/38400/2,3/16/hook_1_is_open"
        from server.services import link_commands
        opened = commissioning.open_for_check(st.db, lid, None, 1, "maintainer:test")
        assert link_commands.wait_final(st.db, opened["id"], 20)[0] == "done"
        assert sim.compartment(1, 1).pulses == 1 and sim.total_pulses() == 1
    finally:
        _done(gen)


def test_8a_board_commissioned_end_to_end_with_the_polarity_check(tmp_path):
    st, sim, gen = _stack(tmp_path, "8a", 12, {"baud": 9600, "polarity": "short_when_locked"}, x8a_per_board=12)
    try:
        lid = st.locker_ids[0]
        door = sim.compartment(1, 1)
        asked, lines = [], []

        def person(question):  # the maintainer on the phone with someone at the cabinet
            asked.append(question)
            if len(asked) == 2:  # "shut it now": the person waits for the latch to drop, then shuts it
                wait_for(lambda: door.door_open and not door.coil, what="door open, pulse over")
                door.close()
                wait_for(lambda: not door.hook_released(), what="latch shut")
            return True

        prof = locker_cli.commission(st.db, lid, None, person, lines.append, actor="maintainer:test", lang="en",
                                     door=1, dialect="8a", boards=[1, 2])
        assert asked[0] == "open door 1 now?"
        assert "found 8a boards 1 at 9600, 12 channels each" in lines
        assert "Polarity found: short_when_locked" in lines
        assert (prof["type"], prof["baud"], prof["boards"], prof["per_board"], prof["polarity"], prof["state"]) == (
            "8a", 9600, [1], 12, "short_when_locked", "sent")
        assert sim.board(1).server.commission.summary() == "8a/9600/1/12/short_when_locked"
        assert door.pulses == 1  # one door opened, once
        page = _page(st)
        assert "taken by the board" in page and "found 8a boards 1 at 9600, 12 channels each" in page
        assert 'id="p-polarity" data-value="short_when_locked">short_when_locked<' in page
        assert "Polarity found: short_when_locked" in page  # from the two readings the CLI took
    finally:
        _done(gen)


def test_a_board_that_cannot_probe_is_sent_nothing_and_keeps_working(tmp_path):
    gen = online_stack(tmp_path / "stack", transport="tcp", boards=1, per_board=4)  # GPIO locks: no lock bus
    st = next(gen)
    try:
        lid = st.locker_ids[0]
        c = locker_cli.follow(st.db, commissioning.start_scan(st.db, lid, "maintainer:test")["id"], print, "en")
        assert (c["state"], c["result"]) == ("failed", "not_supported")
        opened = commissioning.open_for_check(st.db, lid, None, 1, "maintainer:test")
        from server.services import link_commands
        assert link_commands.wait_final(st.db, opened["id"], 20)[0] == "done"
    finally:
        _done(gen)


def test_the_cli_command_is_registered():
    from click.testing import CliRunner

    from server.cli import main
    r = CliRunner().invoke(main, ["locker", "commission", "--help"])
    assert r.exit_code == 0, r.output
    assert "--board" in r.output and "--no-polarity" in r.output
