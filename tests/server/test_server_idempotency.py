"""Idempotency keys on the locker's HTTP requests that may be resent after a lost answer (finding F4):
the code check and the door event. A resend with the same key gets the first answer and changes
nothing; a new key is a new attempt; a bad key or a reused key is refused and changes nothing."""
import datetime
import uuid

import pytest
from sqlalchemy import func, select
from support.server_world import bearer, build_world, last_code, snapshot

from server import housekeeping
from server.models import AuditEvent, CodeAttempt, IdempotencyKey, LockerCommand
from server.services import door_reports


def _key():
    return uuid.uuid4().hex


def _in_locker(db, client, w, tracking="PN000001"):
    """A parcel deposited and its door closed on it (door events sent with keys, as a locker does)."""
    body = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                       json={"locker_id": w.locker_id, "tracking_number": tracking,
                             "recipient_phone": w.consenting_phone, "size": "S"}).get_json()
    comp = body["compartment"]["id"]
    for ev, occ in (("opened", None), ("closed", True)):
        r = _door(client, w, comp, ev, occ, _key())
        assert r.status_code == 200, r.get_json()
    code, _note = last_code(db, body["parcel"]["id"])
    return body["parcel"]["id"], comp, code


def _verify(client, w, code, key=None, source="keypad"):
    headers = bearer(w.locker_token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/lockers/%d/codes/verify" % w.locker_id, headers=headers,
                       json={"code": code, "source": source})


def _door(client, w, comp, event, occupied=None, key=None):
    headers = bearer(w.locker_token)
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"compartment_id": comp, "event": event}
    if occupied is not None:
        body["occupied"] = occupied
    return client.post("/api/v1/lockers/%d/door-events" % w.locker_id, headers=headers, json=body)


def _count(db, model, *where):
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_resent_code_check_gets_the_same_answer_and_charges_no_attempt(db, client):
    w = build_world(db)
    pid, comp, code = _in_locker(db, client, w)
    key = _key()
    first = _verify(client, w, code, key)
    assert first.status_code == 200 and first.get_json()["action"] == "pickup"
    before = snapshot(db)
    again = _verify(client, w, code, key)  # the answer to the first copy was lost; the locker resends
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first.get_json()
    assert snapshot(db) == before  # no attempt charged, no second door command, nothing else
    assert _count(db, CodeAttempt) == 0
    assert _count(db, LockerCommand, LockerCommand.parcel_id == pid, LockerCommand.kind == "open",
                  LockerCommand.purpose == "pickup") == 1


def test_a_used_code_with_a_new_key_is_still_a_wrong_code(db, client):
    w = build_world(db)
    _pid, _comp, code = _in_locker(db, client, w)
    assert _verify(client, w, code, _key()).status_code == 200
    r = _verify(client, w, code, _key())  # a new attempt: someone typed the used code again
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "wrong_code"
    assert _count(db, CodeAttempt) == 1
    r = _verify(client, w, code)  # and without a key, as before
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "wrong_code"
    assert _count(db, CodeAttempt) == 2


def test_resent_wrong_code_gets_the_same_refusal_and_is_counted_once(db, client):
    w = build_world(db)
    _pid, _comp, code = _in_locker(db, client, w)
    wrong = "%08d" % ((int(code) + 1) % 10 ** 8)
    key = _key()
    first = _verify(client, w, wrong, key)
    assert first.status_code == 403 and first.get_json()["error"]["code"] == "wrong_code"
    for _ in range(3):
        again = _verify(client, w, wrong, key)
        assert (again.status_code, again.get_json()) == (403, first.get_json())
    assert _count(db, CodeAttempt) == 1
    assert _verify(client, w, code, _key()).status_code == 200  # the right code still opens


def test_bad_key_is_a_clear_400_and_changes_nothing(db, client):
    w = build_world(db)
    _pid, comp, code = _in_locker(db, client, w)
    before = snapshot(db)
    for bad in ("short", "x" * 65, "has space in it", "ключ-ключ-ключ", ""):
        r = _verify(client, w, code, bad)
        assert r.status_code == 400, (bad, r.get_json())
        assert r.get_json()["error"]["code"] == "bad_idempotency_key"
        assert r.get_json()["error"]["field"] == "Idempotency-Key"
        r = _door(client, w, comp, "opened", key=bad)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_idempotency_key"
    assert snapshot(db) == before


