"""Read-only queries for the maintainer pages: the whole fleet (maintainers are not station-scoped).

Board health beyond firmware version and last contact (link quality, reset causes, faults) and the
firmware releases / rollouts come from the locker link and the firmware-rollout work; each is shown
when its table exists in this database and reported as "not reported yet" otherwise.
"""
import datetime

from sqlalchemy import inspect, select

from server.clock import utcnow
from server.models import Alarm, Board, Compartment, Locker, Station
from server.web.queries import OFFLINE_AFTER

FAULT_KINDS_OPEN = None     # every open alarm on a board's compartments counts as a fault


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
        seen = board.last_seen_at
        status = "unknown" if seen is None else ("offline" if now - seen > OFFLINE_AFTER else "online")
        h = health.get(board.id, {})
        st["boards"].append({"id": board.id, "locker": locker.name, "address": board.address,
                             "serial": board.serial_number, "firmware": board.firmware_version,
                             "last_seen": seen, "status": status, "link_quality": h.get("link_quality"),
                             "reset_causes": h.get("reset_causes") or [],
                             "faults": sorted(set(faults.get(board.id, [])))})
    return stations


def board_health(session, board_ids):
    """Link quality and reset causes per board, from the link's health table when it exists."""
    from server import models
    model = getattr(models, "BoardHealth", None)
    if model is None or not board_ids or not _has_table(session, model.__tablename__):
        return {}
    out = {}
    for row in session.scalars(select(model).where(model.board_id.in_(board_ids))):
        out[row.board_id] = {"link_quality": getattr(row, "link_quality", None),
                             "reset_causes": getattr(row, "reset_causes", None)}
    return out


def stations(session):
    return [tuple(r) for r in session.execute(select(Station.id, Station.name).order_by(Station.name)).all()]


def age(ts, now=None):
    if ts is None:
        return None
    return (now or utcnow()) - ts if isinstance(ts, datetime.datetime) else None


def rollouts(session, limit=50):
    """Every rollout, newest first, with its release and per-state board counts (None if not installed)."""
    try:
        from server.firmware.models import FwRelease, FwRollout, FwRolloutBoard
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
