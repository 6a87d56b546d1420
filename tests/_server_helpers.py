"""Shared fixtures and builders for the server tests (imported explicitly by test_server_*.py)."""
import hashlib
import os
import re
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, inspect, select, text

from server import migrate
from server.app import create_app
from server.db import Database
from server.models import Base, Notification
from server.services import accounts, provisioning
from server.services.principals import Principal

FAST = "pbkdf2:sha256:1000"  # test passwords need no slow hashing
PG_URL = os.environ.get("CUNBOX_TEST_POSTGRES_URL")
SETTINGS = {"PUBLIC_URL": "http://cunbox.test", "THROTTLE_WINDOW_SECONDS": 600, "THROTTLE_PER_SOURCE": 5,
            "THROTTLE_PER_LOCKER": 30}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("cbx-template") / "template.sqlite3"
    migrate.upgrade("sqlite:///%s" % path)
    return path


@pytest.fixture
def db(request, tmp_path):
    """A migrated SQLite file per test. CUNBOX_TEST_SERVER_ON_POSTGRES=1 (with CUNBOX_TEST_POSTGRES_URL)
    runs every server test on PostgreSQL instead (slower; the concurrency and migration tests run on
    both anyway)."""
    if os.environ.get("CUNBOX_TEST_SERVER_ON_POSTGRES"):
        yield request.getfixturevalue("pg_db")
        return
    database = _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "cunbox.sqlite3")
    yield database
    database.dispose()


@pytest.fixture
def other_db(sqlite_template, tmp_path):
    """A second migrated SQLite file beside `db`: its ids repeat db's (what per-database state is for)."""
    database = _sqlite_copy(sqlite_template, tmp_path / "other.sqlite3")
    yield database
    database.dispose()


def _sqlite_copy(template, path):
    shutil.copy(template, path)
    return Database("sqlite:///%s" % path, settings=dict(SETTINGS))


@pytest.fixture(scope="session")
def pg_server_url():
    if not PG_URL:
        pytest.skip("PostgreSQL tests need CUNBOX_TEST_POSTGRES_URL (.ci/run sets it)")
    return PG_URL


def private_pg_database(server_url):
    """Create a uniquely named database on the server; returns (url, drop_fn)."""
    name = "cunbox_test_%s" % uuid.uuid4().hex[:12]
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "%s"' % name))
    url = server_url.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        admin.dispose()
    return url, drop


@pytest.fixture
def private_pg_url(pg_server_url):
    """An empty database of its own on the PostgreSQL server (for a whole stack), dropped afterwards."""
    url, drop = private_pg_database(pg_server_url)
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def pg_migrated(pg_server_url):
    url, drop = private_pg_database(pg_server_url)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop()


@pytest.fixture
def pg_db(pg_migrated):
    database = Database(pg_migrated, settings=dict(SETTINGS))
    names = ", ".join('"%s"' % t.name for t in Base.metadata.sorted_tables)
    with database.engine.begin() as conn:
        conn.execute(text("TRUNCATE %s RESTART IDENTITY CASCADE" % names))
    yield database
    database.dispose()


@pytest.fixture
def app(db):
    """The app, with every JSON response it sends checked against its own OpenAPI document."""
    from flask import request
    application = create_app({"DATABASE": db, "TESTING": True, "PUBLIC_URL": SETTINGS["PUBLIC_URL"]})
    seen = []

    @application.after_request
    def _record(resp):
        rule = request.url_rule.rule if request.url_rule else None
        seen.append((rule, request.method, resp.status_code, resp.mimetype,
                     resp.get_json(silent=True) if resp.is_json else None))
        return resp

    yield application
    problems = [p for p in (response_problem(*s) for s in seen) if p]
    assert not problems, "responses that do not match the OpenAPI document:\n" + "\n".join(problems)


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


@pytest.fixture
def client(app):
    return app.test_client()


class World:
    """A small county: ids and tokens of everything a test needs."""


