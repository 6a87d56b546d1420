"""Every page of every role, in Chinese, reads in Chinese: the pages are crawled through Flask's test
client from each role's start page (following every same-site link), their text taken without tags,
scripts, styles or attribute values, and any Latin word of two or more letters outside a small list of
brand names, units and codes fails the test, naming the page and the word."""
import html
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from _web_world import built_copy, make_app
from sqlalchemy import select
from test_web_pages import client_as

from server.models import Notification

# Words a Chinese reader meets as such: codes, units, brand and product names.
ALLOWED = {"QR", "SMS", "ID", "CSV", "XLSX", "MB", "KB", "kg", "km", "cm", "URL", "LED", "LCD", "PN", "SF", "OLD",
           "IN", "FRESH", "XC", "SECRET", "DC", "ACC", "ZTO", "EMS", "GB", "GBK", "UTF", "XL", "English", "mm",
           "Excel", "XLS"}
# Commands a maintainer types, named as such on a form.
ALLOWED_PHRASES = ("cunbox firmware build",)
WORD = re.compile(r"[A-Za-z]{2,}")


class _Text(HTMLParser):
    """The text a person reads: no tags, no attribute values, nothing inside script/style."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.links, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_words(body):
    p = _Text()
    p.feed(body)
    text = html.unescape(" ".join(p.parts))
    for phrase in ALLOWED_PHRASES:
        text = text.replace(phrase, " ")
    return sorted({w for w in WORD.findall(text) if w not in ALLOWED}), p.links


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
