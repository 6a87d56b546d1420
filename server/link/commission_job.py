"""A commission command of the queue (services/commissioning.py), run by the locker's BusMaster.

op scan / read: LOCK_PROBE, then LOCK_PROBE_STATUS every POLL_S, each reading reported to the
service (progress for the CLI and the page), until the board says the probe ended.
op push: CONFIG_SET lock.*; a board that has not yet checked its bus against the profile starts a
check and answers NAK BUSY: the job then follows that check as above and sends the profile again (a
new request), at most PUSH_ROUNDS times. NAK BAD_PAYLOAD: the board refused the profile; the job
reads LOCK_PROBE_STATUS for what the bus answered and reports both.

Between readings the command goes back on the board's deferred list (as firmware_job does), so door
opens and the other boards' polls are served meanwhile. Boards without CAP_LOCK_PROBE are sent
nothing: the command fails as not supported.
"""
import logging
import time

from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_BUSY, LocalProtocolError, nak_name
from protocol.session import NAK
from server.services import commissioning, link_commands

log = logging.getLogger("cunbox.link")

POLL_S = 0.3
PUSH_ROUNDS = 3
FOLLOW_LIMIT_S = 600  # a probe the board never reports ended is given up after this


def execute(master, b, cmd):
    if not b.capabilities & m.CAP_LOCK_PROBE:
        _finish(master, b, cmd, "failed", "not_supported")
        return
    work = cmd.setdefault("_cm", {"phase": "start", "rounds": 0, "since": time.monotonic()})
    body = cmd["payload"] or {}
    try:
        if work["phase"] == "start":
            if body.get("op") == "push":
                _push(master, b, cmd, work)
            else:
                _start(master, b, cmd, work)
        else:
            _follow(master, b, cmd, work)
    except LocalProtocolError as exc:
        _finish(master, b, cmd, "failed", "link_error:%s" % str(exc)[:28])


def _start(master, b, cmd, work):
    body = cmd["payload"]
    mode = m.PROBE_READ if body["op"] == "read" else m.PROBE_SCAN
    r = master.call(b.address, m.LOCK_PROBE, {"mode": mode, "dialect": body.get("dialect", 0),
                                              "baud": body.get("baud", 0), "boards": body.get("boards", []),
                                              "lock": body.get("lock", 0), "budget_s": body.get("budget_s", 0)})
    if r.ok:
        work["phase"] = "follow"
        _later(b, cmd)
    elif r.kind == NAK and r.nak_code == NAK_BUSY:
        _later(b, cmd)  # a probe or a door opening: nothing started; ask again
    elif r.kind == NAK:
        _finish(master, b, cmd, "failed", "nak:%s" % nak_name(r.nak_code).lower())
    else:
        _suspend(master, b, cmd, "probe: %s" % r.kind)


def _push(master, b, cmd, work):
    items = cmd["payload"]["items"]
    r = master.call(b.address, m.CONFIG_SET, {"items": items})
    if r.ok:
        commissioning.push_done(master.db, cmd["id"], True)
        _finish(master, b, cmd, "done", "applied:%d" % r.fields["applied"])
    elif r.kind == NAK and r.nak_code == NAK_BUSY and work["rounds"] < PUSH_ROUNDS:
        work["rounds"] += 1
        work["phase"] = "check"  # the board checks its bus against the profile: follow, then send again
        _later(b, cmd)
    elif r.kind == NAK and r.nak_code == NAK_BAD_PAYLOAD:
        st = master.call(b.address, m.LOCK_PROBE_STATUS)
        key = items[r.nak_detail]["key"] if r.nak_detail < len(items) else None
        commissioning.record_status(master.db, cmd["id"], st.fields if st.ok else None, refused_key=key)
        commissioning.push_done(master.db, cmd["id"], False)
        _finish(master, b, cmd, "failed", "refused:%s" % (key or r.nak_detail))
    elif r.kind == NAK:
        commissioning.push_done(master.db, cmd["id"], False)
        _finish(master, b, cmd, "failed", "nak:%s" % nak_name(r.nak_code).lower())
    else:
        _suspend(master, b, cmd, "config: %s" % r.kind)


def _follow(master, b, cmd, work):
    r = master.call(b.address, m.LOCK_PROBE_STATUS)
    if not r.ok:
        if r.kind == NAK:
            _finish(master, b, cmd, "failed", "nak:%s" % nak_name(r.nak_code).lower())
        else:
            _suspend(master, b, cmd, "probe status: %s" % r.kind)
        return
    st = r.fields
    seen = (st["state"], st["mode"], st["progress"])
    if seen != work.get("seen"):  # one write per change, not per reading
        work["seen"] = seen
        commissioning.record_status(master.db, cmd["id"], st)
    if st["state"] == m.PROBE_RUNNING:
        if time.monotonic() - work["since"] > FOLLOW_LIMIT_S:
            _finish(master, b, cmd, "failed", "probe_never_ended")
            return
        _later(b, cmd)
        return
    if work["phase"] == "check":
        work["phase"] = "start"
        _push(master, b, cmd, work)
        return
    name = commissioning.PROBE_STATES.get(st["state"], str(st["state"]))
    _finish(master, b, cmd, "done", "probe:%s" % name)


def _later(b, cmd):
    b.deferred.append((time.monotonic() + POLL_S, cmd))
    b.deferred.sort(key=lambda d: d[0])


def _suspend(master, b, cmd, why):
    """No answer: the command waits (still 'sent') and goes on from where it was once the board answers."""
    b.inflight[cmd["id"]] = cmd
    master._failed(b, why)


def _finish(master, b, cmd, state, result):
    cmd.pop("_cm", None)
    b.inflight.pop(cmd["id"], None)
    link_commands.finish(master.db, cmd["id"], state, result[:40])
    log.info("locker %d board %d: commission command %d %s (%s)", master.locker_id, b.address, cmd["id"], state,
             result)
