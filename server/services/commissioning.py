"""Commissioning a cabinet's lock boards from far away (maintainers are far from the villages).

The controller board owns its lock-board bus, so the probe runs there (firmware/lock_commission.py)
and the server drives it through the locker link's queue, like every command: a `commission` row
(op scan | read | push) in locker_commands, executed by the locker's bus master
(server/link/commission_job.py), which reports the board's LOCK_PROBE_STATUS back here.

The steps (the CLI `cunbox locker commission` and the fleet page walk them):
1. scan: the board finds the dialect, baud rate, board addresses and channel count; the result is
   kept as the board's profile (state 'found');
2. store the profile and send it (CONFIG_SET lock.*): the board takes it only if its bus answers it,
   and rebuilds its lock driver from it; a refusal is kept with what the bus answered;
3. polarity: open one door through the normal door path, read that lock's raw feedback with the door
   open (read), and again once the person has shut it; the two readings give the polarity, which is
   stored and sent again (lock-boards.md rule 3).
Boards without CAP_LOCK_PROBE (older firmware) are never sent a probe: the link fails the command as
not supported and they keep working as they are.
"""
from sqlalchemy import select

from server import clock, texts
from server.errors import BadRequest, NotFound
from server.models import Board, Compartment, Locker, LockerCommand
from server.models.commissioning import LOCK_TYPES, POLARITIES, LockProfile
from server.services import audit, doors
from server.services.doors import command_json, locker_station

DIALECTS = {"kerong": 1, "8a": 2, "modbus": 3}
DIALECT_NAMES = {1: "kerong", 2: "8a", 3: "modbus"}
BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PROBE_STATES = {0: "idle", 1: "running", 2: "done", 3: "nothing", 4: "stopped"}
NO_READING = 0xFF
FLAG_CHANNELS_UNSETTLED = 0x01
FLAG_OUT_OF_TIME = 0x02
# the raw feedback of a latched lock, per polarity: Kerong / Modbus a bit, 8A the state byte
LATCHED_READING = {"hook_1_is_locked": 1, "hook_1_is_open": 0, "input_1_is_locked": 1, "input_1_is_open": 0,
                   "short_when_locked": 0x11, "short_when_open": 0x00}


def board_of(s, locker_id, address=None):
    """The locker's board at `address` (None: its first board)."""
    if s.get(Locker, locker_id) is None:
        raise NotFound("no locker %s" % locker_id)
    q = select(Board).where(Board.locker_id == locker_id).order_by(Board.address)
    if address is not None:
        q = q.where(Board.address == address)
    board = s.scalars(q.limit(1)).first()
    if board is None:
        raise NotFound("no board %s in locker %s" % (address, locker_id) if address is not None
                       else "locker %s has no boards" % locker_id)
    return board


# ---- queueing work for the board --------------------------------------------------------------

def start_scan(db, locker_id, actor, address=None, dialect=None, baud=0, boards=(), budget_s=180):
    """Queue a probe of the board's lock bus (every dialect unless one is named). Returns the command."""
    if dialect is not None and dialect not in DIALECTS:
        raise BadRequest("dialect must be one of %s" % ", ".join(DIALECTS), code="bad_dialect", field="dialect")
    if baud and baud not in BAUDS:
        raise BadRequest("unsupported baud rate %r" % baud, code="bad_baud", field="baud")
    payload = {"op": "scan", "dialect": DIALECTS.get(dialect, 0), "baud": int(baud or 0),
               "boards": [int(b) for b in boards][:16], "lock": 0, "budget_s": int(budget_s)}
    return _queue(db, locker_id, address, payload, actor)