def test_a_key_reused_for_a_different_request_is_refused_and_changes_nothing(db, client):
    w = build_world(db)
    _pid, comp, code = _in_locker(db, client, w)
    wrong = "%08d" % ((int(code) + 1) % 10 ** 8)
    key = _key()
    assert _verify(client, w, wrong, key).status_code == 403
    before = snapshot(db)
    r = _verify(client, w, code, key)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "idempotency_key_reused"
    k2 = _key()
    assert _door(client, w, comp, "opened", key=k2).status_code == 200
    before = snapshot(db)
    r = _door(client, w, comp, "closed", False, key=k2)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "idempotency_key_reused"
    assert snapshot(db) == before


def test_resent_door_event_writes_one_audit_row(db, client):
    w = build_world(db)
    pid, comp, code = _in_locker(db, client, w)
    assert _verify(client, w, code, _key()).status_code == 200
    opened, closed = _key(), _key()
    answers = [_door(client, w, comp, "opened", key=opened) for _ in range(2)]
    answers += [_door(client, w, comp, "closed", False, key=closed) for _ in range(3)]
    assert [r.status_code for r in answers] == [200] * 5
    assert answers[2].get_json()["outcome"] == "picked_up"
    assert answers[3].get_json() == answers[4].get_json() == answers[2].get_json()
    assert _count(db, AuditEvent, AuditEvent.parcel_id == pid, AuditEvent.action == "door_opened") == 2
    assert _count(db, AuditEvent, AuditEvent.parcel_id == pid, AuditEvent.action == "door_closed") == 2
    # the same key at another locker is another locker's key: keys are scoped per locker
    with db.reading() as s:
        assert {r.locker_id for r in s.scalars(select(IdempotencyKey)).all()} == {w.locker_id}


def test_door_event_without_key_is_written_each_time(db, client):
    """Without a key nothing tells a resend from a new report (the behaviour the key fixes)."""
    w = build_world(db)
    pid, comp, _code = _in_locker(db, client, w)
    for _ in range(2):
        assert _door(client, w, comp, "opened").status_code == 200
    assert _count(db, AuditEvent, AuditEvent.parcel_id == pid, AuditEvent.action == "door_opened") == 3


def test_housekeeping_forgets_keys_after_a_day(db, client):
    w = build_world(db)
    _pid, comp, code = _in_locker(db, client, w)
    assert _count(db, IdempotencyKey) == 2
    now = datetime.datetime.utcnow()
    assert housekeeping.run_once(db, now=now)["idempotency_keys_expired"] == 0
    out = housekeeping.run_once(db, now=now + datetime.timedelta(hours=25))
    assert out["idempotency_keys_expired"] == 2
    assert _count(db, IdempotencyKey) == 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request):
    return request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")


def test_copies_sent_at_the_same_time_get_one_answer_and_open_once(any_db):
    """A resend can overtake a slow first copy: copies racing with one key all get the first answer,
    the door is asked to open once and no attempt is charged (on PostgreSQL the unique key makes the
    late copies wait for the first and then replay its answer)."""
    import threading

    from server.services import deposits, pickups
    from server.services.principals import Principal
    db = any_db
    w = build_world(db, layout=[(1, [("S", False, "middle")] * 4)])
    r = deposits.start_deposit(db, w.courier, w.locker_id, "RC000001", w.consenting_phone, "S")
    door_reports.door_event(db, r["compartment"]["id"], "closed", occupied=True)
    pid = r["parcel"]["id"]
    code, _ = last_code(db, pid)
    locker, key = Principal("locker", locker_id=w.locker_id), _key()
    answers, errors, start = [], [], threading.Barrier(6)

    def copy():
        start.wait()
        try:
            answers.append(pickups.verify_at_locker(db, locker, w.locker_id, code, "kiosk", idempotency_key=key))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=copy) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(answers) == 6
    assert all(a == answers[0] for a in answers) and answers[0]["action"] == "pickup"
    assert _count(db, LockerCommand, LockerCommand.parcel_id == pid, LockerCommand.purpose == "pickup") == 1
    assert _count(db, CodeAttempt) == 0


def test_the_document_declares_the_header_the_server_enforces(db, client):
    import re

    w = build_world(db)
    _pid, _comp, code = _in_locker(db, client, w)
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/lockers/{locker_id}/codes/verify", "/lockers/{locker_id}/door-events"):
        params = {p["name"]: p for p in doc["paths"][path]["post"]["parameters"]}
        header = params["Idempotency-Key"]
        assert header["in"] == "header" and not header["required"]
        pattern = re.compile(header["schema"]["pattern"])
        for key in ("abcd1234", _key(), str(uuid.uuid4()), "x" * 64, "short", "x" * 65, "a b c d e f"):
            status = _verify(client, w, "00000000", key).status_code
            assert (status != 400) == bool(pattern.search(key)), (key, status)
