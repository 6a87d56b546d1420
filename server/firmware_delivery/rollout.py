"""Fleet rollout: upload a release, stage it to a set of boards (a station, a percentage, a list) with
canaries first, hand boards to the locker link only when no door is mid-operation, and pause by
itself when the failure rate passes the rollout's threshold. Business logic only; the API, the CLI
and server/firmware_delivery/queue.py (which turns the boards picked here into firmware commands in the
locker link's durable queue) call these functions.
"""
import hashlib
import io
import math

from sqlalchemy import select

from firmware import update_image
from server.errors import BadRequest, Conflict, NotFound
from server.firmware_delivery import queue, rollout_boards
from server.models import Board, Locker
from server.models.firmware_delivery import FwRelease, FwRollout, FwRolloutBoard
from server.services import audit
from server.services.principals import require_role

# --- releases ---

def release_json(r):
    return {"id": r.id, "version": r.version, "family": r.family, "min_protocol": r.min_protocol, "size": r.size,
            "sha256": r.sha256, "files": len(r.manifest.get("files", [])), "notes": r.notes,
            "created_by": r.created_by, "created_at": r.created_at.isoformat() + "Z"}


def upload_release(db, principal, image, keys, notes=None):
    """Verify the image exactly as a board will (signature, every file hash) and store it. `keys` are the
    Ed25519 public keys releases may be signed with (server.firmware_delivery.keys.fleet_keys)."""
    require_role(principal, "maintainer")
    if not keys:
        raise Conflict("the server holds no firmware public key (CUNBOX_FW_PUBKEYS); cannot check releases",
                       code="no_fleet_key")
    try:
        manifest = update_image.verify_image(io.BytesIO(image), len(image), keys)
    except update_image.ImageError as exc:
        raise BadRequest("image refused: %s" % exc, code="bad_image", reason=exc.code) from None

    def fn(s):
        if s.scalar(select(FwRelease).where(FwRelease.version == manifest["version"])) is not None:
            raise Conflict("release %s exists already" % manifest["version"], code="duplicate_release")
        r = FwRelease(version=manifest["version"], family=manifest["family"], min_protocol=manifest["min_protocol"],
                      size=len(image), sha256=hashlib.sha256(image).hexdigest(), image=image, manifest=manifest,
                      notes=notes, created_by=principal.actor)
        s.add(r)
        s.flush()
        audit.record(s, principal.actor, "fw_release_uploaded", detail={"version": r.version, "sha256": r.sha256})
        return release_json(r)
    return db.run(fn)


def list_releases(db, principal):
    require_role(principal, "maintainer")
    with db.reading() as s:
        return [release_json(r) for r in s.scalars(select(FwRelease).order_by(FwRelease.id))]


# --- rollouts ---

def _sample(release_version, boards, percent):
    """A stable share of the fleet: the same release and percentage always pick the same boards,
    and a larger percentage picks a superset."""
    ranked = sorted(boards, key=lambda b: hashlib.sha256(("%s:%d" % (release_version, b.id)).encode()).digest())
    return ranked[:int(math.ceil(len(ranked) * percent / 100.0))]


