"""Station operator views: parcels, fee ledger, alarms; booking sends for villagers."""

from flask import Blueprint, g, jsonify, request

from server import clock
from server.api.common import BODIES, auth, db, parse_body
from server.errors import BadRequest
from server.models import PARCEL_STATES
from server.services import alarms, fees, parcels, sends
from server.services.principals import check_station

bp = Blueprint("stations", __name__)


@bp.get("/stations/<int:station_id>/parcels")
@auth("operator")
def station_parcels(station_id):
    state = request.args.get("state")
    if state is not None and state not in PARCEL_STATES:
        raise BadRequest("state must be one of %s" % ", ".join(PARCEL_STATES), code="bad_query", field="state")
    return jsonify({"parcels": parcels.station_parcels(db(), g.principal, station_id, state,
                                                       request.args.get("q"))})


@bp.get("/stations/<int:station_id>/ledger")
@auth("operator")
def ledger(station_id):
    check_station(g.principal, station_id)
    since = until = None
    month = request.args.get("month")
    if month:
        try:
            since, until = clock.month_bounds(month)     # a station's month is a Beijing month
        except ValueError:
            raise BadRequest("month must look like 2026-11", code="bad_query", field="month") from None
    carrier = request.args.get("carrier_id")
    if carrier is not None and not carrier.isdigit():
        raise BadRequest("carrier_id must be a number", code="bad_query", field="carrier_id")
    return jsonify(fees.ledger(db(), station_id, int(carrier) if carrier else None, since, until))


@bp.get("/stations/<int:station_id>/alarms")
@auth("operator")
def station_alarms(station_id):
    return jsonify({"alarms": alarms.list_alarms(db(), g.principal, station_id)})


@bp.post("/alarms/<int:alarm_id>/ack")
@auth("operator")
def ack_alarm(alarm_id):
    return jsonify(alarms.acknowledge(db(), g.principal, alarm_id))


@bp.post("/sends")
@auth("operator")
def book_send():
    b = parse_body(BODIES["send"])
    out = sends.book_send(db(), g.principal, b["account_id"], b["locker_id"], b["carrier_id"], b["size"],
                          b["perishable"], b["chilled_agreed"])
    return jsonify(out), 201


@bp.post("/sends/<int:parcel_id>/cancel")
@auth("operator")
def cancel_send(parcel_id):
    return jsonify(sends.cancel(db(), g.principal, parcel_id))
