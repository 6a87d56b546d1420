"""Every error leaves the API as {"error": {"code", "message", ...}} with a fitting status."""
import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from server.errors import ApiError

log = logging.getLogger("cunbox.api")


def register(app):
    @app.errorhandler(ApiError)
    def _api_error(exc):
        resp = jsonify(exc.to_json())
        resp.status_code = exc.status
        if exc.status == 429 and "retry_after" in exc.details:
            resp.headers["Retry-After"] = str(exc.details["retry_after"])
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = (exc.name or "error").lower().replace(" ", "_")
        resp = jsonify({"error": {"code": code, "message": exc.description}})
        resp.status_code = exc.code or 500
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unhandled error")
        resp = jsonify({"error": {"code": "internal_error",
                                  "message": "the server failed; nothing was changed by this request"}})
        resp.status_code = 500
        return resp
