"""The locker side over HTTP (locker credentials): verify a typed code, report door events,
offline pickups and temperatures, read the live codes to install; maintainers' fleet actions."""
from flask import Blueprint, g, jsonify, request

from server.api.common import BODIES, auth, db, parse_body
from server.errors import NotFound
from server.models import Compartment
from server.services import codes, coldchain, door_reports, doors, fleet, idempotency, pickups

bp = Blueprint("lockers", __name__)


def _own_compartment(locker_id, compartment_id):
    """A locker may report only about its own compartments."""
    if g.principal.role == "locker" and g.principal.locker_id != locker_id:
        raise NotFound("no locker %s" % locker_id)
    with db().reading() as s:
        comp = s.get(Compartment, compartment_id)
        if comp is None or comp.locker_id != locker_id:
            raise NotFound("no compartment %s in locker %s" % (compartment_id, locker_id))


@bp.get("/lockers/<int:locker_id>")
@auth("operator", "maintainer", "locker")
def locker(locker_id):
    return jsonify(fleet.locker_view(db(), g.principal, locker_id))


@bp.post("/lockers/<int:locker_id>/codes/verify")
@auth("locker")
def verify_code(locker_id):
    b = parse_body(BODIES["code"])
    src = "locker:%d:%s" % (locker_id, b["source"] or "keypad")
    return jsonify(pickups.verify_at_locker(db(), g.principal, locker_id, b["code"], src,
                                            idempotency_key=request.headers.get(idempotency.HEADER)))


@bp.get("/lockers/<int:locker_id>/codes")
@auth("locker")
def live_codes(locker_id):
    if g.principal.locker_id != locker_id:
        raise NotFound("no locker %s" % locker_id)
    rows = codes.live_codes(db(), locker_id)
    for r in rows:
        r["salt"] = r["salt"].hex()
        r["hash"] = r["hash"].hex()
    return jsonify({"codes": rows})


@bp.post("/lockers/<int:locker_id>/door-events")
@auth("locker")
def door_event(locker_id):
    b = parse_body(BODIES["door_event"])
    key = request.headers.get(idempotency.HEADER)
    if key is not None:
        idempotency.Request(locker_id, "door-events", key, b)  # a bad key is refused before anything else
    _own_compartment(locker_id, b["compartment_id"])
    return jsonify(door_reports.door_event(db(), b["compartment_id"], b["event"], b["occupied"],
                                    actor=g.principal.actor, idempotency_key=key, locker_id=locker_id))


@bp.post("/lockers/<int:locker_id>/board-pickups")
@auth("locker")
def board_pickup(locker_id):
    b = parse_body(BODIES["board_pickup"])
    _own_compartment(locker_id, b["compartment_id"])
    return jsonify(pickups.board_pickup(db(), b["compartment_id"], b["code_id"], actor=g.principal.actor))


@bp.post("/lockers/<int:locker_id>/temperatures")
@auth("locker")
def temperature(locker_id):
    b = parse_body(BODIES["temperature"])
    _own_compartment(locker_id, b["compartment_id"])
    return jsonify(coldchain.record_reading(db(), b["compartment_id"], b["celsius"]))


@bp.post("/compartments/<int:compartment_id>/state")
@auth("maintainer")
def compartment_state(compartment_id):
    b = parse_body(BODIES["compartment_state"])
    return jsonify(fleet.set_compartment_state(db(), g.principal, compartment_id, b["state"]))


@bp.post("/lockers/<int:locker_id>/boards/<int:board_id>/config")
@auth("maintainer")
def board_config(locker_id, board_id):
    """Change a board's settings: queued for the link (CONFIG_SET); waits a bounded time for it."""
    b = parse_body(BODIES["board_config"])
    cmd = doors.queue_config(db(), locker_id, board_id, b["items"], g.principal.actor)
    return jsonify({"command": cmd}), 202
