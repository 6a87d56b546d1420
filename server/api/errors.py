"""Every error leaves the API as {"error": {"code", "message", ...}} with a fitting status.

`answer(exc)` is that JSON for any exception; the app factory (server/app.py) calls it for every
path the API owns (`owns(path)`: /api and below), those that match no route included, and the web
error page for every other path."""
import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from server.errors import ApiError

log = logging.getLogger("cunbox.api")

PREFIX = "/api"


def owns(path):
    """Whether `path` is the API's (/api, /api/...): its errors answer in JSON, wherever they arise."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def answer(exc):
    """The API's JSON answer to `exc`: an ApiError as it says, an HTTP error by its name, anything else
    a 500 that says nothing was changed."""
    if isinstance(exc, ApiError):
        resp = jsonify(exc.to_json())
        resp.status_code = exc.status
        if exc.status == 429 and "retry_after" in exc.details:
            resp.headers["Retry-After"] = str(exc.details["retry_after"])
        return resp
    if isinstance(exc, HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        resp = jsonify({"error": {"code": code, "message": exc.description}})
        resp.status_code = exc.code or 500
        for name, value in exc.get_headers():    # e.g. Allow on a 405
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp
    log.exception("unhandled error")
    resp = jsonify({"error": {"code": "internal_error",
                              "message": "the server failed; nothing was changed by this request"}})
    resp.status_code = 500
    return resp