def build_world(db, layout=None, lockers=1, extra_station=True):
    w = World()
    with db.transaction() as s:
        town = provisioning.township(s, "Qingshan", "Anyang County")
        st = provisioning.station(s, town, "Dongcun station", "Dongcun village, No. 1 Main Street",
                                  storage_hours=72, free_hours=72, recipient_fee_cents_per_day=100)
        w.station_id = st.id
        w.lockers = []
        for i in range(lockers):
            lk = provisioning.locker(s, st, "Dongcun locker %d" % (i + 1), "socket://127.0.0.1:%d" % (42090 + i),
                                     layout or [(1, [("S", False, "middle"), ("M", False, "middle"),
                                                     ("L", False, "low"), ("M", True, "middle")])])
            w.lockers.append(lk.id)
        w.locker_id = w.lockers[0]
        w.locker_token = accounts.issue_token(s, locker=s.get(type(lk), w.locker_id), label="locker")
        post = provisioning.carrier(s, "post", "China Post", "postal")
        sf = provisioning.carrier(s, "sf", "SF Express", "express")
        w.carrier_id, w.other_carrier_id = post.id, sf.id
        courier = accounts.create_user(s, "courier", "courier-post", "pw-courier", "Li", carrier_id=post.id,
                                       method=FAST)
        other = accounts.create_user(s, "courier", "courier-sf", "pw-sf", "Wang", carrier_id=sf.id, method=FAST)
        op = accounts.create_user(s, "operator", "op-dongcun", "pw-op", "Zhao", station_id=st.id, method=FAST)
        maint = accounts.create_user(s, "maintainer", "maint", "pw-maint", "Sun", method=FAST)
        w.courier = Principal("courier", user_id=courier.id, carrier_id=post.id)
        w.other_courier = Principal("courier", user_id=other.id, carrier_id=sf.id)
        w.operator = Principal("operator", user_id=op.id, station_id=st.id)
        w.maintainer = Principal("maintainer", user_id=maint.id)
        w.courier_token = accounts.issue_token(s, user=courier)
        w.other_courier_token = accounts.issue_token(s, user=other)
        w.operator_token = accounts.issue_token(s, user=op)
        w.maintainer_token = accounts.issue_token(s, user=maint)
        w.consenting = provisioning.account(s, st, "Chen Mei", "138-0000-0001", consent=True).id
        w.consenting_phone = "13800000001"
        w.refusing_phone = "13800000002"
        provisioning.account(s, st, "Liu Wei", "13800000002", consent=False)
        w.low_pref_phone = "13800000003"
        provisioning.account(s, st, "Old Zhang", "13800000003", consent=True, height_preference="low")
        if extra_station:
            st2 = provisioning.station(s, town, "Xicun station", "Xicun village")
            lk2 = provisioning.locker(s, st2, "Xicun locker", "socket://127.0.0.1:42099", [(1, [("M", False, "low")])])
            w.other_station_id, w.other_locker_id = st2.id, lk2.id
            op2 = accounts.create_user(s, "operator", "op-xicun", "pw-op2", "Qian", station_id=st2.id, method=FAST)
            w.other_operator_token = accounts.issue_token(s, user=op2)
            w.other_operator = Principal("operator", user_id=op2.id, station_id=st2.id)
            w.other_locker_token = accounts.issue_token(s, locker=lk2, label="locker")
    return w


def bearer(token):
    return {"Authorization": "Bearer %s" % token}


def snapshot(db):
    """Every row of every table, to assert that a refused request changed nothing."""
    out = {}
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            rows = conn.execute(text('SELECT * FROM "%s" ORDER BY 1' % table)).all()
            out[table] = [tuple(r) for r in rows]
    return out


def last_code(db, parcel_id):
    """The clear code, as the villager reads it in the notification (the outbox is the only place)."""
    with db.reading() as s:
        note = s.scalars(select(Notification).where(Notification.parcel_id == parcel_id,
                                                    Notification.kind == "pickup_code")
                         .order_by(Notification.id.desc())).first()
        return re.search(r"取件码(\d{8})", note.body).group(1), note


def link_of(note_body):
    m = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", note_body)
    return m.group(1), m.group(2)


def sha16(salt, code):
    return hashlib.sha256(salt + code.encode()).digest()[:16]


__all__ = ["sqlite_template", "db", "other_db", "pg_server_url", "private_pg_url", "pg_migrated", "pg_db", "app",
           "client"]
