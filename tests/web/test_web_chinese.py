"""Every page of every role, in Chinese, reads in Chinese: the pages are crawled through Flask's test
client from each role's start page (following every same-site link), their text taken without tags,
scripts, styles or attribute values, and any Latin word of two or more letters outside a small list of
brand names, units and codes fails the test, naming the page and the word."""
import re
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select
from support.page_words import english_words
from support.web_world import built_copy, client_as, make_app

from server.models import Notification


def crawl(client, starts, skip=()):
    """{url: [english words]} for every page reached from `starts` through same-site links."""
    seen, todo, found = set(), list(starts), {}
    while todo:
        url = todo.pop()
        parts = urlsplit(url)
        if parts.netloc and parts.netloc not in ("localhost", "127.0.0.1"):
            continue
        path = parts.path + ("?" + parts.query if parts.query else "")
        if path in seen or any(s in path for s in skip) or "lang=en" in path:
            continue
        seen.add(path)
        r = client.get(path)
        if r.status_code != 200 or not r.mimetype.startswith("text/html"):
            continue
        words, links = english_words(r.get_data(as_text=True))
        if words:
            found[path] = words
        todo.extend(urljoin(path, ln) for ln in links if not ln.startswith(("#", "mailto:", "tel:")))
    return seen, found


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db, world = built_copy(tmp_path_factory.mktemp("web-chinese"))
    app = make_app(db)
    yield app, world, db
    db.dispose()


def test_english_words_are_found_in_page_text_but_not_in_attributes_or_scripts():
    words, links = english_words('<p title="Hello there">取件 Pickup 3 kg</p><script>var open = 1;</script>'
                                 '<a href="/x?y=abc">QR 码</a>')
    assert words == ["Pickup"] and links == ["/x?y=abc"]


@pytest.mark.parametrize("login,starts", [
    ("op-dongcun", ["/station/", "/station/parcels", "/station/overdue", "/station/alarms", "/station/alarms?all=1",
                    "/station/residents", "/station/fees"]),
    ("courier-post", ["/courier/", "/courier/collect"]),
    ("maint", ["/fleet/", "/fleet/releases"]),
])
def test_no_staff_page_in_chinese_shows_an_english_word(site, login, starts):
    app, world, db = site
    path = "/courier/login" if login.startswith("courier") else "/login"
    c = client_as(app, login, path=path)
    if login.startswith("courier"):
        starts = starts + ["/courier/parcel/%d" % world.in_locker["parcel"]["id"]]
    if login.startswith("op"):
        starts = starts + ["/station/parcels/%d" % p["parcel"]["id"] for p in (world.in_locker, world.overdue,
                                                                                 world.chilled)]
    seen, found = crawl(c, starts, skip=("/logout", ".csv", ".json"))
    assert len(seen) >= len(starts)
    assert found == {}, "English words on %s's pages: %s" % (login, found)


def test_no_villager_or_public_page_in_chinese_shows_an_english_word(site):
    app, world, db = site
    with db.reading() as s:
        body = s.scalars(select(Notification.body).where(
            Notification.parcel_id == world.in_locker["parcel"]["id"], Notification.kind == "pickup_code")).first()
    token, code = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", body).groups()
    c = app.test_client()
    seen, found = crawl(c, ["/", "/login", "/courier/login", "/send", "/p/%s?c=%s" % (token, code),
                            "/p/%s" % token, "/p/%s?c=00000000" % token, "/p/no-such-token"])
    assert "/send" in seen
    assert found == {}, "English words on villager pages: %s" % found


def test_the_villagers_send_steps_in_chinese_show_no_english_word(site):
    """The form, the one-time number's page (and its wrong-number error), and the booking with its code."""
    app, world, db = site
    c = app.test_client()
    page = c.get("/send").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/send", data={"csrf_token": csrf, "phone": world.consenting_phone, "locker_id": str(world.locker_id),
                              "carrier_id": str(world.carrier_id), "size": "S"})
    check_url = r.location
    with db.reading() as s:
        body = s.scalars(select(Notification.body).where(Notification.kind == "phone_check")
                         .order_by(Notification.id.desc())).first()
    number = re.search(r"验证码(\d{6})", body).group(1)
    pages = {"check": c.get(check_url).get_data(as_text=True),
             "wrong": c.post(check_url, data={"csrf_token": csrf, "number": "%06d" % ((int(number) + 1) % 10 ** 6)})
             .get_data(as_text=True)}
    booked = c.post(check_url, data={"csrf_token": csrf, "number": number}).location
    pages["booked"] = c.get(booked).get_data(as_text=True)
    assert 'id="send-code"' in pages["booked"] and "还可以再试" in pages["wrong"]
    found = {name: english_words(html)[0] for name, html in pages.items() if english_words(html)[0]}
    assert found == {}, "English words on the send steps: %s" % found
