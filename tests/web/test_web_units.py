"""The web pages' own machinery: message catalogues, CSRF, sessions, form parsing."""
import re

import pytest
from support import ROOT
from support.web_world import PASSWORDS, built_copy, make_app

from server.app import create_app
from server.texts import CATALOGUES
from server.web.forms import Field, Form, phone_field, tracking_field

WEB = ROOT / "server" / "web"


def test_both_catalogues_have_the_same_keys():
    assert set(CATALOGUES["zh"]) == set(CATALOGUES["en"])
    for key, text in CATALOGUES["zh"].items():
        # The same placeholders in both languages, or str.format fails for one of them.
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", CATALOGUES["en"][key])), key


def _used_keys():
    keys = set()
    for path in list(WEB.rglob("*.html")) + list(WEB.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"\bt\('([a-z_]+\.[a-z_.]+)'", text))
        keys |= set(re.findall(r"[\"']((?:err|f|nav|svc|pickup|courier|alarms|overdue|send|residents|home|login|"
                               r"lockers|fees|fleet|releases)\.[a-z_]+)[\"']", text))
    return keys


def test_every_message_key_used_by_the_pages_exists():
    missing = sorted(k for k in _used_keys() if k not in CATALOGUES["zh"] and not k.endswith("_"))
    assert missing == []


def test_dynamic_keys_cover_every_state_the_models_allow():
    from server.models import COMPARTMENT_STATES, PARCEL_STATES, SIZES
    for state in PARCEL_STATES:
        assert "pstate." + state in CATALOGUES["zh"]
    for state in COMPARTMENT_STATES + ("overdue", "offline", "chilled"):
        assert "state." + state in CATALOGUES["zh"]
    for size in SIZES:
        assert "size." + size in CATALOGUES["zh"]


def test_fields_parse_and_refuse_with_a_message_key():
    class F(Form):
        fields = (phone_field(), tracking_field(), Field("n", "f.size", kind="number", min_value=1, max_value=5),
                  Field("pick", "f.size", kind="select", choices=[("S", "size.S")]))
    f = F({"phone": "138 0000 0001", "tracking_number": "PN-1234", "n": "3", "pick": "S"})
    assert f.validate() and f.cleaned == {"phone": "13800000001", "tracking_number": "PN-1234", "n": 3, "pick": "S"}
    bad = F({"phone": "12345", "tracking_number": "x", "n": "9", "pick": "Q"})
    assert not bad.validate()
    assert bad.errors == {"phone": "err.phone", "tracking_number": "err.tracking", "n": "err.number",
                          "pick": "err.choice"}
    assert bad.value("phone") == "12345"         # what was typed is kept for the user to fix
    empty = F({})
    assert not empty.validate() and set(empty.errors.values()) == {"err.required"}


@pytest.fixture
def site(tmp_path):
    db, world = built_copy(tmp_path)
    app = make_app(db)
    yield app, world
    db.dispose()


def csrf_of(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, login, password=None, path="/login"):
    token = csrf_of(client.get(path).get_data(as_text=True))
    return client.post(path, data={"login": login, "password": password or PASSWORDS[login], "csrf_token": token})


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(site):
    app, _ = site
    c = app.test_client()
    r = c.post("/login", data={"login": "op-dongcun", "password": PASSWORDS["op-dongcun"]})
    assert r.status_code == 400 and "页面已过期" in r.get_data(as_text=True)
    assert c.get("/station/").status_code == 302            # still signed out
    r = c.post("/login", data={"login": "op-dongcun", "password": PASSWORDS["op-dongcun"], "csrf_token": "forged"})
    assert r.status_code == 400


def test_a_cross_origin_post_is_refused_even_with_a_token(site):
    app, _ = site
    c = app.test_client()
    token = csrf_of(c.get("/login").get_data(as_text=True))
    r = c.post("/login", data={"login": "op-dongcun", "password": PASSWORDS["op-dongcun"], "csrf_token": token},
               headers={"Origin": "http://evil.example"})
    assert r.status_code == 400


def test_signing_in_replaces_the_csrf_token_and_the_session(site):
    app, _ = site
    c = app.test_client()
    before = csrf_of(c.get("/login").get_data(as_text=True))
    r = sign_in(c, "op-dongcun")
    assert r.status_code == 302 and r.location.endswith("/station/")
    after = csrf_of(c.get("/station/").get_data(as_text=True))
    assert after != before
    # The pre-login token no longer works for a signed-in form.
    r = c.post("/station/alarms/1/ack", data={"csrf_token": before})
    assert r.status_code == 400


