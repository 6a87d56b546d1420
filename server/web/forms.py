"""Small form objects: parse and check submitted fields, keep one error message per field.

A form never raises for bad input: `validate()` returns False and `errors` maps each bad field to a
message key (translated when the page renders), so the template shows it next to that field and
the user's typing is kept. Service refusals that concern one field (no consent for this phone, no
free compartment of this size) are attached to that field with `add_error`.
"""
import re

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")            # mainland mobile numbers
TRACKING_RE = re.compile(r"^[A-Za-z0-9-]{6,40}$")
CODE_RE = re.compile(r"^\d{8}$")
CHECK_RE = re.compile(r"^\d{6}$")   # a phone check's one-time number


class Field:
    def __init__(self, name, label, kind="text", required=True, choices=None, pattern=None,
                 pattern_error="err.format", max_length=200, min_value=None, max_value=None, clean=None):
        self.name = name
        self.label = label              # message key
        self.kind = kind                # text, tel, password, number, select, checkbox, file, textarea
        self.required = required
        self.choices = choices          # list of (value, label key) for select
        self.pattern = pattern
        self.pattern_error = pattern_error
        self.max_length = max_length
        self.min_value = min_value
        self.max_value = max_value
        self.clean = clean              # optional extra cleaner: value -> value, raises ValueError(key)

    def parse(self, raw):
        """Return the cleaned value, or raise ValueError(message key)."""
        if self.kind == "checkbox":
            return raw in ("on", "1", "true", "yes")
        value = (raw or "").strip()
        if self.kind == "tel" or self.name in ("tracking_number", "code"):
            value = value.replace(" ", "")
        if not value:
            if self.required:
                raise ValueError("err.required")
            return None
        if len(value) > self.max_length:
            raise ValueError("err.too_long", {"limit": self.max_length})
        if self.choices is not None and value not in [c[0] for c in self.choices]:
            raise ValueError("err.choice")
        if self.pattern is not None and not self.pattern.match(value):
            raise ValueError(self.pattern_error)
        if self.kind == "number":
            try:
                value = int(value)
            except ValueError:
                raise ValueError("err.number") from None
            if self.min_value is not None and value < self.min_value:
                raise ValueError("err.number")
            if self.max_value is not None and value > self.max_value:
                raise ValueError("err.number")
        if self.clean is not None:
            value = self.clean(value)
        return value


class Form:
    fields = ()

    def __init__(self, formdata=None, files=None):
        self.formdata = formdata or {}
        self.files = files or {}
        self.raw = {f.name: self.formdata.get(f.name, "") for f in self.fields}
        self.cleaned = {}
        self.errors = {}
        self.error_params = {}
        self.form_error = None          # a refusal that concerns the whole form

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def validate(self):
        for f in self.fields:
            try:
                self.cleaned[f.name] = self.parse_field(f)
            except ValueError as exc:     # (message key) or (message key, its parameters)
                self.add_error(f.name, exc.args[0], **(exc.args[1] if len(exc.args) > 1 else {}))
        return not self.errors

    def parse_field(self, f):
        if f.kind == "file":
            upload = self.files.get(f.name)
            if upload is None or not upload.filename:
                if f.required:
                    raise ValueError("err.required")
                return None
            return upload
        return f.parse(self.formdata.get(f.name))

    def add_error(self, name, key, **params):
        self.errors[name] = key
        self.error_params[name] = params

    def value(self, name):
        """What to put back in the input: what the user typed (never a password)."""
        if self.field(name).kind in ("password", "file"):
            return ""
        return self.raw.get(name, "")


def phone_field(name="phone", label="f.phone", required=True):
    return Field(name, label, kind="tel", required=required, pattern=PHONE_RE, pattern_error="err.phone")


def tracking_field(name="tracking_number", label="f.tracking_number", required=True):
    return Field(name, label, pattern=TRACKING_RE, pattern_error="err.tracking", required=required)
