"""What every view needs: the database, the caller's principal, and a validated JSON body."""
import functools
import re

from flask import current_app, g, request

from server.errors import BadRequest
from server.services import accounts
from server.services.principals import require_role


def db():
    return current_app.extensions["cunbox_db"]


def auth(*roles):
    """Resolve the bearer token into g.principal and check its role."""
    def deco(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else None
            g.principal = accounts.authenticate_token(db(), token)
            if roles:
                require_role(g.principal, *roles)
            return view(*args, **kwargs)
        return wrapper
    return deco


def source():
    """Where a code attempt comes from, for throttling."""
    return "ip:%s" % (request.remote_addr or "unknown")


ID_MAX = 2 ** 31 - 1  # PostgreSQL INTEGER; larger numbers never name a row and overflow the driver


class Field:
    TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float), "object": dict}

    def __init__(self, kind, required=True, choices=None, pattern=None, max_len=None, minimum=None,
                 maximum=None, default=None, description=None, schema_extra=None):
        self.schema_extra = schema_extra or {}
        self.kind = kind
        self.required = required
        self.choices = choices
        self.pattern = re.compile(pattern) if pattern else None
        self.max_len = max_len
        self.minimum = minimum
        self.maximum = ID_MAX if kind == "integer" and maximum is None else maximum
        self.default = default
        self.description = description

    def check(self, name, value):
        ok = isinstance(value, self.TYPES[self.kind])
        if self.kind in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            raise BadRequest("field '%s' must be %s" % (name, self.kind), code="bad_body", field=name)
        if self.choices is not None and value not in self.choices:
            raise BadRequest("field '%s' must be one of %s" % (name, ", ".join(map(str, self.choices))),
                             code="bad_body", field=name)
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise BadRequest("field '%s' has a bad format" % name, code="bad_body", field=name)
        if self.max_len is not None and len(value) > self.max_len:
            raise BadRequest("field '%s' is longer than %d" % (name, self.max_len), code="bad_body", field=name)
        if self.minimum is not None and value < self.minimum:
            raise BadRequest("field '%s' must be at least %s" % (name, self.minimum), code="bad_body", field=name)
        if self.maximum is not None and value > self.maximum:
            raise BadRequest("field '%s' must be at most %s" % (name, self.maximum), code="bad_body", field=name)

    def schema(self):
        """This field as JSON Schema, for the OpenAPI document."""
        out = {"type": self.kind}
        if self.choices is not None:
            out["enum"] = list(self.choices)
        if self.pattern is not None:
            out["pattern"] = "^(?:%s)$" % self.pattern.pattern
        if self.max_len is not None:
            out["maxLength"] = self.max_len
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.description:
            out["description"] = self.description
        out.update(self.schema_extra)
        return out


def body_schema(spec):
    return {"type": "object", "additionalProperties": False,
            "properties": {k: f.schema() for k, f in spec.items()},
            "required": [k for k, f in spec.items() if f.required]}


def parse_body(spec):
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object (Content-Type: application/json)", code="bad_body")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise BadRequest("unknown field(s): %s" % ", ".join(unknown), code="bad_body", field=unknown[0])
    out = {}
    for name, field in spec.items():
        if name not in data or data[name] is None:
            if field.required:
                raise BadRequest("field '%s' is required" % name, code="bad_body", field=name)
            out[name] = field.default
            continue
        field.check(name, data[name])
        out[name] = data[name]
    return out


# Bodies are declared once here and used by both the views and the OpenAPI document.
TRACKING = r"[A-Za-z0-9\-]{6,40}"
BODIES = {
    "login": {"login": Field("string", max_len=80), "password": Field("string", max_len=200)},
    "deposit": {
        "locker_id": Field("integer", minimum=1),
        "tracking_number": Field("string", pattern=TRACKING),
        "recipient_phone": Field("string", max_len=20),
        "size": Field("string", choices=["S", "M", "L", "XL"]),
        "perishable": Field("boolean", required=False, default=False),
    },
    "tracking": {"tracking_number": Field("string", pattern=TRACKING)},
    "extend": {"hours": Field("integer", minimum=1, maximum=24 * 14)},
    "send": {
        "account_id": Field("integer", minimum=1),
        "locker_id": Field("integer", minimum=1),
        "carrier_id": Field("integer", minimum=1),
        "size": Field("string", choices=["S", "M", "L", "XL"]),
        "perishable": Field("boolean", required=False, default=False),
        "chilled_agreed": Field("boolean", required=False, default=False,
                                description="the sender agreed to chilled storage (required for fresh produce)"),
    },
    "code": {"code": Field("string", pattern=r"\d{8}", description="the 8-digit code"),
             "source": Field("string", required=False, max_len=60,
                             description="keypad / scanner id, for throttling")},
    "pickup_open": {"code": Field("string", pattern=r"\d{8}")},
    "door_event": {"compartment_id": Field("integer", minimum=1),
                   "event": Field("string", choices=["opened", "closed"]),
                   "occupied": Field("boolean", required=False)},
    "board_pickup": {"compartment_id": Field("integer", minimum=1), "code_id": Field("integer", required=False)},
    "temperature": {"compartment_id": Field("integer", minimum=1),
                    "celsius": Field("number", minimum=-60, maximum=90)},
    "compartment_state": {"state": Field("string", choices=["free", "disabled", "faulty"])},
    "board_config": {"items": Field("object", description="setting -> value, as the board takes them: "
                                    "left_open_s, door_window_ms (1..86400000), disabled (e.g. \"2,5\")",
                                    schema_extra={"minProperties": 1, "maxProperties": 8,
                                                  "additionalProperties": {"type": ["string", "integer"]}})},
}
