"""Checks a JSON response against the server's own OpenAPI document (the `app` fixture runs it on every
response a test receives)."""
import re

_DOC = {}


def openapi_doc():
    if not _DOC:
        from server.api.openapi import document
        _DOC.update(document())
    return _DOC


def openapi_path(rule):
    """Flask rule -> OpenAPI path: /api/v1/parcels/<int:parcel_id> -> /parcels/{parcel_id}."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule[len("/api/v1"):])


def response_problem(rule, method, status, mimetype, body):
    """None if this response is what the document says, else a description of the mismatch."""
    import jsonschema
    if rule is None:  # unknown URL: the 404 must still be our JSON error
        return None if mimetype == "application/json" and body and "error" in body else "non-JSON 404"
    doc = openapi_doc()
    op = doc["paths"].get(openapi_path(rule), {}).get(method.lower())
    if op is None:
        return "%s %s is not documented" % (method, rule)
    resp = op["responses"].get(str(status)) or op["responses"]["default"]
    content = resp.get("content", {})
    if mimetype not in content:
        return "%s %s -> %s %s: content type not documented" % (method, rule, status, mimetype)
    schema = content[mimetype].get("schema")
    if schema is None or body is None and mimetype != "application/json":
        return None
    errors = list(jsonschema.Draft202012Validator(dict(schema, components=doc["components"])).iter_errors(body))
    if errors:
        return "%s %s -> %s: %s" % (method, rule, status, "; ".join(e.message for e in errors[:3]))
    return None
