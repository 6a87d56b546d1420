"""`cunbox locker commission <locker> [--board N]`: commission a cabinet's lock boards from far away.

The work goes through the locker link like any command (services/commissioning.py): whatever runs
the link (`cunbox serve` in-process, or `cunbox link` workers) executes it, and this command follows
it. Steps: probe the board's lock bus and print what answered; store that profile and send it (the
board checks it against its bus and refuses what does not answer); then the polarity check with a
person at the cabinet: door N is opened through the normal door path, its lock's raw feedback read
with the door open and again once the person has shut it; the polarity so found is stored and sent.
"""
import time

import click

WAIT_S = 900.0  # a full scan of a silent bus in every dialect takes up to about 3 minutes


class Failed(Exception):
    pass


def follow(db, command_id, say, lang, timeout=WAIT_S, poll_s=0.3):
    """Wait for a commission command to end, saying its progress as it changes; returns it."""
    from server.services import commissioning

    end = time.monotonic() + timeout
    last = None
    while True:
        c = commissioning.command(db, command_id)
        line = commissioning.status_text(c["status"], lang) if c["op"] != "push" else None
        if line and line != last and c["state"] in ("queued", "sent"):
            say(line)
            last = line
        if c["state"] in ("done", "failed"):
            return c
        if time.monotonic() >= end:
            raise Failed("no answer within %d s: is the locker link running (cunbox serve / cunbox link)?" % timeout)
        time.sleep(poll_s)


def _outcome(c, lang):
    from server import texts

    if c["result"] == "not_supported":
        raise Failed(texts.text("commission.not_supported", lang))
    if c["state"] != "done":
        raise Failed(texts.text("commission.failed", lang, result=c["result"]))
    return c


def commission(db, locker_id, address, ask, say, actor="maintainer:cli", lang="zh", door=1, dialect=None,
               baud=0, boards=(), polarity_check=True):
    """The whole walk; ask(question) -> bool, say(line). Returns the profile the board took."""
    from server import texts
    from server.services import commissioning, link_commands

    scan = commissioning.start_scan(db, locker_id, actor, address, dialect=dialect, baud=baud, boards=boards)
    found = _outcome(follow(db, scan["id"], say, lang), lang)["status"]
    say(commissioning.status_text(found, lang))
    if found["state"] != "done" or not found["boards"]:
        raise Failed(texts.text("commission.found_nothing", lang))
    prof = commissioning.profile(db, locker_id, address)["profile"]
    if not prof["per_board"]:
        raise Failed("the channel count was not found: store it by hand (per_board)")
    _send(db, locker_id, address, actor, say, lang, {})
    if not polarity_check:
        return commissioning.profile(db, locker_id, address)["profile"]
    if not ask("open door %d now?" % door):
        return commissioning.profile(db, locker_id, address)["profile"]
    opened = commissioning.open_for_check(db, locker_id, address, door, actor)
    state, result = link_commands.wait_final(db, opened["id"], 60)
    if state != "done":
        raise Failed("door %d did not open: %s" % (door, result or state))
    reading_open = _read(db, locker_id, address, door, actor, say, lang, "open")
    if not ask("door %d is open; shut it now, then answer: is it shut?" % door):
        return commissioning.profile(db, locker_id, address)["profile"]
    reading_shut = _read(db, locker_id, address, door, actor, say, lang, "shut")
    pol = commissioning.derive_polarity(found["dialect"], reading_open, reading_shut)
    say(texts.text("commission.derived", lang, polarity=commissioning.polarity_text(pol, lang)))
    return _send(db, locker_id, address, actor, say, lang, {"polarity": pol})


def _read(db, locker_id, address, door, actor, say, lang, phase):
    from server import texts
    from server.services import commissioning

    cmd = commissioning.start_read(db, locker_id, actor, door, address, phase=phase)
    st = _outcome(follow(db, cmd["id"], say, lang), lang)["status"]
    say(texts.text("commission.reading", lang, value="%s (raw %s)" % (st["feedback"], st["raw"])))
    return st["feedback"]


def _send(db, locker_id, address, actor, say, lang, fields):
    from server import texts
    from server.services import commissioning

    stored = commissioning.store(db, locker_id, actor, address, **fields)
    cmd = commissioning.push(db, locker_id, actor, address)
    c = follow(db, cmd["id"], say, lang)
    prof = commissioning.profile(db, locker_id, address)["profile"]
    if c["state"] != "done":
        if c["result"] == "not_supported":
            raise Failed(texts.text("commission.not_supported", lang))
        raise Failed(texts.text("commission.refused", lang, why=commissioning.refusal_text(prof["refusal"], lang)
                                or c["result"]))
    say("%s: %s" % (texts.text("commission.state_sent", lang), " ".join(
        "%s=%s" % (i["key"], i["value"]) for i in commissioning.config_items(stored))))
    return prof


@click.group("locker")
def locker_cli():
    """Maintainer work on one locker."""


@locker_cli.command("commission")
@click.argument("locker_id", type=int)
@click.option("--board", type=int, help="the controller board's bus address (default: the locker's first)")
@click.option("--door", default=1, show_default=True, type=int, help="the door opened for the polarity check")
@click.option("--dialect", type=click.Choice(["kerong", "8a", "modbus"]), help="probe this dialect only")
@click.option("--baud", default=0, type=int, help="probe this baud rate only")
@click.option("--addresses", default="", help="probe these lock-board addresses only, e.g. 1,2 (8A boards are "
              "waited for 1.5 s each)")
@click.option("--no-polarity", is_flag=True, help="stop after the profile is sent (no door is opened)")
@click.option("--lang", default="zh", show_default=True, type=click.Choice(["zh", "en"]))
def commission_cmd(locker_id, board, door, dialect, baud, addresses, no_polarity, lang):
    """Probe a locker's lock-board bus, store and send the profile, check the feedback polarity."""
    from server import config as server_config
    from server import migrate
    from server.db import Database
    from server.errors import ApiError

    cfg = server_config.load()
    if migrate.current_revision(cfg["DATABASE_URL"]) is None:
        raise click.ClickException("the database has no schema; run `cunbox db upgrade` first")
    db = Database(cfg["DATABASE_URL"], settings=cfg)
    try:
        commission(db, locker_id, board, lambda q: click.confirm(q, default=True), click.echo, lang=lang, door=door,
                   dialect=dialect, baud=baud, boards=[int(x) for x in addresses.split(",") if x.strip()],
                   polarity_check=not no_polarity)
    except (Failed, ApiError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
