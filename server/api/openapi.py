"""The OpenAPI 3.1 document served at /api/v1/openapi.json.

Request bodies come from the same Field declarations the views validate with (api/common.BODIES);
tests check that every route is documented, every documented path exists, and that responses
validate against the schemas here.
"""
from server.api.common import BODIES, body_schema
from server.models import COMMAND_KINDS, COMMAND_STATES, COMPARTMENT_STATES, HEIGHT_BANDS, PARCEL_STATES, SIZES
from server.services import idempotency


def _ref(name):
    return {"$ref": "#/components/schemas/%s" % name}


def _nullable(kind, **extra):
    out = {"type": [kind, "null"]}
    out.update(extra)
    return out


def _obj(props, required=None, extra=False):
    return {"type": "object", "properties": props, "required": list(props) if required is None else required,
            "additionalProperties": extra}


TS = _nullable("string", format="date-time")
PARCEL_PROPS = {"id": {"type": "integer"}, "direction": {"enum": ["in", "out"]}, "carrier_id": {"type": "integer"},
                "tracking_number": _nullable("string"), "station_id": {"type": "integer"},
                "locker_id": {"type": "integer"}, "size": {"enum": list(SIZES)}, "perishable": {"type": "boolean"},
                "state": {"enum": list(PARCEL_STATES)}, "phone": {"type": "string"},
                "compartment_id": _nullable("integer"), "reserved_until": TS, "deposited_at": TS,
                "released_at": TS, "open_purpose": _nullable("string"), "created_at": TS}

