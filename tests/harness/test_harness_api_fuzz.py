"""API fuzzing with schemathesis against /api/v1/openapi.json, in process (WSGI), on a real SQLite
database holding a small county with parcels in every state.

For every documented operation, generated requests (valid and invalid bodies, queries and paths;
real ids of this county half the time, so the handlers get past "not found") are sent as a random
caller: nobody, a courier, a courier of another carrier, the station's operator, another station's
operator, a maintainer, the locker, another locker. Every response must:
- not be a 5xx, and match the document (status code, content type, body schema, headers);
- if it is an error (>= 400), leave the database exactly as it was, except the throttling counter
  of wrong pickup codes (code_attempts), which is what an error there must record, and for a wrong
  code sent with an Idempotency-Key the stored answer (idempotency_keys), so a resend is not counted,
  and for a rejected station import file its entry in the run log (station_sync_runs, and the
  station's sync source it hangs on, station_sync_sources);
- if it succeeded, have touched only parcels and compartments the caller may act on.
"""
import os
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as sc
from schemathesis.generation import GenerationMode
from sqlalchemy import inspect, text
from support.server_world import SETTINGS, bearer, build_world

from server.api.openapi import document
from server.app import create_app
from server.db import Database
from server.services import door_reports

EXAMPLES = int(os.environ.get("CUNBOX_API_FUZZ_EXAMPLES", "10"))
CHECKS = [sc.not_a_server_error, sc.status_code_conformance, sc.content_type_conformance,
          sc.response_schema_conformance, sc.response_headers_conformance]
ROLES = ("nobody", "courier", "other_courier", "operator", "other_operator", "maintainer", "locker",
         "other_locker")
# Errors that must record something: a wrong pickup code and a failed sign-in are counted for throttling.
ERROR_MAY_CHANGE = {"code_attempts", "sign_in_attempts"}


def _operations():
    out = []
    for path, ops in document()["paths"].items():
        for method in ops:
            out.append((method.upper(), path))
    return out


def _tables(db):
    """[(table, primary key columns)] of every table but Alembic's."""
    with db.engine.connect() as conn:
        insp = inspect(conn)
        return [(t, insp.get_pk_constraint(t)["constrained_columns"]) for t in insp.get_table_names()
                if t != "alembic_version"]


def _rows(db, tables):
    """{table: {primary key: row mapping}} for every table."""
    out = {}
    with db.engine.connect() as conn:
        for table, pk in tables:
            rows = conn.execute(text('SELECT * FROM "%s"' % table)).mappings().all()
            out[table] = {tuple(r[c] for c in pk): dict(r) for r in rows}
    return out


def _changed(before, after):
    """{table: [(old row or None, new row or None)]} for rows that differ."""
    out = {}
    for table in set(before) | set(after):
        b, a = before.get(table, {}), after.get(table, {})
        diff = [(b.get(k), a.get(k)) for k in set(b) | set(a) if b.get(k) != a.get(k)]
        if diff:
            out[table] = diff
    return out


