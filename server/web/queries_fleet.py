"""Read-only queries for the maintainer pages: the whole fleet (maintainers are not station-scoped).

Board health beyond firmware version and last contact (online, link quality, reset causes) comes from
the locker link's tables (link_boards, link_attempts, link_events); a board the link has not talked
to yet shows "not reported yet".
"""
import re

from sqlalchemy import inspect, select

from server.clock import utcnow
from server.models import Alarm, Board, Compartment, Locker, Station
from server.web.queries import OFFLINE_AFTER


def _has_table(session, name):
    return inspect(session.get_bind()).has_table(name)


def boards(session, station_id=None, now=None):
    """Boards grouped by station then locker, each with health figures and open faults."""
    now = now or utcnow()
    stmt = (select(Board, Locker, Station).join(Locker, Locker.id == Board.locker_id)
            .join(Station, Station.id == Locker.station_id).order_by(Station.name, Locker.name, Board.address))
    if station_id:
        stmt = stmt.where(Station.id == station_id)
    rows = session.execute(stmt).all()
    faults = {}
    for alarm, board_id in session.execute(
            select(Alarm, Compartment.board_id).join(Compartment, Compartment.id == Alarm.compartment_id)
            .where(Alarm.cleared_at.is_(None), Alarm.acknowledged_at.is_(None))):
        faults.setdefault(board_id, []).append(alarm.kind)
    health = board_health(session, [b.id for b, _, _ in rows])
    stations = []
    by_station = {}
    for board, locker, station in rows:
        st = by_station.get(station.id)
        if st is None:
            st = by_station[station.id] = {"id": station.id, "name": station.name, "boards": []}
            stations.append(st)
        h = health.get(board.id, {})
        seen = max([t for t in (board.last_seen_at, h.get("last_seen")) if t is not None], default=None)
        if "online" in h and h["last_seen"] is not None:
            status = "online" if h["online"] else "offline"  # the link polls the board: its verdict
        else:
            status = "unknown" if seen is None else ("offline" if now - seen > OFFLINE_AFTER else "online")
        st["boards"].append({"id": board.id, "locker": locker.name, "address": board.address,
                             "serial": board.serial_number, "firmware": board.firmware_version,
                             "last_seen": seen, "status": status, "link_quality": h.get("link_quality"),
                             "reset_causes": h.get("reset_causes") or [],
                             "faults": sorted(set(faults.get(board.id, [])))})
    return stations


RESET_NAMES = {0: "unknown", 1: "power_on", 2: "hard", 3: "watchdog", 4: "deep_sleep", 5: "soft", 6: "brownout",
               7: "fw_update"}  # protocol.messages RESET_*; shown as t('reset.<name>')
RECENT_ATTEMPTS = 100  # link quality is judged on a board's last this-many commands
RECENT_RESETS = 5


def board_health(session, board_ids):
    """Per board, from the locker link's tables: online (the link's own verdict), last seen, link
    quality (share of the board's recent commands that went through on the first try, i.e. without
    a retry after a lost frame) and the reset causes of its recent boots (BOOT events)."""
    from protocol import messages as m
    from server.models import LockerCommand
    from server.models.link import LinkAttempt, LinkBoard, LinkEvent
    if not board_ids or not _has_table(session, LinkBoard.__tablename__):
        return {}
    out = {}
    for row in session.scalars(select(LinkBoard).where(LinkBoard.board_id.in_(board_ids))):
        out[row.board_id] = {"online": row.online, "last_seen": row.last_seen_at, "link_quality": None,
                             "reset_causes": []}
    for bid in out:
        tries = session.scalars(select(LinkAttempt.tries)
                                .join(LockerCommand, LockerCommand.id == LinkAttempt.command_id)
                                .where(LockerCommand.board_id == bid)
                                .order_by(LinkAttempt.command_id.desc()).limit(RECENT_ATTEMPTS)).all()
        if tries:
            out[bid]["link_quality"] = len(tries) / float(sum(max(1, t) for t in tries))
        boots = session.scalars(select(LinkEvent.data).where(LinkEvent.board_id == bid, LinkEvent.kind == m.EV_BOOT)
                                .order_by(LinkEvent.seq.desc()).limit(RECENT_RESETS)).all()
        out[bid]["reset_causes"] = [RESET_NAMES.get(d[0], "unknown") if d else "unknown" for d in boots]
    return out


def stations(session):
    return [tuple(r) for r in session.execute(select(Station.id, Station.name).order_by(Station.name)).all()]


def rollouts(session, limit=50):
    """Every rollout, newest first, with its release and per-state board counts (None if not installed)."""
    try:
        from server.models.firmware_delivery import FwRelease, FwRollout, FwRolloutBoard
    except ImportError:
        return None
    from sqlalchemy import func
    counts = {}
    for rid, state, n in session.execute(select(FwRolloutBoard.rollout_id, FwRolloutBoard.state, func.count())
                                         .group_by(FwRolloutBoard.rollout_id, FwRolloutBoard.state)):
        counts.setdefault(rid, {})[state] = n
    out = []
    for ro, version in session.execute(select(FwRollout, FwRelease.version).join(FwRelease)
                                       .order_by(FwRollout.id.desc()).limit(limit)):
        c = counts.get(ro.id, {})
        total = sum(c.values())
        finished = c.get("done", 0) + c.get("skipped", 0)
        out.append({"id": ro.id, "version": version, "state": ro.state, "scope": ro.scope,
                    "pause_reason": ro.pause_reason, "created_at": ro.created_at, "counts": c, "total": total,
                    "percent_done": int(100 * finished / total) if total else 0})
    return out