SCHEMAS = {
    "Error": _obj({"error": {"type": "object", "required": ["code", "message"], "additionalProperties": True,
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                            "alternative": {"type": "string"}, "field": {"type": "string"},
                                            "retry_after": {"type": "integer"}}}}),
    "Health": _obj({"status": {"const": "ok"}}),
    "Login": _obj({"token": {"type": "string"}, "role": {"enum": ["courier", "operator", "maintainer"]},
                   "user_id": {"type": "integer"}, "carrier_id": _nullable("integer"),
                   "station_id": _nullable("integer"), "name": {"type": "string"}}),
    "Compartment": _obj({"id": {"type": "integer"}, "locker_id": {"type": "integer"}, "board_id": {"type": "integer"},
                         "index": {"type": "integer"}, "size": {"enum": list(SIZES)}, "chilled": {"type": "boolean"},
                         "height_band": {"enum": list(HEIGHT_BANDS)}, "state": {"enum": list(COMPARTMENT_STATES)},
                         "door": {"enum": ["open", "closed"]}}),
    "Parcel": _obj(PARCEL_PROPS),
    "Command": _obj({"id": {"type": "integer"}, "locker_id": {"type": "integer"},
                     "compartment_id": _nullable("integer"),
                     "kind": {"enum": list(COMMAND_KINDS)}, "state": {"enum": list(COMMAND_STATES)},
                     "purpose": _nullable("string"), "parcel_id": _nullable("integer"), "result": _nullable("string"),
                     "payload": _nullable("object"), "requested_by": {"type": "string"}, "created_at": TS}),
    "DepositResult": _obj({"parcel": _ref("Parcel"), "compartment": {"oneOf": [_ref("Compartment"), {"type": "null"}]},
                           "command": {"oneOf": [_ref("Command"), {"type": "null"}]},
                           "replayed": {"type": "boolean"}}),
    "ParcelResult": _obj({"parcel": _ref("Parcel")}),
    "BoardCommand": _obj({"command": _ref("Command")}),
    "ParcelCommand": _obj({"parcel": _ref("Parcel"), "command": {"oneOf": [_ref("Command"), {"type": "null"}]}}),
    "ParcelExpiry": _obj({"parcel": _ref("Parcel"), "expires_at": TS}),
    "ParcelDetail": _obj(dict(PARCEL_PROPS, attention={"enum": ["closed_empty", None]},
                              events={"type": "array", "items": _obj({
        "at": TS, "from_state": _nullable("string"), "to_state": {"type": "string"}, "action": {"type": "string"},
        "actor": {"type": "string"}})})),
    "ParcelList": _obj({"parcels": {"type": "array", "items": _ref("Parcel")}}),
    "CodeAction": _obj({"action": {"enum": ["pickup", "dropoff"]}, "parcel": _ref("Parcel"),
                        "compartment": _ref("Compartment"), "command": _ref("Command")}),
    "PickupView": _obj({"parcel": _ref("Parcel"), "carrier": {"type": "string"},
                        "locker": _obj({"id": {"type": "integer"}, "name": {"type": "string"}}),
                        "locker_id": {"type": "integer"}, "station": {"type": "string"},
                        "address": {"type": "string"}, "expires_at": TS, "storage_hours": {"type": "integer"},
                        "fee_policy": {"oneOf": [{"type": "null"}, _obj({"free_hours": {"type": "integer"},
                                                                         "fee_cents_per_day": {"type": "integer"}})]},
                        "compartment": {"oneOf": [_ref("Compartment"), {"type": "null"}]}}),
    "LiveCodes": _obj({"codes": {"type": "array", "items": _obj({
        "compartment_id": {"type": "integer"}, "board_id": {"type": "integer"}, "board": {"type": "integer"},
        "index": {"type": "integer"}, "code_id": {"type": "integer"},
        "purpose": {"enum": ["pickup", "dropoff"], "description": "SET_CODE kind 1 PICKUP / 2 DROPOFF"},
        "salt": {"type": "string", "pattern": "^[0-9a-f]{16}$", "description": "8 bytes, hex"},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "sha256(salt + code)[:16], hex"},
        "expires": {"type": "integer", "description": "unix seconds (u32)"}})}}),
    "Outcome": _obj({"outcome": {"type": "string"}, "parcel_id": _nullable("integer")}, required=["outcome"]),
    "TemperatureOutcome": _obj({"excursion": {"type": "boolean"}, "alarm_id": _nullable("integer")}),
    "TemperatureHistory": _obj({"parcel_id": {"type": "integer"}, "compartment_id": _nullable("integer"),
                                "readings": {"type": "array",
                                             "items": _obj({"at": TS, "celsius": {"type": "number"}})}}),
    "Alarm": _obj({"id": {"type": "integer"}, "kind": {"type": "string"}, "station_id": {"type": "integer"},
                   "locker_id": _nullable("integer"), "compartment_id": _nullable("integer"),
                   "parcel_id": _nullable("integer"), "raised_at": TS, "cleared_at": TS, "acknowledged_at": TS,
                   "acknowledged_by": _nullable("string"), "detail": _nullable("object")}),
    "AlarmList": _obj({"alarms": {"type": "array", "items": _ref("Alarm")}}),
    "Ledger": _obj({"lines": {"type": "array", "items": _obj({
        "id": {"type": "integer"}, "at": TS, "station_id": {"type": "integer"}, "carrier_id": {"type": "integer"},
        "parcel_id": {"type": "integer"}, "compartment_id": _nullable("integer"),
        "kind": {"enum": ["deposit", "storage", "collection", "recipient_fee"]},
        "payer": {"enum": ["carrier", "recipient"]}, "compartment_hours": {"type": "number"},
        "amount_cents": {"type": "integer"}})},
        "totals": {"type": "array", "items": _obj({"payer": {"type": "string"}, "carrier_id": {"type": "integer"},
                                                   "amount_cents": {"type": "integer"},
                                                   "compartment_hours": {"type": "number"},
                                                   "lines": {"type": "integer"}})}}),
    "SendBooking": _obj({"parcel": _ref("Parcel"), "dropoff_code": {"type": "string", "pattern": "^[0-9]{8}$"},
                         "expires_at": TS}),
    "LockerView": _obj({"id": {"type": "integer"}, "station_id": {"type": "integer"}, "name": {"type": "string"},
                        "serial_url": _nullable("string"),
                        "boards": {"type": "array", "items": _obj({"id": {"type": "integer"},
                                                                   "address": {"type": "integer"},
                                                                   "firmware_version": _nullable("string")})},
                        "compartments": {"type": "array", "items": _ref("Compartment")}}),
}

