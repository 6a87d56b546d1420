"""Finding F4 (crash runs): a locker that resent a code check after losing the answer (a timeout, a
server restart) was told "wrong code" and charged a failed attempt, although its first copy had used
the code and queued the door. A resend while that door is still opening now gets the same answer;
once the parcel is out, the used code is a wrong code again."""
from _server_helpers import *  # noqa: F403 - the shared fixtures (db, app, client, ...)
from _server_helpers import bearer, build_world, last_code
from sqlalchemy import func, select

from server.models import CodeAttempt, LockerCommand, Parcel
from server.services import doors


def test_resent_code_check_gets_the_same_answer_until_the_door_closes(db, client):
    w = build_world(db)
    r = client.post("/api/v1/deposits", headers=bearer(w.courier_token),
                    json={"locker_id": w.locker_id, "tracking_number": "RT000001",
                          "recipient_phone": w.consenting_phone, "size": "S"})
    pid, comp = r.get_json()["parcel"]["id"], r.get_json()["compartment"]["id"]
    doors.door_event(db, comp, "opened")
    doors.door_event(db, comp, "closed", occupied=True)
    code, _ = last_code(db, pid)
    url = "/api/v1/lockers/%d/codes/verify" % w.locker_id
    first = client.post(url, headers=bearer(w.locker_token), json={"code": code})
    assert first.status_code == 200
    again = client.post(url, headers=bearer(w.locker_token), json={"code": code})
    assert again.status_code == 200 and again.get_json() == first.get_json()
    with db.reading() as s:
        opens = s.scalar(select(func.count()).select_from(LockerCommand).where(
            LockerCommand.parcel_id == pid, LockerCommand.kind == "open", LockerCommand.purpose == "pickup"))
        assert opens == 1
        assert s.scalar(select(func.count()).select_from(CodeAttempt)) == 0
    doors.door_event(db, comp, "opened")
    doors.door_event(db, comp, "closed", occupied=False)
    with db.reading() as s:
        assert s.get(Parcel, pid).state == "picked_up"
    late = client.post(url, headers=bearer(w.locker_token), json={"code": code})
    assert late.status_code == 403 and late.get_json()["error"]["code"] == "wrong_code"
    # another locker's credential never gets the answer
    other = client.post("/api/v1/lockers/%d/codes/verify" % w.other_locker_id, headers=bearer(w.other_locker_token),
                        json={"code": code})
    assert other.status_code == 403
