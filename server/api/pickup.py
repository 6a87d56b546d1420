"""The villager's pickup link: /api/v1/pickup/<token>?c=<code> (the link in the notification carries
both; the server keeps neither in clear). Shows the parcel, draws the QR code, opens the door."""
from flask import Blueprint, Response, jsonify, request

from server.api.common import BODIES, db, parse_body, source
from server.errors import BadRequest
from server.services import pickups, qr

bp = Blueprint("pickup", __name__)


def _code_arg():
    code = request.args.get("c", "")
    if not (len(code) == 8 and code.isdigit()):
        raise BadRequest("the link must carry the 8-digit code as ?c=", code="bad_query", field="c")
    return code


@bp.get("/pickup/<token>")
def view(token):
    return jsonify(pickups.link_view(db(), token, _code_arg(), source()))


@bp.get("/pickup/<token>/qr.png")
def qr_png(token):
    code = _code_arg()
    info = pickups.link_view(db(), token, code, source())
    return Response(qr.png(qr.payload(info["locker_id"], code)), mimetype="image/png",
                    headers={"Cache-Control": "no-store"})


@bp.get("/pickup/<token>/qr.svg")
def qr_svg(token):
    code = _code_arg()
    info = pickups.link_view(db(), token, code, source())
    return Response(qr.svg(qr.payload(info["locker_id"], code)), mimetype="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


@bp.post("/pickup/<token>/open")
def open_door(token):
    b = parse_body(BODIES["pickup_open"])
    return jsonify(pickups.open_from_link(db(), token, b["code"], source()))