ERRORS = {
    "400": "bad body, query or Idempotency-Key header",
    "401": "no or bad credentials",
    "403": "wrong role, or wrong code",
    "404": "not found, or outside the caller's station / carrier / locker",
    "409": "the parcel is not in a state that allows this",
    "410": "the code has expired",
    "422": "refused by a business rule (no consent, no free compartment, ...; see `alternative`), or an "
           "Idempotency-Key reused for a different request",
    "429": "too many wrong codes (per source or per locker) or failed sign-ins (per login or per source); "
           "see Retry-After",
}


def _json(schema_name, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _op(summary, ok, roles=None, body=None, errors=("400", "401", "403", "404"), params=(), ok_status="200",
        extra_ok=None, description=None, ok_content=None):
    op = {"summary": summary, "responses": {}}
    if description:
        op["description"] = description
    if roles is not None:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = list(roles)
    else:
        op["security"] = []
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body_schema(BODIES[body])}}}
    if params:
        op["parameters"] = list(params)
    op["responses"][ok_status] = ok_content or _json(ok)
    if extra_ok:
        op["responses"].update(extra_ok)
    for code in errors:
        op["responses"][code] = {"description": ERRORS[code],
                                 "content": {"application/json": {"schema": _ref("Error")}}}
    op["responses"]["default"] = {"description": "any other error",
                                  "content": {"application/json": {"schema": _ref("Error")}}}
    return op


def _path_param(name, kind="integer"):
    schema = {"type": kind}
    if kind == "integer":
        from server.api.common import ID_MAX
        schema.update(minimum=0, maximum=ID_MAX)
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name, kind="string", required=False, description=None, **extra):
    schema = {"type": kind}
    schema.update(extra)
    out = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


P = _path_param("parcel_id")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": "^(?:%s)$" % idempotency.KEY_RE.pattern},
    "description": "Chosen by the locker for each attempt (e.g. a random UUID) and sent again, unchanged, with "
                   "every resend of that attempt after a lost answer (timeout, server restart). A resend with the "
                   "same key gets the first copy's answer again (also an error answer such as wrong_code) and "
                   "changes nothing; the key and the change are committed in one transaction. A new key is a new "
                   "attempt. The same key with a different body: 422 idempotency_key_reused. A malformed key: "
                   "400 bad_idempotency_key. Keys are kept 24 hours. Without a key a resend is a new request."}
IDEM_NOTE = (" Send an Idempotency-Key header so that a resend after a lost answer is recognised (see the "
             "parameter).")
ALL = ("400", "401", "403", "404", "409", "410", "422", "429")
CODE_Q = _query("c", required=True, description="the 8-digit code, as carried by the pickup link", pattern="^[0-9]{8}$")


