"""Password sign-in for couriers, station operators and maintainers -> bearer token."""
from flask import Blueprint, jsonify

from server.api.common import BODIES, db, parse_body
from server.services import accounts

bp = Blueprint("auth", __name__)


@bp.post("/auth/login")
def login():
    body = parse_body(BODIES["login"])
    return jsonify(accounts.login(db(), body["login"], body["password"]))
