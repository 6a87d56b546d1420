"""Courier handheld: deposit, did-not-fit, cancel, collect sends, attach tracking numbers."""
from flask import Blueprint, g, jsonify

from server.api.common import BODIES, auth, db, parse_body
from server.services import deposits, sends

bp = Blueprint("couriers", __name__)


@bp.post("/deposits")
@auth("courier")
def start_deposit():
    b = parse_body(BODIES["deposit"])
    out = deposits.start_deposit(db(), g.principal, b["locker_id"], b["tracking_number"], b["recipient_phone"],
                                 b["size"], b["perishable"])
    return jsonify(out), 200 if out["replayed"] else 201


@bp.post("/parcels/<int:parcel_id>/did-not-fit")
@auth("courier")
def did_not_fit(parcel_id):
    return jsonify(deposits.did_not_fit(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/reopen")
@auth("courier")
def reopen(parcel_id):
    return jsonify(deposits.reopen(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/confirm-inside")
@auth("courier")
def confirm_inside(parcel_id):
    return jsonify(deposits.confirm_inside(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/cancel")
@auth("courier")
def cancel(parcel_id):
    return jsonify(deposits.cancel(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/collect")
@auth("courier")
def collect(parcel_id):
    return jsonify(sends.collect(db(), g.principal, parcel_id))


@bp.post("/parcels/<int:parcel_id>/tracking")
@auth("courier")
def attach_tracking(parcel_id):
    b = parse_body(BODIES["tracking"])
    return jsonify(sends.attach_tracking(db(), g.principal, parcel_id, b["tracking_number"]))