def _paths():
    return {
        "/health": {"get": _op("Liveness; the framework floor in benchmarks", "Health", errors=())},
        "/openapi.json": {"get": _op("This document", None, errors=(), ok_content={
            "description": "OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}})},
        "/auth/login": {"post": _op("Sign in with login and password; returns a bearer token", "Login",
                                    body="login", errors=("400", "401", "429"),
                                    description="After repeated wrong passwords for a login or from an address, "
                                                "sign-in is refused for a growing time (429, Retry-After).")},
        "/deposits": {"post": _op(
            "Start a deposit: consent check, compartment assignment, reservation, door open request", "DepositResult",
            roles=["courier"], body="deposit", ok_status="201", extra_ok={"200": _json(
                "DepositResult", "this tracking number was already deposited or reserved (idempotent replay)")},
            errors=("400", "401", "403", "404", "409", "422"),
            description="Refused (422) with `alternative: station_counter` when the recipient has no recorded "
                        "consent to locker delivery or no compartment fits. The deposit is confirmed and the "
                        "pickup code issued only when the door closes with the parcel inside.")},
        "/parcels/{parcel_id}": {"get": _op("A parcel with its state history", "ParcelDetail",
                                            roles=["courier", "operator"], params=[P])},
        "/parcels/{parcel_id}/did-not-fit": {"post": _op(
            "The parcel did not fit: reserve the next size up and open it", "DepositResult", roles=["courier"],
            params=[P], errors=("401", "403", "404", "409", "422"))},
        "/parcels/{parcel_id}/reopen": {"post": _op(
            "Open the reserved door again (closed before the parcel went in)", "DepositResult", roles=["courier"],
            params=[P], errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/confirm-inside": {"post": _op(
            "The parcel is inside although the compartment's sensor saw its door shut empty", "ParcelResult",
            roles=["courier"], params=[P], errors=("401", "403", "404", "409"),
            description="Only while the parcel's `attention` is `closed_empty` and its door is shut: the deposit "
                        "is confirmed on the courier's word (the pickup code goes out) and the station gets an "
                        "`occupancy_sensor_suspect` alarm.")},
        "/parcels/{parcel_id}/cancel": {"post": _op("Give up a reservation", "ParcelResult", roles=["courier"],
                                                    params=[P], errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/collect": {"post": _op(
            "Collect a dropped-off send (opens its door)", "ParcelCommand", roles=["courier"], params=[P],
            errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/tracking": {"post": _op(
            "Attach the carrier's tracking number to a send", "ParcelResult", roles=["courier"], params=[P],
            body="tracking", errors=("400", "401", "403", "404", "409"))},
        "/parcels/{parcel_id}/temperatures": {"get": _op(
            "Temperature history of the parcel's compartment while it was inside", "TemperatureHistory",
            roles=["courier", "operator"], params=[P])},
        "/parcels/{parcel_id}/resend": {"post": _op(
            "Send the pickup notification again (with a fresh code: only hashes are kept)", "ParcelExpiry",
            roles=["operator"], params=[P], errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/extend": {"post": _op("Extend the storage period", "ParcelExpiry", roles=["operator"],
                                                    params=[P], body="extend",
                                                    errors=("400", "401", "403", "404", "409"))},
        "/parcels/{parcel_id}/revoke": {"post": _op("Revoke the pickup code", "ParcelResult", roles=["operator"],
                                                    params=[P], errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/retrieve": {"post": _op(
            "Staff action: open an overdue parcel's door to take it to the counter", "ParcelCommand",
            roles=["operator"], params=[P], errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/return": {"post": _op(
            "Staff action: return an overdue parcel to its carrier", "ParcelCommand", roles=["operator"],
            params=[P], errors=("401", "403", "404", "409"))},
        "/parcels/{parcel_id}/hand-over": {"post": _op(
            "The recipient collected the retrieved parcel at the counter", "ParcelResult", roles=["operator"],
            params=[P], errors=("401", "403", "404", "409"))},
        "/commands/{command_id}": {"get": _op("Status of a door command (poll after a deposit or pickup)", "Command",
                                              roles=["courier", "operator", "maintainer"],
                                              params=[_path_param("command_id")])},
        "/stations/{station_id}/parcels": {"get": _op(
            "The station's parcels, newest first", "ParcelList", roles=["operator"],
            params=[_path_param("station_id"), _query("state", enum=list(PARCEL_STATES)),
                    _query("q", description="phone or tracking number")])},
        "/stations/{station_id}/ledger": {"get": _op(
            "The station's fee ledger with totals per payer and carrier", "Ledger", roles=["operator"],
            params=[_path_param("station_id"), _query("month", pattern="^[0-9]{4}-[0-9]{2}$"),
                    _query("carrier_id", pattern="^[0-9]+$")])},
        "/stations/{station_id}/alarms": {"get": _op("Open alarms of the station", "AlarmList", roles=["operator"],
                                                     params=[_path_param("station_id")])},
        "/alarms/{alarm_id}/ack": {"post": _op("Acknowledge an alarm", "Alarm", roles=["operator"],
                                               params=[_path_param("alarm_id")])},
        "/sends": {"post": _op(
            "Book a send of produce for a villager; returns the drop-off code once", "SendBooking",
            roles=["operator"], body="send", ok_status="201", errors=("400", "401", "403", "404", "422"))},
        "/sends/{parcel_id}/cancel": {"post": _op(
            "Cancel a booked send before its drop-off: the compartment kept for it is free again and its "
            "drop-off code is cleared from the board", "ParcelResult", roles=["operator"], params=[P],
            errors=("401", "403", "404", "409"))},
        "/lockers/{locker_id}": {"get": _op("A locker with its boards and compartments", "LockerView",
                                            roles=["operator", "maintainer", "locker"],
                                            params=[_path_param("locker_id")])},
        "/lockers/{locker_id}/codes/verify": {"post": _op(
            "A code typed or scanned at the locker: pickup opens the parcel's door, drop-off reserves and opens",
            "CodeAction", roles=["locker"], body="code", params=[_path_param("locker_id"), IDEMPOTENCY_KEY],
            errors=ALL, description="A used code typed again is a wrong code (403 wrong_code, counted for "
                                    "throttling)." + IDEM_NOTE)},
        "/lockers/{locker_id}/codes": {"get": _op(
            "The live codes the locker's boards must hold (pickup and drop-off; salted hash + expiry)", "LiveCodes",
            roles=["locker"], params=[_path_param("locker_id")])},
        "/lockers/{locker_id}/door-events": {"post": _op(
            "A door opened or closed (occupied: presence sensor after closing)", "Outcome", roles=["locker"],
            body="door_event", params=[_path_param("locker_id"), IDEMPOTENCY_KEY],
            errors=("400", "401", "403", "404", "422"),
            description="Every report is written to the audit trail." + IDEM_NOTE)},
        "/lockers/{locker_id}/board-pickups": {"post": _op(
            "A board opened a door for a code it verified offline", "Outcome", roles=["locker"],
            body="board_pickup", params=[_path_param("locker_id")])},
        "/lockers/{locker_id}/temperatures": {"post": _op(
            "A temperature reading of a compartment", "TemperatureOutcome", roles=["locker"], body="temperature",
            params=[_path_param("locker_id")])},
        "/lockers/{locker_id}/boards/{board_id}/config": {"post": _op(
            "Change a board's settings (CONFIG_SET through the durable command queue); answers when the board "
            "has applied them or after a bounded wait (then poll the command)", "BoardCommand",
            roles=["maintainer"], body="board_config", ok_status="202",
            params=[_path_param("locker_id"), _path_param("board_id")], errors=("400", "401", "403", "404"))},
        "/compartments/{compartment_id}/state": {"post": _op(
            "Take a compartment out of service or back", "Compartment", roles=["maintainer"],
            body="compartment_state", params=[_path_param("compartment_id")],
            errors=("400", "401", "403", "404", "409"))},
        "/pickup/{token}": {"get": _op(
            "The villager's pickup page data (the link carries token and code)", "PickupView",
            params=[_path_param("token", "string"), CODE_Q], errors=("400", "403", "404", "410", "429"))},
        "/pickup/{token}/qr.png": {"get": _op(
            "QR code (PNG) with payload CBX1:<locker_id>:<code><Luhn check digit>", None,
            params=[_path_param("token", "string"), CODE_Q], errors=("400", "403", "404", "410", "429"),
            ok_content={"description": "PNG image", "content": {"image/png": {}}})},
        "/pickup/{token}/qr.svg": {"get": _op(
            "QR code (SVG), same payload", None, params=[_path_param("token", "string"), CODE_Q],
            errors=("400", "403", "404", "410", "429"),
            ok_content={"description": "SVG image", "content": {"image/svg+xml": {}}})},
        "/pickup/{token}/open": {"post": _op(
            "Open the door from the phone page", "CodeAction", params=[_path_param("token", "string")],
            body="pickup_open", errors=ALL)},
    }


def document():
    from server.api import firmware as firmware_api  # releases and rollouts
    paths = _paths()
    paths.update(firmware_api.openapi_paths(_op, _path_param))
    return {
        "openapi": "3.1.0",
        "info": {"title": "cunbox API", "version": "1",
                 "description": "Parcel lockers for village delivery stations. Errors are always "
                                "{\"error\": {\"code\", \"message\", ...}}. Roles: courier (scoped to a carrier), "
                                "operator (to a station), maintainer, locker (a locker credential)."},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": dict(SCHEMAS, **firmware_api.SCHEMAS),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "token from /auth/login, or a locker "
                                                                     "credential"}}},
        "paths": dict(paths, **station_sync_paths()),
    }


def station_sync_paths():
    from server.api.station_sync import OPENAPI_PATHS
    return OPENAPI_PATHS
