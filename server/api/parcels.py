"""Parcels and door commands (any signed-in role, scoped), and operator actions on parcels."""
from flask import Blueprint, g, jsonify

from server.api.common import BODIES, auth, db, parse_body
from server.services import coldchain, overdue, parcels, pickups

bp = Blueprint("parcels", __name__)


@bp.get("/parcels/<int:parcel_id>")
@auth("courier", "operator")
def get_parcel(parcel_id):
    return jsonify(parcels.get_parcel(db(), g.principal, parcel_id))


@bp.get("/parcels/<int:parcel_id>/temperatures")
@auth("courier", "operator")
def temperatures(parcel_id):
    return jsonify(coldchain.parcel_history(db(), g.principal, parcel_id))


@bp.get("/commands/<int:command_id>")
@auth("courier", "operator", "maintainer")
def get_command(command_id):
    return jsonify(parcels.get_command(db(), g.principal, command_id))


@bp.post("/parcels/<int:parcel_id>/resend")
@auth("operator")
def resend(parcel_id):
    return jsonify(pickups.resend(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/extend")
@auth("operator")
def extend(parcel_id):
    b = parse_body(BODIES["extend"])
    return jsonify(pickups.extend(db(), g.principal, parcel_id, b["hours"]))


@bp.post("/parcels/<int:parcel_id>/revoke")
@auth("operator")
def revoke(parcel_id):
    return jsonify(pickups.revoke(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/retrieve")
@auth("operator")
def retrieve(parcel_id):
    return jsonify(overdue.retrieve(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/return")
@auth("operator")
def return_to_carrier(parcel_id):
    return jsonify(overdue.return_to_carrier(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/hand-over")
@auth("operator")
def hand_over(parcel_id):
    return jsonify(overdue.hand_over_at_counter(db(), g.principal, parcel_id))
