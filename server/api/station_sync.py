"""Operator API for station sync: upload the station's book (CSV/XLSX), list and resolve conflicts,
read the run log. Thin views: the work is in runner/conflicts; scoping by station as everywhere.

``OPENAPI_PATHS`` documents these routes; server/api/openapi.py merges it into /api/v1/openapi.json.
"""
from flask import Blueprint, g, jsonify, request
from sqlalchemy import select

from server.api.common import auth, db
from server.errors import ApiError, BadRequest, Conflict, NotFound
from server.services.principals import check_station

bp = Blueprint("station_sync", __name__)
MAX_UPLOAD = 20 * 1024 * 1024


class FileRejected(ApiError):
    status = 422


def _flag(name):
    value = request.args.get(name, "0").lower()
    if value not in ("0", "1", "true", "false"):
        raise BadRequest("query parameter %s must be 0 or 1" % name, code="bad_query", field=name)
    return value in ("1", "true")


@bp.post("/stations/<int:station_id>/accounts/import")
@auth("operator", "maintainer")
def import_accounts(station_id):
    from server.station_sync import runner
    check_station(g.principal, station_id)
    upload = request.files.get("file")
    if upload is not None:
        data, name = upload.read(MAX_UPLOAD + 1), upload.filename or "upload"
    else:
        data, name = request.get_data(cache=False)[:MAX_UPLOAD + 1], request.args.get("filename", "upload")
    if not data:
        raise BadRequest("send the CSV or XLSX file as the request body or as form field 'file'",
                         code="bad_body", field="file")
    if len(data) > MAX_UPLOAD:
        raise BadRequest("the file is larger than %d MB" % (MAX_UPLOAD // 2 ** 20), code="bad_body", field="file")
    try:
        result = runner.import_file(db(), station_id, data, name[:200], dry_run=_flag("dry_run"),
                                    apply_valid_rows=_flag("apply_valid_rows"))
    except runner.SyncError as e:
        raise Conflict(str(e), code="sync_busy") from None
    doc = result.as_dict()
    if result.status == "rejected":
        raise FileRejected(result.error, code="file_rejected", report=doc["file"])
    return jsonify(doc)


@bp.get("/stations/<int:station_id>/sync/conflicts")
@auth("operator", "maintainer")
def open_conflicts(station_id):
    from server.station_sync.conflicts import list_open
    check_station(g.principal, station_id)
    return jsonify({"conflicts": list_open(db(), station_id)})


@bp.post("/stations/<int:station_id>/sync/conflicts/<int:conflict_id>/resolve")
@auth("operator", "maintainer")
def resolve_conflict(station_id, conflict_id):
    from server.station_sync.conflicts import ConflictError, resolve
    check_station(g.principal, station_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("take") not in ("station", "local") or len(body) != 1:
        raise BadRequest("body must be {\"take\": \"station\" | \"local\"}", code="bad_body", field="take")
    try:
        return jsonify(resolve(db(), station_id, conflict_id, body["take"], g.principal.actor))
    except ConflictError as e:
        raise NotFound(str(e), code="no_conflict") from None


@bp.get("/stations/<int:station_id>/sync/runs")
@auth("operator", "maintainer")
def sync_runs(station_id):
    from server.models.station_sync import StationSyncRun
    check_station(g.principal, station_id)
    with db().reading() as s:
        rows = s.scalars(select(StationSyncRun).where(StationSyncRun.station_id == station_id)
                         .order_by(StationSyncRun.id.desc()).limit(50)).all()
        runs = [{"id": r.id, "kind": r.kind, "source": r.source, "status": r.status, "counts": r.counts,
                 "error": r.error, "started_at": r.started_at.isoformat(),
                 "finished_at": r.finished_at.isoformat() if r.finished_at else None} for r in rows]
    return jsonify({"runs": runs})


def _err(code, text):
    return {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(schema, text="OK"):
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _sid(extra=()):
    return [{"name": "station_id", "in": "path", "required": True, "schema": {"type": "integer"}}] + list(extra)


_ERRORS = {"400": _err("400", "bad request"), "401": _err("401", "no or bad credentials"),
           "403": _err("403", "wrong role"), "404": _err("404", "no such station (or not yours)"),
           "default": _err("default", "any other error")}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_RUN_RESULT = {"type": "object", "required": ["station_id", "kind", "status", "counts", "dry_run"],
               "properties": {"station_id": {"type": "integer"}, "kind": {"enum": ["http", "file"]},
                              "source": {"type": "string"}, "dry_run": {"type": "boolean"},
                              "status": {"enum": ["ok", "failed", "rejected"]}, "error": {"type": ["string", "null"]},
                              "counts": _COUNTS, "run_id": {"type": ["integer", "null"]},
                              "details": {"type": "array", "items": {"type": "string"}},
                              "items": {"type": "array", "items": {"type": "object"}},
                              "rejected": {"type": "array"}, "file": {"type": ["object", "null"]}}}
# ``reason`` is English text; ``reason_key`` + ``reason_params`` let a client word it (server/station_sync/reasons.py).
_CONFLICT = {"type": "object", "required": ["id", "account", "field", "reason"],
             "properties": {"id": {"type": "integer"}, "account": {"type": "string"}, "field": {"type": "string"},
                            "name": {"type": ["string", "null"]}, "locker": {}, "station": {},
                            "reason": {"type": "string"}, "reason_key": {"type": ["string", "null"]},
                            "reason_params": {"type": "object"}, "detected_at": {"type": "string"}}}
_SEC = {"security": [{"bearer": []}], "x-roles": ["operator", "maintainer"]}

OPENAPI_PATHS = {
    "/stations/{station_id}/accounts/import": {"post": dict(_SEC, **{
        "summary": "Import the station's resident book (CSV or XLSX, UTF-8 or GBK)",
        "description": "The file as the body or as multipart field `file`. Any bad row rejects the whole file "
                       "(422 with every problem by row and column) unless `apply_valid_rows=1`; `dry_run=1` "
                       "reports what would change and writes nothing. See docs/station-sync.md.",
        "parameters": _sid([{"name": n, "in": "query", "required": False, "schema": {"enum": ["0", "1"]}}
                            for n in ("dry_run", "apply_valid_rows")] +
                           [{"name": "filename", "in": "query", "required": False, "schema": {"type": "string"}}]),
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string"}}}}}},
        "responses": dict(_ERRORS, **{"200": _ok(_RUN_RESULT, "what the import did (or would do)"),
                                      "409": _err("409", "another sync of this station is running"),
                                      "422": _err("422", "the file was rejected; error.report lists "
                                                         "every problem")})})},
    "/stations/{station_id}/sync/conflicts": {"get": dict(_SEC, **{
        "summary": "Conflicts the sync could not decide, waiting for the station keeper",
        "parameters": _sid(),
        "responses": dict(_ERRORS, **{"200": _ok({"type": "object", "required": ["conflicts"], "properties": {
            "conflicts": {"type": "array", "items": _CONFLICT}}})})})},
    "/stations/{station_id}/sync/conflicts/{conflict_id}/resolve": {"post": dict(_SEC, **{
        "summary": "Resolve a conflict by taking the station's or the locker side's value",
        "parameters": _sid([{"name": "conflict_id", "in": "path", "required": True, "schema": {"type": "integer"}}]),
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["take"], "additionalProperties": False,
            "properties": {"take": {"enum": ["station", "local"]}}}}}},
        "responses": dict(_ERRORS, **{"200": _ok({"type": "object", "required": ["id", "account", "field"],
                                                  "properties": {"id": {"type": "integer"},
                                                                 "account": {"type": "string"},
                                                                 "field": {"type": "string"}, "value": {}}})})})},
    "/stations/{station_id}/sync/runs": {"get": dict(_SEC, **{
        "summary": "The latest sync and import runs of the station",
        "parameters": _sid(),
        "responses": dict(_ERRORS, **{"200": _ok({"type": "object", "required": ["runs"], "properties": {
            "runs": {"type": "array", "items": {"type": "object", "required": ["id", "kind", "status", "counts"],
                                                "properties": {"id": {"type": "integer"}, "counts": _COUNTS}}}}})})})},
}
