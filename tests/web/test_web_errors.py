"""Errors answer in the language of where they happen: under /station, /courier, /p/ and /send (the
villagers' pages), /fleet and every other page path a page in Chinese (English on request), under
/api/ JSON in the API's shape {"error": {"code", "message"}}. That holds for errors raised before any
route is chosen too (an unknown URL, a wrong method), which the blueprints' own handlers never see.

A test-only app: an empty county, bodies limited by MAX_CONTENT_LENGTH, and one view of each prefix
made to raise."""
import pytest
from support.page_words import english_words
from support.web_world import fleet_pubkey, make_db

from server.app import create_app

LIMIT = 4096
# prefix: (an unknown URL, a GET-only route, a POST route, the endpoint made to raise, its URL)
WEB = {
    "station": ("/station/nowhere", "/station/parcels", "/station/alarms/1/ack", "web.station_parcels",
                "/station/parcels"),
    "courier": ("/courier/nowhere", "/courier/collect", "/courier/collect/1", "web.courier_collect",
                "/courier/collect"),
    "pickup": ("/p/some-token/nowhere", "/p/some-token", "/p/some-token/open", "web.villager_pickup",
               "/p/some-token"),
    "send": ("/send/nowhere", "/send/booked/some-token", "/send", "web.villager_send_booked",
             "/send/booked/some-token"),
    "fleet": ("/fleet/nowhere", "/fleet/releases", "/fleet/rollouts", "web.fleet_releases", "/fleet/releases"),
    "top": ("/nowhere", "/", "/logout", "web.home", "/"),
}
API = {"unknown": "/api/v1/nowhere", "unversioned": "/api/nowhere", "get_only": "/api/v1/health",
       "post": "/api/v1/auth/login", "raises": "meta.health"}
TITLES = {404: "找不到", 405: "出错了", 413: "出错了", 400: "页面已过期", 500: "出错了"}
MESSAGES = {404: "没有这个页面或记录。", 405: "请求无法完成。", 413: "提交的内容太大",
            400: "请返回上一页刷新后重新提交", 500: "服务器出错，这次操作没有改动任何数据"}


def _boom(**_):
    raise RuntimeError("a bug in a view")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = make_db(tmp_path_factory.mktemp("web-errors"))
    app = create_app({"DATABASE": db, "SECRET_KEY": "web-errors-secret", "PUBLIC_URL": "http://127.0.0.1",
                      "FW_PUBKEYS": [fleet_pubkey()], "MAX_CONTENT_LENGTH": LIMIT})
    for endpoint in [w[3] for w in WEB.values()] + [API["raises"]]:
        app.view_functions[endpoint] = _boom
    yield app
    db.dispose()


def _answers(app, prefix):
    """(status, response) for each kind of error under one page prefix."""
    unknown, get_only, post, _, raising = WEB[prefix]
    c = app.test_client()
    return {404: c.get(unknown), 405: c.delete(get_only), 413: c.post(post, data={"note": "x" * (2 * LIMIT)}),
            400: c.post(post, data={"note": "no token"}), 500: c.get(raising)}


def _assert_chinese_page(r, status, where):
    body = r.get_data(as_text=True)
    assert r.status_code == status, (where, body[:300])
    assert r.mimetype == "text/html", (where, r.mimetype)
    assert '<html lang="zh-CN">' in body, where
    assert "<h1>%s</h1>" % TITLES[status] in body and MESSAGES[status] in body, (where, body)
    words, _ = english_words(body)
    assert words == [], "%s: English on the Chinese page: %s" % (where, words)
    assert '"error"' not in body, where


@pytest.mark.parametrize("prefix", sorted(WEB))
def test_every_error_under_a_page_prefix_is_a_chinese_page(app, prefix):
    for status, r in _answers(app, prefix).items():
        _assert_chinese_page(r, status, "%s %d" % (prefix, status))


@pytest.mark.parametrize("prefix", sorted(WEB))
def test_an_error_page_keeps_the_pages_headers(app, prefix):
    answers = _answers(app, prefix)
    for status, r in answers.items():
        where = "%s %d" % (prefix, status)
        assert r.headers["X-Frame-Options"] == "DENY", where
        assert r.headers["Cache-Control"] == "no-store", where
        assert "default-src 'self'" in r.headers["Content-Security-Policy"], where
    assert "GET" in answers[405].headers["Allow"] and "DELETE" not in answers[405].headers["Allow"]


@pytest.mark.parametrize("prefix", sorted(WEB))
def test_an_error_page_speaks_the_readers_language(app, prefix):
    unknown, get_only = WEB[prefix][:2]
    c = app.test_client()
    r = c.get(unknown + "?lang=en")
    body = r.get_data(as_text=True)
    assert r.status_code == 404 and r.mimetype == "text/html" and '<html lang="en">' in body
    assert "<h1>Not found</h1>" in body and "找不到" not in body
    assert "cunbox_lang=en" in r.headers["Set-Cookie"]          # remembered, as any page remembers it
    r = c.delete(get_only)                                        # the cookie now says English
    assert r.status_code == 405 and "<h1>Something went wrong</h1>" in r.get_data(as_text=True)
    assert c.get(unknown + "?lang=zh").get_data(as_text=True).count("<h1>找不到</h1>") == 1


def _assert_api_error(r, status, code, where):
    assert r.status_code == status, (where, r.get_data(as_text=True)[:300])
    assert r.mimetype == "application/json", (where, r.mimetype)
    err = r.get_json()["error"]
    assert err["code"] == code and isinstance(err["message"], str) and err["message"], (where, err)
    assert set(r.get_json()) == {"error"}, where


def test_every_error_under_the_api_is_json_in_its_shape(app):
    c = app.test_client()
    _assert_api_error(c.get(API["unknown"]), 404, "not_found", "unknown")
    _assert_api_error(c.get(API["unversioned"]), 404, "not_found", "unversioned")
    _assert_api_error(c.get("/api"), 404, "not_found", "/api itself")
    r = c.delete(API["get_only"])
    _assert_api_error(r, 405, "method_not_allowed", "wrong method")
    assert "GET" in r.headers["Allow"]
    _assert_api_error(c.post(API["post"], json={"login": "x" * (2 * LIMIT), "password": "pw"}), 413,
                      "request_entity_too_large", "too large")
    _assert_api_error(c.get("/api/v1/health"), 500, "internal_error", "a view raises")


def test_the_api_asks_no_csrf_token_and_answers_json_even_in_english_cookies(app):
    c = app.test_client()
    c.set_cookie("cunbox_lang", "en")
    r = c.post(API["post"], json={"login": "nobody", "password": "wrong"})
    assert r.status_code in (400, 401) and r.mimetype == "application/json" and "error" in r.get_json()
    _assert_api_error(c.get(API["unknown"] + "?lang=en"), 404, "not_found", "lang asked")


def test_only_the_api_prefix_is_json(app):
    """/apiary is a page path like any other; /api and /api/... are the API's."""
    c = app.test_client()
    _assert_chinese_page(c.get("/apiary"), 404, "/apiary")
    _assert_chinese_page(c.get("/static/nothing.css"), 404, "the app's static route")
