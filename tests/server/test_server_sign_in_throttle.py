"""Repeated failed sign-ins (API login and the web sign-in form) lock the login and the source out for a
growing time; nothing but the throttle state changes in the database."""
import datetime
import re

import pytest
from support.server_world import build_world, snapshot

from server.app import create_app
from server.clock import utcnow
from server.errors import Throttled
from server.services import accounts
from server.services.accounts import verify_password


def _without_throttle(snap):
    return {table: rows for table, rows in snap.items() if table != "sign_in_attempts"}


def _login(client, login, password, addr="10.0.0.1"):
    return client.post("/api/v1/auth/login", json={"login": login, "password": password},
                       environ_base={"REMOTE_ADDR": addr})


def test_api_login_locks_the_account_after_five_failures_with_429_and_retry_after(db, client):
    build_world(db)
    before = snapshot(db)
    for _ in range(5):
        r = _login(client, "op-dongcun", "wrong")
        assert r.status_code == 401 and r.get_json()["error"]["code"] == "bad_login"
    # Only the throttle state changed.
    assert _without_throttle(snapshot(db)) == _without_throttle(before)
    assert len(snapshot(db)["sign_in_attempts"]) == 5
    locked = snapshot(db)
    # Now even the right password is refused, from another address too, and nothing is written.
    for addr in ("10.0.0.1", "10.0.0.2"):
        r = _login(client, "op-dongcun", "pw-op", addr=addr)
        assert r.status_code == 429, r.get_data(as_text=True)
        err = r.get_json()["error"]
        assert err["code"] == "sign_in_locked_account" and "try again in" in err["message"]
        assert 50 <= int(r.headers["Retry-After"]) <= 60 and err["retry_after"] == int(r.headers["Retry-After"])
    assert snapshot(db) == locked
    # Another account is not locked by this one's failures.
    assert _login(client, "maint", "pw-maint").status_code == 200


def test_the_lock_out_grows_and_a_success_forgets_the_failures(db):
    build_world(db)
    t = utcnow()
    for i in range(5):
        with pytest.raises(Exception) as exc:
            accounts.login(db, "op-dongcun", "wrong", source="ip:a", now=t + datetime.timedelta(seconds=i))
        assert exc.value.code == "bad_login"
    last = t + datetime.timedelta(seconds=4)
    waits = []
    for _ in range(3):
        with pytest.raises(Throttled) as exc:
            accounts.login(db, "op-dongcun", "pw-op", source="ip:a", now=last + datetime.timedelta(seconds=1))
        wait = exc.value.details["retry_after"]
        waits.append(wait)
        last = last + datetime.timedelta(seconds=1 + wait)       # the lock-out is over: one more wrong try
        with pytest.raises(Exception) as exc:
            accounts.login(db, "op-dongcun", "wrong", source="ip:a", now=last)
        assert exc.value.code == "bad_login"
    assert waits == [59, 119, 239]                              # 60 s, doubling (asked 1 s after the failure)
    with pytest.raises(Throttled) as exc:
        accounts.login(db, "op-dongcun", "pw-op", source="ip:a", now=last + datetime.timedelta(seconds=479))
    assert exc.value.details["retry_after"] == 1
    out = accounts.login(db, "op-dongcun", "pw-op", source="ip:a", now=last + datetime.timedelta(seconds=480))
    assert out["token"]
    # The success forgot this login's failures: one more wrong password is just a wrong password.
    with pytest.raises(Exception) as exc:
        accounts.login(db, "op-dongcun", "wrong", source="ip:a", now=last + datetime.timedelta(seconds=481))
    assert exc.value.code == "bad_login"
    assert accounts.login(db, "op-dongcun", "pw-op", source="ip:a", now=last + datetime.timedelta(seconds=482))


def test_one_source_guessing_many_logins_is_locked_out_but_other_sources_are_not(db, client):
    build_world(db)
    for i in range(20):
        assert _login(client, "nobody-%d" % i, "guess", addr="10.9.9.9").status_code == 401
    r = _login(client, "maint", "pw-maint", addr="10.9.9.9")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "sign_in_locked_source"
    assert _login(client, "maint", "pw-maint", addr="10.1.1.1").status_code == 200


def test_web_sign_in_form_shows_the_lock_out_next_to_the_field(db):
    build_world(db)
    app = create_app({"DATABASE": db, "SECRET_KEY": "sign-in-throttle-test", "PUBLIC_URL": "http://cunbox.test"})
    c = app.test_client()

    def post(password):
        html = c.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        return c.post("/login", data={"login": "op-dongcun", "password": password, "csrf_token": token})

    for _ in range(5):
        r = post("wrong")
        assert r.status_code == 400 and "账号或密码错误" in r.get_data(as_text=True)
    before = snapshot(db)
    r = post("pw-op")                       # the right password, but the login is locked out
    html = r.get_data(as_text=True)
    assert r.status_code == 429 and 50 <= int(r.headers["Retry-After"]) <= 60
    m = re.search(r'<p class="error" id="e-password" role="alert">([^<]+)</p>', html)
    assert m and m.group(1) == "登录失败次数太多，请1分钟后再试。"
    assert snapshot(db) == before
    with pytest.raises(Throttled):
        verify_password(db, "op-dongcun", "pw-op", roles=("operator",), source="ip:elsewhere")
