"""Health (the framework floor for benchmarks) and the OpenAPI document."""
from flask import Blueprint, jsonify

bp = Blueprint("meta", __name__)


@bp.get("/health")
def health():
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi():
    from server.api.openapi import document
    return jsonify(document())