def create_rollout(db, principal, release_id, station_id=None, percent=None, board_ids=None, canaries=(),
                   failure_threshold=0.2):
    require_role(principal, "maintainer")
    chosen = [x for x in (station_id, percent, board_ids) if x is not None]
    if len(chosen) != 1:
        raise BadRequest("choose exactly one of station_id, percent, board_ids", code="bad_scope")
    if percent is not None and not 0 < percent <= 100:
        raise BadRequest("percent must be in (0, 100]", code="bad_scope", field="percent")
    if not 0 <= failure_threshold <= 1:
        raise BadRequest("failure_threshold must be within 0..1", code="bad_body", field="failure_threshold")

    def fn(s):
        release = s.get(FwRelease, release_id)
        if release is None:
            raise NotFound("no release %s" % release_id)
        if not rollout_boards.image_intact(release):
            raise BadRequest("release %s: the stored image no longer matches its SHA-256; upload it again"
                             % release.version, code="bad_image", reason="hash")
        if station_id is not None:
            boards = list(s.scalars(select(Board).join(Locker).where(Locker.station_id == station_id)
                                    .order_by(Board.id)))
            if not boards:
                raise NotFound("no boards at station %s" % station_id)
            scope = {"station_id": station_id}
        elif percent is not None:
            boards = _sample(release.version, list(s.scalars(select(Board).order_by(Board.id))), percent)
            scope = {"percent": percent}
        else:
            boards = list(s.scalars(select(Board).where(Board.id.in_(board_ids)).order_by(Board.id)))
            missing = sorted(set(board_ids) - {b.id for b in boards})
            if missing:
                raise NotFound("no boards %s" % missing)
            scope = {"board_ids": sorted(board_ids)}
        by_id = {b.id: b for b in boards}
        for c in canaries:
            if c not in by_id:
                b = s.get(Board, c)
                if b is None:
                    raise NotFound("no canary board %s" % c)
                by_id[c] = b
        ro = FwRollout(release_id=release.id, state="running", scope=scope, failure_threshold=failure_threshold,
                       created_by=principal.actor)
        s.add(ro)
        s.flush()
        for b in sorted(by_id.values(), key=lambda b: b.id):
            current = b.firmware_version
            up_to_date = current is not None and _newer_or_same(current, release.version)
            s.add(FwRolloutBoard(rollout_id=ro.id, board_id=b.id, canary=b.id in canaries, from_version=current,
                                 version=current, state="skipped" if up_to_date else "pending",
                                 last_error="already on %s" % current if up_to_date else None))
        audit.record(s, principal.actor, "fw_rollout_created",
                     detail={"rollout": ro.id, "release": release.version, "scope": scope,
                             "canaries": sorted(canaries), "boards": len(by_id)})
        s.flush()
        return ro.id
    return queue.advance(db, db.run(fn))  # the first boards go into the locker link's queue at once


def _newer_or_same(current, target):
    try:
        return update_image.parse_version(current) >= update_image.parse_version(target)
    except update_image.ImageError:
        return False  # a board reporting something unparsable gets the release


def report(db, rollout_id, board_id, ok, version=None, error=None):
    """One board's result; pauses the rollout when failures pass its threshold."""
    def fn(s):
        ro = s.get(FwRollout, rollout_id)
        row = s.scalar(select(FwRolloutBoard).where(FwRolloutBoard.rollout_id == rollout_id,
                                                    FwRolloutBoard.board_id == board_id))
        if ro is None or row is None:
            raise NotFound("board %s is not in rollout %s" % (board_id, rollout_id))
        return queue.report_in(s, ro, row, ok, version, error)
    return db.run(fn)


def set_state(db, principal, rollout_id, action):
    """pause / resume / cancel by a maintainer. Resume retries the failed boards."""
    require_role(principal, "maintainer")

    def fn(s):
        ro = s.get(FwRollout, rollout_id)
        if ro is None:
            raise NotFound("no rollout %s" % rollout_id)
        if ro.state in ("completed", "cancelled"):
            raise Conflict("rollout %s is %s" % (ro.id, ro.state), code="rollout_finished")
        if action == "pause":
            ro.state, ro.pause_reason = "paused", "paused by %s" % principal.actor
            queue.withdraw_queued(s, ro, "rollout_paused")
        elif action == "resume":
            for row in s.scalars(select(FwRolloutBoard).where(FwRolloutBoard.rollout_id == ro.id,
                                                              FwRolloutBoard.state == "failed")):
                row.state = "pending"
            ro.state, ro.pause_reason = "running", None
        elif action == "cancel":
            ro.state = "cancelled"
            queue.withdraw_queued(s, ro, "rollout_cancelled")
        else:
            raise BadRequest("unknown action %r" % action)
        audit.record(s, principal.actor, "fw_rollout_" + action, detail={"rollout": ro.id})
        return rollout_boards.progress(s, ro)
    out = db.run(fn)
    if action == "resume":
        out = queue.advance(db, rollout_id)
    return out


def progress(db, principal, rollout_id):
    require_role(principal, "maintainer")
    with db.reading() as s:
        ro = s.get(FwRollout, rollout_id)
        if ro is None:
            raise NotFound("no rollout %s" % rollout_id)
        return rollout_boards.progress(s, ro)


class _Maintainer:
    role = "maintainer"
    actor = "system"


_SYSTEM_MAINTAINER = _Maintainer()