def board_labels(session, board_ids):
    rows = session.execute(select(Board.id, Board.address, Locker.name, Station.name)
                           .join(Locker, Locker.id == Board.locker_id).join(Station, Station.id == Locker.station_id)
                           .where(Board.id.in_(board_ids or [-1]))).all()
    return {r[0]: "%s · %s #%d" % (r[3], r[2], r[1]) for r in rows}


def board_choices(session):
    rows = session.execute(select(Board.id, Board.address, Locker.name, Station.name, Board.firmware_version)
                           .join(Locker, Locker.id == Board.locker_id).join(Station, Station.id == Locker.station_id)
                           .order_by(Station.name, Locker.name, Board.address)).all()
    return [{"id": r[0], "label": "%d: %s · %s #%d (%s)" % (r[0], r[3], r[2], r[1], r[4] or "?")} for r in rows]


# --- a rollout as the maintainer's page shows it (server-rendered and its live .json) ---

# Reasons a board's update failed or was skipped, as server/firmware_delivery (flasher.py, queue.py, rollout.py)
# and the locker link (server/link/firmware_job.py) word them: (pattern, catalogue key). First match wins.
REASONS = (
    (re.compile(r"^already on "), "fwreason.already"),
    (re.compile(r"not_supported|NOT_SUPPORTED|needs public keys", re.I), "fwreason.not_supported"),
    (re.compile(r"signature|untrusted|\bkey\b"), "fwreason.signature"),
    (re.compile(r"downgrade"), "fwreason.downgrade"),
    (re.compile(r"family|protocol|\bmpy\b"), "fwreason.incompatible"),
    (re.compile(r"rolled back|self-test|selftest"), "fwreason.rolled_back"),
    (re.compile(r"did not come back"), "fwreason.no_return"),
    (re.compile(r"board_not_keyed"), "fwreason.not_keyed"),
    (re.compile(r"board_unreachable|stopped answering|link lost|no reply"), "fwreason.unreachable"),
    (re.compile(r"rollout_paused|rollout_cancelled"), "fwreason.withdrawn"),
    (re.compile(r"busy"), "fwreason.busy"),
    (re.compile(r"hash|size mismatch|corrupt|flash write"), "fwreason.transfer"),
    (re.compile(r"^no release"), "fwreason.no_release"),
)


def reason_key(text):
    """The catalogue key for a board's last error (None: no error)."""
    if not text:
        return None
    for pattern, key in REASONS:
        if pattern.search(text):
            return key
    return "fwreason.other"


def rollout_counts(ro):
    """True counts of a rollout's boards: done, failed, in progress (waiting or updating), skipped, total."""
    t = ro["totals"]
    total = sum(t.values())
    active = t.get("pending", 0) + t.get("updating", 0)
    finished = t.get("done", 0) + t.get("skipped", 0)
    return {"total": total, "done": t.get("done", 0), "failed": t.get("failed", 0), "active": active,
            "skipped": t.get("skipped", 0), "percent_done": int(100 * finished / total) if total else 0}


def pause_key(ro):
    """Why a paused rollout stopped, as a catalogue key (with rollout_counts for its figures)."""
    if ro["state"] != "paused":
        return None
    reason = ro.get("pause_reason") or ""
    if reason.startswith("auto-paused"):
        return "rollout.why_auto"
    if "SHA-256" in reason:
        return "rollout.why_image"
    return "rollout.why_manual"


def rollout_view(ro, labels, t):
    """Everything the rollout page shows, in the page's language (t: server.web.i18n.translate)."""
    c = rollout_counts(ro)
    pk = pause_key(ro)
    boards = []
    for b in ro["boards"]:
        rk = reason_key(b["last_error"])
        now = b["version"] if b["state"] in ("done", "failed") and b["version"] else None
        version = "%s → %s" % (b["from_version"] or "?", ro["version"])
        if now and now != ro["version"]:
            version += " " + t("rollout.now_on", version=now)
        boards.append({"id": b["board_id"], "label": labels.get(b["board_id"], str(b["board_id"])),
                       "canary": b["canary"], "state": b["state"], "state_text": t("target." + b["state"]),
                       "version": version, "attempts": b["attempts"],
                       "reason": t(rk) if rk else "", "reason_detail": b["last_error"] or ""})
    return {"id": ro["id"], "version": ro["version"], "state": ro["state"], "state_text": t("rollout." + ro["state"]),
            "pause_text": t(pk, failed=c["failed"], finished=c["failed"] + c["done"],
                            threshold=round(ro["failure_threshold"] * 100)) if pk else "",
            "counts": c, "counts_text": t("rollout.counts", **c), "boards": boards,
            "threshold": round(ro["failure_threshold"] * 100)}