def start_read(db, locker_id, actor, lock, address=None, phase=None):
    """Queue one raw reading of `lock` (a compartment number of this board, from 1) in the board's
    profile: the polarity check (phase "open" or "shut": the door's state the reading is for, kept
    for the page). Returns the command."""
    def plan(s, board):
        prof = s.get(LockProfile, board.id)
        if prof is None:
            raise BadRequest("probe the lock bus first", code="not_probed")
        boards = _addresses(prof.boards)
        per = prof.per_board or 16
        if not 1 <= lock <= per * len(boards):
            raise BadRequest("no lock %d in this profile" % lock, code="bad_lock", field="lock")
        return {"op": "read", "dialect": DIALECTS[prof.type], "baud": prof.baud,
                "boards": [boards[(lock - 1) // per]], "lock": (lock - 1) % per + 1, "budget_s": 30,
                "compartment": lock, "phase": phase}
    return _queue(db, locker_id, address, plan, actor)


def push(db, locker_id, actor, address=None):
    """Queue the board's stored profile as CONFIG_SET lock.* (the board checks it against its bus)."""
    def plan(s, board):
        prof = s.get(LockProfile, board.id)
        if prof is None or prof.state == "found":
            raise BadRequest("store a profile first", code="no_profile")
        return {"op": "push", "items": config_items(profile_json(prof))}
    return _queue(db, locker_id, address, plan, actor)


def open_for_check(db, locker_id, address, door, actor):
    """Open door `door` of the board through the normal door path (queued, audited, with its
    deadline), for the polarity check. Returns the open command."""
    def fn(s):
        board = board_of(s, locker_id, address)
        comp = s.scalar(select(Compartment).where(Compartment.board_id == board.id, Compartment.index == door))
        if comp is None:
            raise NotFound("no door %d on board %d" % (door, board.address))
        cmd = doors.open_door(s, comp, "staff", actor, station_id=locker_station(s, locker_id))
        return command_json(cmd)
    out = db.run(fn)
    doors.driver().locker_has_work(db, locker_id)
    return out


def _queue(db, locker_id, address, payload, actor):
    def fn(s):
        board = board_of(s, locker_id, address)
        body = payload(s, board) if callable(payload) else dict(payload)
        body["board"] = board.address
        cmd = LockerCommand(locker_id=locker_id, board_id=board.id, kind="commission", payload=body,
                            requested_by=actor)
        s.add(cmd)
        s.flush()
        audit.record(s, actor, "commission_requested", station_id=locker_station(s, locker_id), locker_id=locker_id,
                     detail={"board_id": board.id, "op": body["op"], "command_id": cmd.id})
        return command_json(cmd)
    out = db.run(fn)
    doors.driver().locker_has_work(db, locker_id)
    return out


# ---- what the link reports ----------------------------------------------------------------------

def record_status(db, command_id, status, refused_key=None):
    """The link: the board's LOCK_PROBE_STATUS for a commission command (progress while it runs, the
    result at the end), or, for a push the board refused, the refused item's key and the status it
    gave then. A finished scan becomes the board's found profile; a push's outcome its state."""
    status = status_json(status) if status is not None else None

    def fn(s):
        cmd = s.get(LockerCommand, command_id)
        if cmd is None or cmd.kind != "commission":
            raise NotFound("no commission command %s" % command_id)
        body = dict(cmd.payload or {})
        if status is not None:
            body["status"] = status
        if refused_key is not None:
            body["refused_key"] = refused_key
        cmd.payload = body
        if body["op"] == "scan" and status is not None and status["state"] in ("done", "nothing", "stopped"):
            _found(s, cmd, status)
        return body
    return db.run(fn)


def push_done(db, command_id, applied):
    def fn(s):
        cmd = s.get(LockerCommand, command_id)
        prof = s.get(LockProfile, cmd.board_id)
        if prof is not None:
            prof.state = "sent" if applied else "refused"
            if applied:
                prof.refusal = None
            else:
                prof.refusal = refusal(profile_json(prof), (cmd.payload or {}).get("status"),
                                       (cmd.payload or {}).get("refused_key"), prof.found)
            prof.updated_by = cmd.requested_by
        return None
    return db.run(fn)


def _found(s, cmd, status):
    prof = s.get(LockProfile, cmd.board_id)
    if prof is None:
        prof = LockProfile(board_id=cmd.board_id, type="kerong", baud=0, boards="", per_board=0, ir=False,
                           state="found", updated_by=cmd.requested_by)
        s.add(prof)
    prof.found = status
    if status["state"] == "done" and status["dialect"] and prof.state in ("found", "refused"):
        # what the bus answered becomes the profile to store; one stored already is kept
        prof.type = status["dialect"]
        prof.baud = status["baud"]
        prof.boards = ",".join(str(b) for b in status["boards"])
        prof.per_board = status["per_board"]
        prof.state = "found"
    prof.updated_by = cmd.requested_by
    prof.updated_at = clock.utcnow()


def status_json(st):
    """LOCK_PROBE_STATUS fields as stored: names for numbers, raw bytes as hex."""
    return {"state": PROBE_STATES.get(st["state"], str(st["state"])), "mode": st["mode"],
            "progress": st["progress"], "channels_unsettled": bool(st["flags"] & FLAG_CHANNELS_UNSETTLED),
            "out_of_time": bool(st["flags"] & FLAG_OUT_OF_TIME), "dialect": DIALECT_NAMES.get(st["dialect"]),
            "baud": st["baud"], "queried": list(st["queried"]), "boards": list(st["boards"]),
            "per_board": st["per_board"], "raw": bytes(st["raw"]).hex(),
            "feedback": None if st["feedback"] == NO_READING else st["feedback"],
            "ir": None if st["ir"] == NO_READING else st["ir"], "bad_replies": st["bad_replies"]}


# ---- reading ------------------------------------------------------------------------------------

def command(db, command_id):
    """A commission command as the CLI and the page follow it: state, op, the board's status."""
    with db.reading() as s:
        cmd = s.get(LockerCommand, command_id)
        if cmd is None or cmd.kind != "commission":
            raise NotFound("no commission command %s" % command_id)
        body = cmd.payload or {}
        return {"id": cmd.id, "state": cmd.state, "result": cmd.result, "op": body.get("op"),
                "status": body.get("status"), "board": body.get("board"), "compartment": body.get("compartment"),
                "refused_key": body.get("refused_key")}


def profile(db, locker_id, address=None):
    """The board's profile (or None) and the commands of its commissioning so far."""
    with db.reading() as s:
        board = board_of(s, locker_id, address)
        prof = s.get(LockProfile, board.id)
        cmds = s.scalars(select(LockerCommand).where(LockerCommand.board_id == board.id,
                                                     LockerCommand.kind == "commission")
                         .order_by(LockerCommand.id.desc()).limit(10)).all()
        count = len(s.scalars(select(Compartment.id).where(Compartment.board_id == board.id)).all())
        return {"board_id": board.id, "address": board.address, "compartments": count,
                "profile": profile_json(prof) if prof is not None else None,
                "commands": [{"id": c.id, "state": c.state, "result": c.result, "op": (c.payload or {}).get("op"),
                              "status": (c.payload or {}).get("status"), "phase": (c.payload or {}).get("phase"),
                              "compartment": (c.payload or {}).get("compartment")} for c in cmds]}


def readings(prof_view):
    """The polarity check so far, from profile()'s commands (newest first): the latest finished
    reading with the door open, the first with the door shut after it, and the polarity they give
    (None while either is missing or they do not tell)."""
    shut = opened = None
    for c in prof_view["commands"]:
        if c["op"] != "read" or c["state"] != "done" or not c["status"]:
            continue
        if c["phase"] == "shut" and shut is None and opened is None:
            shut = c
        elif c["phase"] == "open" and opened is None:
            opened = c
    if opened is not None and shut is not None and shut["id"] < opened["id"]:
        shut = None  # shut before this opening: it says nothing about it
    out = {"open": opened["status"]["feedback"] if opened else None,
           "shut": shut["status"]["feedback"] if shut else None, "polarity": None}
    prof = prof_view["profile"]
    if prof and out["open"] is not None and out["shut"] is not None:
        try:
            out["polarity"] = derive_polarity(prof["type"], out["open"], out["shut"])
        except BadRequest as exc:
            out["problem"] = exc.code
    return out


def profile_json(prof):
    return {"type": prof.type, "baud": prof.baud, "boards": _addresses(prof.boards), "per_board": prof.per_board,
            "polarity": prof.polarity, "ir": prof.ir, "window_ms": prof.window_ms, "state": prof.state,
            "found": prof.found, "refusal": prof.refusal}


def _addresses(text):
    return [int(x) for x in (text or "").split(",") if x.strip()]


# ---- storing ------------------------------------------------------------------------------------

def store(db, locker_id, actor, address=None, **fields):
    """Store the board's profile: the found one, with the fields given (type, baud, boards,
    per_board, polarity, ir, window_ms) over it. Checked as the board checks it."""
    def fn(s):
        board = board_of(s, locker_id, address)
        prof = s.get(LockProfile, board.id)
        if prof is None:
            if not fields.get("type"):
                raise BadRequest("probe the lock bus first", code="not_probed")
            prof = LockProfile(board_id=board.id, type="kerong", baud=0, boards="", per_board=0, ir=False,
                               state="found", updated_by=actor)
            s.add(prof)
        want = profile_json(prof)
        want.update({k: v for k, v in fields.items() if v is not None})
        checked = check_profile(want)
        prof.type, prof.baud, prof.per_board = checked["type"], checked["baud"], checked["per_board"]
        prof.boards = ",".join(str(b) for b in checked["boards"])
        prof.polarity, prof.ir, prof.window_ms = checked["polarity"], checked["ir"], checked["window_ms"]
        prof.state = "stored"
        prof.refusal = None
        prof.updated_by = actor
        prof.updated_at = clock.utcnow()
        audit.record(s, actor, "lock_profile_stored", station_id=locker_station(s, locker_id), locker_id=locker_id,
                     detail={"board_id": board.id, "profile": config_items(checked)})
        return profile_json(prof)
    return db.run(fn)


def check_profile(p):
    kind = p.get("type")
    if kind not in LOCK_TYPES or kind == "gpio":
        raise BadRequest("lock type must be one of kerong, 8a, modbus", code="bad_profile", field="type")
    if p.get("baud") not in BAUDS:
        raise BadRequest("unsupported baud rate %r" % (p.get("baud"),), code="bad_profile", field="baud")
    boards = p.get("boards") or []
    first, last = (0, 15) if kind == "kerong" else (1, 247)
    if not boards or len(boards) > 16 or any(not first <= b <= last for b in boards):
        raise BadRequest("board addresses must be %d..%d" % (first, last), code="bad_profile", field="boards")
    per = p.get("per_board") or 0
    if not 1 <= per <= 50 or (kind == "kerong" and per != 16):
        raise BadRequest("channels per board must be 1..50 (kerong: 16)", code="bad_profile", field="per_board")
    pol = p.get("polarity")
    if pol is not None and pol not in POLARITIES[kind]:
        raise BadRequest("polarity must be one of %s" % ", ".join(POLARITIES[kind]), code="bad_profile",
                         field="polarity")
    window = p.get("window_ms")
    if window is not None and not 10 <= window <= 5000:
        raise BadRequest("window_ms must be 10..5000", code="bad_profile", field="window_ms")
    return {"type": kind, "baud": p["baud"], "boards": list(boards), "per_board": per, "polarity": pol,
            "ir": bool(p.get("ir")), "window_ms": window}


def config_items(p):
    """The profile as the board takes it: CONFIG_SET items (keys <= 16, values <= 32 characters)."""
    items = [("lock.type", p["type"]), ("lock.baud", str(p["baud"])),
             ("lock.boards", ",".join(str(b) for b in p["boards"])), ("lock.per_board", str(p["per_board"]))]
    if p.get("polarity"):
        items.append(("lock.polarity", p["polarity"]))
    items.append(("lock.ir", "1" if p.get("ir") else "0"))
    if p.get("window_ms"):
        items.append(("lock.window_ms", str(p["window_ms"])))
    for k, v in items:
        if len(v) > 32:
            raise BadRequest("%s is longer than a board setting (32 characters)" % k, code="bad_profile", field=k[5:])
    return [{"key": k, "value": v} for k, v in items]


def derive_polarity(kind, open_reading, shut_reading):
    """The polarity from one lock's raw feedback with its door open and then shut by a person."""
    if open_reading is None or shut_reading is None:
        raise BadRequest("the lock board gave no reading", code="no_reading")
    if open_reading == shut_reading:
        raise BadRequest("the feedback did not change between open and shut (%r): check the wiring, or that "
                         "the door was shut" % (open_reading,), code="feedback_unchanged")
    for pol in POLARITIES[kind]:
        if LATCHED_READING[pol] == shut_reading:
            return pol
    raise BadRequest("reading %r fits no %s polarity" % (shut_reading, kind), code="feedback_unknown")


# ---- why a board refused ------------------------------------------------------------------------

def refusal(prof, status, refused_key, found):
    """The facts of a refusal: the listed boards that did not answer in that dialect and baud, and
    what the last scan found (kept as data; worded by refusal_text in the reader's language)."""
    out = {"key": refused_key, "missing": [], "type": prof["type"], "baud": prof["baud"]}
    if status and status.get("dialect") == prof["type"] and status.get("baud") == prof["baud"]:
        out["missing"] = [b for b in prof["boards"] if b in status["queried"] and b not in status["boards"]]
    if found and found.get("state") == "done" and found.get("dialect"):
        out["found"] = {"type": found["dialect"], "baud": found["baud"], "boards": found["boards"]}
    elif found:
        out["found"] = {}
    return out


def dialect_text(name, lang=texts.SOURCE):
    return texts.text("commission.dialect_" + name, lang) if name in DIALECTS else str(name)


def polarity_text(name, lang=texts.SOURCE):
    return texts.text("commission.pol_" + name, lang) if name in LATCHED_READING else str(name)


def refusal_text(r, lang=texts.SOURCE):
    if not r:
        return ""
    parts = [texts.text("commission.no_answer", lang, board=b, baud=r["baud"], dialect=dialect_text(r["type"], lang))
             for b in r.get("missing", [])]
    if not parts:
        parts.append(texts.text("commission.refused_key", lang, setting=r.get("key") or "?"))
    f = r.get("found")
    if f:
        parts.append(texts.text("commission.found", lang, dialect=dialect_text(f["type"], lang), baud=f["baud"],
                                boards=",".join(str(b) for b in f["boards"])))
    elif f is not None:
        parts.append(texts.text("commission.found_nothing", lang))
    else:
        parts.append(texts.text("commission.not_probed", lang))
    return texts.text("commission.separator", lang).join(parts)


def status_text(st, lang=texts.SOURCE):
    """One line on what a probe found (or is doing), for the CLI and the page."""
    if not st:
        return texts.text("commission.waiting", lang)
    if st["state"] == "running":
        return texts.text("commission.progress", lang, progress=st["progress"])
    if st["state"] == "done" and st["boards"]:
        line = texts.text("commission.found_channels", lang, dialect=dialect_text(st["dialect"], lang), baud=st["baud"],
                          boards=",".join(str(b) for b in st["boards"]), channels=st["per_board"] or "?")
        if st["channels_unsettled"]:
            line += texts.text("commission.separator", lang) + texts.text("commission.unsettled", lang)
        return line
    if st["state"] == "stopped" and st["out_of_time"]:
        return texts.text("commission.out_of_time", lang)
    return texts.text("commission.found_nothing", lang)
