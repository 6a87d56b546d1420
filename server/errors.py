"""Errors that reach a client, each with a stable code, a message that says whose fault it is, and an
HTTP status. Services raise them; server/api/errors.py turns every one into the same JSON shape:
{"error": {"code": ..., "message": ..., ...details}}.
"""


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message, code=None, status=None, **details):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details

    def to_json(self):
        body = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Refused(ApiError):
    """A business rule says no (no consent, no free compartment, ...); `alternative` says what to do."""
    status = 422
    code = "refused"


class Gone(ApiError):
    status = 410
    code = "gone"


class Throttled(ApiError):
    status = 429
    code = "throttled"
