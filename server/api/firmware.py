"""Maintainers' firmware API under /api/v1/firmware: releases, rollouts, per-board progress.

Uploads are checked with public keys only: app.config["FW_PUBKEYS"] (a list of 32-byte Ed25519 public
keys), else the public key files named by $CUNBOX_FW_PUBKEYS (several separated by ':'). The server never
holds the private signing key.
"""
import base64
import binascii

from flask import Blueprint, g, jsonify

from server.api.common import Field, auth, db, parse_body
from server.errors import BadRequest
from server.firmware_delivery import keys as keyfiles
from server.firmware_delivery import rollout

bp = Blueprint("firmware", __name__)


class IdList(Field):
    """A list of positive integer ids (the shared Field knows scalars only)."""

    def __init__(self, required=False, default=None, description=None):
        super().__init__("integer", required=required, default=default, description=description)

    def check(self, name, value):
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                  for v in value):
            raise BadRequest("field '%s' must be a list of board ids" % name, code="bad_body", field=name)

    def schema(self):
        return {"type": "array", "items": {"type": "integer", "minimum": 1}}

BODIES = {
    "fw_release": {"image_base64": Field("string", description="the signed image (cunbox firmware build), base64"),
                   "notes": Field("string", required=False, max_len=2000)},
    "fw_rollout": {"release_id": Field("integer", minimum=1),
                   "station_id": Field("integer", required=False, minimum=1),
                   "percent": Field("number", required=False, minimum=0, maximum=100),
                   "board_ids": IdList(description="exactly one of station_id, percent, board_ids"),
                   "canaries": IdList(default=[], description="boards updated first; the rest waits for them"),
                   "failure_threshold": Field("number", required=False, minimum=0, maximum=1, default=0.2)},
}


@bp.get("/firmware/releases")
@auth("maintainer")
def releases():
    return jsonify({"releases": rollout.list_releases(db(), g.principal)})


@bp.post("/firmware/releases")
@auth("maintainer")
def upload():
    b = parse_body(BODIES["fw_release"])
    try:
        image = base64.b64decode(b["image_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("image_base64 is not base64", code="bad_body", field="image_base64") from None
    return jsonify(rollout.upload_release(db(), g.principal, image, keyfiles.fleet_keys(), b["notes"])), 201


@bp.post("/firmware/rollouts")
@auth("maintainer")
def create():
    b = parse_body(BODIES["fw_rollout"])
    out = rollout.create_rollout(
        db(), g.principal, b["release_id"], station_id=b["station_id"], percent=b["percent"],
        board_ids=b["board_ids"], canaries=b["canaries"] or [],
        failure_threshold=b["failure_threshold"])
    # the updates run in the locker link's queue for minutes: answer now, with the resource to poll
    return jsonify(out), 201, {"Location": out["status_url"]}


@bp.get("/firmware/rollouts/<int:rollout_id>")
@auth("maintainer")
def progress(rollout_id):
    return jsonify(rollout.progress(db(), g.principal, rollout_id))


@bp.post("/firmware/rollouts/<int:rollout_id>/pause")
@auth("maintainer")
def pause(rollout_id):
    return jsonify(rollout.set_state(db(), g.principal, rollout_id, "pause"))


@bp.post("/firmware/rollouts/<int:rollout_id>/resume")
@auth("maintainer")
def resume(rollout_id):
    return jsonify(rollout.set_state(db(), g.principal, rollout_id, "resume"))


@bp.post("/firmware/rollouts/<int:rollout_id>/cancel")
@auth("maintainer")
def cancel(rollout_id):
    return jsonify(rollout.set_state(db(), g.principal, rollout_id, "cancel"))


# --- the OpenAPI part (merged into server/api/openapi.py's document) ---

def _nullable(kind):
    return {"type": [kind, "null"]}


def _obj(props, required=None):
    return {"type": "object", "properties": props, "required": list(props) if required is None else required,
            "additionalProperties": False}


SCHEMAS = {
    "FwRelease": _obj({"id": {"type": "integer"}, "version": {"type": "string"}, "family": {"type": "string"},
                       "min_protocol": {"type": "integer"}, "size": {"type": "integer"},
                       "sha256": {"type": "string"}, "files": {"type": "integer"}, "notes": _nullable("string"),
                       "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}),
    "FwReleases": _obj({"releases": {"type": "array", "items": {"$ref": "#/components/schemas/FwRelease"}}}),
    "FwRollout": _obj({
        "id": {"type": "integer"}, "release_id": {"type": "integer"}, "version": {"type": "string"},
        "state": {"enum": ["running", "paused", "completed", "cancelled"]}, "scope": {"type": "object"},
        "failure_threshold": {"type": "number"}, "pause_reason": _nullable("string"),
        "status_url": {"type": "string", "description": "poll this for progress"},
        "totals": {"type": "object", "additionalProperties": {"type": "integer"}},
        "boards": {"type": "array", "items": _obj({
            "board_id": {"type": "integer"}, "locker_id": {"type": "integer"}, "address": {"type": "integer"},
            "canary": {"type": "boolean"}, "state": {"enum": ["pending", "updating", "done", "failed", "skipped"]},
            "from_version": _nullable("string"), "version": _nullable("string"), "attempts": {"type": "integer"},
            "command_id": _nullable("integer"), "last_error": _nullable("string")})}}),
}


def openapi_paths(op, path_param):
    """`op` and `path_param` are openapi.py's helpers, so these operations look like the rest."""
    from server.api.common import body_schema

    def with_body(operation, body):
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body_schema(BODIES[body])}}}
        return operation

    rid = [path_param("rollout_id")]
    m = ("maintainer",)
    paths = {
        "/firmware/releases": {
            "get": op("Firmware releases uploaded so far", "FwReleases", roles=m, errors=("401", "403")),
            "post": with_body(op("Upload a signed release; checked as a board would (signature, every hash)",
                                 "FwRelease", roles=m, errors=("400", "401", "403", "409"), ok_status="201"),
                              "fw_release")},
        "/firmware/rollouts": {"post": with_body(op(
            "Stage a release to a station, a percentage of boards or a list; canaries go first; the rollout "
            "pauses itself when failed / finished boards exceeds failure_threshold. The first boards' updates "
            "are queued for the locker link at once; poll status_url (also in Location) for progress",
            "FwRollout", roles=m,
            errors=("400", "401", "403", "404"), ok_status="201"), "fw_rollout")},
        "/firmware/rollouts/{rollout_id}": {"get": op("Rollout progress per board (version, state, last error)",
                                                      "FwRollout", roles=m, params=rid)},
    }
    for action in ("pause", "resume", "cancel"):
        paths["/firmware/rollouts/{rollout_id}/" + action] = {"post": op(
            "%s the rollout%s" % (action.capitalize(), " (failed boards are retried)" if action == "resume" else ""),
            "FwRollout", roles=m, params=rid, errors=("401", "403", "404", "409"))}
    return paths