class County:
    """build_world plus parcels in several states, and the tokens of every kind of caller."""

    def __init__(self, db, client):
        w = self.w = build_world(db, lockers=2)
        self.tokens = {"courier": w.courier_token, "other_courier": w.other_courier_token,
                       "operator": w.operator_token, "other_operator": w.other_operator_token,
                       "maintainer": w.maintainer_token, "locker": w.locker_token,
                       "other_locker": w.other_locker_token}
        self.parcels = []
        self.compartments = []
        for i, finish in enumerate(("closed", "opened", None, "closed")):
            r = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                            json={"locker_id": w.locker_id, "tracking_number": "FZ%06d" % i,
                                  "recipient_phone": w.consenting_phone, "size": "S" if i % 2 else "M"})
            assert r.status_code == 201, r.get_json()
            body = r.get_json()
            self.parcels.append(body["parcel"]["id"])
            self.compartments.append(body["compartment"]["id"])
            if finish:
                door_reports.door_event(db, body["compartment"]["id"], "opened")
                if finish == "closed":
                    door_reports.door_event(db, body["compartment"]["id"], "closed", occupied=True)
        with db.reading() as s:
            self.commands = [r[0] for r in s.execute(text("SELECT id FROM locker_commands")).all()]
            self.stations = [r[0] for r in s.execute(text("SELECT id FROM stations")).all()]
            self.lockers = [r[0] for r in s.execute(text("SELECT id FROM lockers")).all()]
            self.alarms = [r[0] for r in s.execute(text("SELECT id FROM alarms")).all()] or [1]
            self.all_compartments = [r[0] for r in s.execute(text("SELECT id FROM compartments")).all()]
        self.ids = {"parcel_id": self.parcels, "compartment_id": self.all_compartments,
                    "command_id": self.commands or [1], "station_id": self.stations, "locker_id": self.lockers,
                    "alarm_id": self.alarms}

    def scope_problem(self, who, changes):
        """A description of a change outside the caller's reach, or None."""
        w = self.w
        for old, new in changes.get("parcels", []):
            row = new or old
            if who == "courier" and row["carrier_id"] != w.carrier_id and not _is_new_courier_parcel(old, row):
                return "courier changed another carrier's parcel %s" % row["id"]
            if who in ("other_courier",) and old is not None and old["carrier_id"] != w.other_carrier_id:
                return "other courier changed parcel %s" % row["id"]
            if who == "operator" and row["station_id"] != w.station_id:
                return "operator changed another station's parcel %s" % row["id"]
            if who == "other_operator" and row["station_id"] != w.other_station_id:
                return "other operator changed parcel %s of another station" % row["id"]
            if who == "locker" and row["locker_id"] != w.locker_id:
                return "locker changed parcel %s of another locker" % row["id"]
            if who == "other_locker" and row["locker_id"] != w.other_locker_id:
                return "other locker changed parcel %s" % row["id"]
            if who in ("nobody", "maintainer") and old is not None and old != new and who == "maintainer":
                return "maintainer changed parcel %s" % row["id"]
        for old, new in changes.get("compartments", []):
            row = new or old
            if who in ("locker", "other_locker"):
                mine = w.locker_id if who == "locker" else w.other_locker_id
                if row["locker_id"] != mine:
                    return "%s changed compartment %s of another locker" % (who, row["id"])
            if who in ("operator", "other_operator", "courier", "other_courier", "nobody"):
                pass  # couriers' deposits and operators' actions move compartments within parcels' scope
        return None


def _error_code(response):
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _is_new_courier_parcel(old, row):
    return False


class Rig:
    def __init__(self, db):
        self.db = db
        self.app = create_app({"DATABASE": db, "TESTING": True})
        self.county = County(db, self.app.test_client())
        self.schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", self.app)
        self.tables = _tables(db)


@pytest.fixture(scope="module")
def rig(sqlite_template, tmp_path_factory):
    """One county for the whole module: its state evolves as the fuzzer acts on it, as a real one would."""
    path = tmp_path_factory.mktemp("api-fuzz") / "cunbox.sqlite3"
    shutil.copy(sqlite_template, path)
    db = Database("sqlite:///%s" % path, settings=dict(SETTINGS))
    yield Rig(db)
    db.dispose()


@pytest.mark.parametrize("method,path", _operations(), ids=["%s %s" % mp for mp in _operations()])
def test_api_operation_fuzzed(rig, method, path):
    db, county, tables = rig.db, rig.county, rig.tables
    op = rig.schema[path][method]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=GenerationMode.POSITIVE) | op.as_strategy(
        generation_mode=GenerationMode.NEGATIVE),
        who=st.sampled_from(ROLES), real=st.booleans(), pick=st.integers(0, 1000))
    def one(case, who, real, pick):
        if real:
            for name in list(case.path_parameters or {}):
                if name in county.ids:
                    choices = county.ids[name]
                    case.path_parameters[name] = choices[pick % len(choices)]
        headers = dict(case.headers or {})
        headers.pop("Authorization", None)
        if who != "nobody":
            headers.update(bearer(county.tokens[who]))
        case.headers = headers
        before = _rows(db, tables)
        response = case.call()
        after = _rows(db, tables)
        case.validate_response(response, checks=CHECKS)
        changes = _changed(before, after)
        if response.status_code >= 400:
            extra = set(changes) - ERROR_MAY_CHANGE
            if _error_code(response) == "wrong_code":
                extra.discard("idempotency_keys")  # the stored wrong-code answer for a keyed resend
            if _error_code(response) == "file_rejected":
                # the run log lists rejected files (status "rejected"), under the station's sync source
                extra -= {"station_sync_runs", "station_sync_sources"}
            assert not extra, "%s %s -> %s changed %s" % (method, case.formatted_path, response.status_code,
                                                          sorted(extra))
        else:
            problem = county.scope_problem(who, changes)
            assert problem is None, "%s %s as %s: %s" % (method, case.formatted_path, who, problem)

    one()