def test_wrong_password_is_shown_next_to_the_password_field(site):
    app, _ = site
    c = app.test_client()
    r = sign_in(c, "op-dongcun", "nope")
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert re.search(r'id="f-password"[^>]*aria-invalid="true"', html, re.S) or 'aria-describedby="e-password"' in html
    assert 'id="e-password"' in html and "账号或密码错误" in html


def test_a_disabled_user_loses_the_session_at_once(site):
    app, world = site
    c = app.test_client()
    sign_in(c, "op-dongcun")
    assert c.get("/station/").status_code == 200
    from server.models import User
    db = app.extensions["cunbox_db"]
    with db.transaction() as s:
        s.get(User, world.operator.user_id).active = False
    assert c.get("/station/").status_code == 302


def test_a_courier_session_does_not_open_operator_pages(site):
    app, _ = site
    c = app.test_client()
    r = sign_in(c, "courier-post", path="/courier/login")
    assert r.status_code == 302 and r.location.endswith("/courier/")
    assert c.get("/station/").status_code == 403        # signed in, but not for this page: it says so
    assert c.get("/fleet/").status_code == 403
    assert c.get("/").location.endswith("/courier/")      # the 403 page's way back leads home
    # And staff cannot sign in on the courier page, nor couriers on the staff page.
    c2 = app.test_client()
    assert sign_in(c2, "op-dongcun", path="/courier/login").status_code == 400
    assert sign_in(c2, "courier-post").status_code == 400


def test_next_after_sign_in_stays_on_this_site(site):
    app, _ = site
    c = app.test_client()
    token = csrf_of(c.get("/login").get_data(as_text=True))
    r = c.post("/login?next=//evil.example/x", data={"login": "maint", "password": PASSWORDS["maint"],
                                                     "csrf_token": token})
    assert r.status_code == 302 and r.location.endswith("/fleet/")


def test_english_switch_is_remembered_in_a_cookie(site):
    app, _ = site
    c = app.test_client()
    assert "登录" in c.get("/login").get_data(as_text=True)
    r = c.get("/login?lang=en")
    assert "Sign in" in r.get_data(as_text=True) and "cunbox_lang=en" in r.headers.get("Set-Cookie", "")
    assert "Sign in" in c.get("/login").get_data(as_text=True)
    assert "登录" in c.get("/login?lang=zh").get_data(as_text=True)


def test_pages_are_not_cached_or_framed_but_the_stylesheet_may_be_cached(site):
    app, _ = site
    c = app.test_client()
    page = c.get("/login")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    css = c.get("/web-static/app.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("Cache-Control", "")


def _app_without_session_key(db):
    return create_app({"DATABASE": db, "PUBLIC_URL": "http://cunbox.test", "WEB_POLL_MS": 700})


def test_sessions_are_keyed_by_the_one_server_secret_and_survive_a_restart(tmp_path, monkeypatch):
    from server.link.keys import SEAL_LABEL, Sealer
    from server.secret import derive, web_session_key
    db, _ = built_copy(tmp_path)
    monkeypatch.setenv("CUNBOX_SECRET", "one-secret-for-the-whole-server")
    first = _app_without_session_key(db)
    c = first.test_client()
    assert sign_in(c, "op-dongcun").status_code == 302
    cookie = c.get_cookie("session").value
    # the server restarts (a new app, same secret): the operator is still signed in
    again = _app_without_session_key(db).test_client()
    again.set_cookie("session", cookie)
    assert again.get("/station/").status_code == 200
    # the session key is derived for sessions only: it is neither the secret nor a sealing key
    secret = b"one-secret-for-the-whole-server"
    key = bytes.fromhex(web_session_key(secret))
    sealer = Sealer(secret)
    assert key not in (secret, derive(secret, SEAL_LABEL), sealer._enc, sealer._mac)
    # another server secret: the old cookie is worthless
    monkeypatch.setenv("CUNBOX_SECRET", "another-secret-after-a-rotation")
    other = _app_without_session_key(db).test_client()
    other.set_cookie("session", cookie)
    assert other.get("/station/").status_code == 302
    db.dispose()
