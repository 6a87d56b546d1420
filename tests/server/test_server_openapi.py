"""The OpenAPI document matches the routes that exist (both ways). Response bodies are checked
against it by the `app` fixture in every server test."""
import jsonschema
from support.openapi_check import openapi_path


def test_every_route_is_documented_and_every_documented_path_exists(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("web."):
            continue  # the web pages (server/web) are HTML for people, not part of the JSON API
        assert rule.rule.startswith("/api/v1/"), rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((openapi_path(rule.rule), method.lower()))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations that do not exist"


def test_document_is_well_formed(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    # Every schema is valid JSON Schema 2020-12 and every $ref resolves.
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    text = str(doc)
    import re
    for ref in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert ref in doc["components"]["schemas"], ref
    for path, ops in doc["paths"].items():
        params = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (path, method)
            assert op["responses"], (path, method)
            if op["security"]:
                assert op["x-roles"], (path, method)


def test_request_bodies_in_the_document_are_what_the_views_enforce(client):
    """A body the document calls invalid is refused by the view with 400, and the other way round."""
    doc = client.get("/api/v1/openapi.json").get_json()
    schema = doc["paths"]["/deposits"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    v = jsonschema.Draft202012Validator(schema)
    good = {"locker_id": 1, "tracking_number": "PN000001", "recipient_phone": "13800000001", "size": "S"}
    assert v.is_valid(good)
    for bad in ({**good, "size": "XXL"}, {**good, "extra": 1}, {k: good[k] for k in list(good)[1:]},
                {**good, "perishable": "no"}, {**good, "tracking_number": "x y"}):
        assert not v.is_valid(bad)


def test_documented_roles_are_the_roles_the_api_enforces(db, client):
    """Every secured operation answers 401 without a token and 403 wrong_role to each role the
    document does not list; the listed roles get past the role check."""
    import re

    from support.server_world import bearer, build_world
    w = build_world(db)
    tokens = {"courier": w.courier_token, "operator": w.operator_token, "maintainer": w.maintainer_token,
              "locker": w.locker_token}
    doc = client.get("/api/v1/openapi.json").get_json()
    checked = 0
    for path, ops in doc["paths"].items():
        url = "/api/v1" + re.sub(r"{\w+}", "1", path)
        for method, op in ops.items():
            if not op["security"]:
                continue
            r = client.open(url, method=method.upper(), json={})
            assert r.status_code == 401 and r.get_json()["error"]["code"] == "no_credentials", (method, path)
            for role, token in tokens.items():
                r = client.open(url, method=method.upper(), headers=bearer(token), json={})
                code = r.get_json()["error"]["code"] if r.status_code >= 400 else None
                if role in op["x-roles"]:
                    assert code != "wrong_role", (method, path, role)
                else:
                    assert r.status_code == 403 and code == "wrong_role", (method, path, role, r.status_code)
            checked += 1
    assert checked >= 25
