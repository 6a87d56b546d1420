"""Run by tests/packaging/test_packaging_wheel.py with the interpreter of a fresh venv holding only the built
wheel (its dependencies borrowed from the project's venv), from a folder outside the checkout.

Serves the installed package's app over HTTP (waitress) on a migrated database with the demo county
and one parcel, signs in as each role, crawls that role's pages by their links, and fetches every
stylesheet and script the pages name. Prints one JSON object: where `server` was imported from, the
pages fetched with any that failed, and the static files with any that differ from the package's.
Standard library and the installed package only: this file is copied out of the checkout to run.
"""
import http.cookiejar
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser

START = {
    "public": ["/", "/login", "/courier/login", "/send", "/p/{token}?c={code}", "/p/{token}"],
    "courier": ["/courier/", "/courier/collect", "/courier/parcel/{parcel}"],
    "operator": ["/station/", "/station/parcels", "/station/parcels/{parcel}", "/station/overdue",
                 "/station/alarms", "/station/residents", "/station/fees", "/station/lockers.json",
                 "/station/fees.csv"],
    "maintainer": ["/fleet/", "/fleet/releases", "/fleet/rollouts/{rollout}", "/fleet/rollouts/{rollout}.json"],
}
FLEET_KEY = bytes(range(32))  # an Ed25519 seed: the release below is signed with it
SKIP = ("/logout", "lang=")  # signing out mid-crawl; the other language is the same templates


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.assets, self.title = [], [], None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.assets.append(a["href"])
        if tag == "script" and a.get("src"):
            self.assets.append(a["src"])
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title and data.strip():
            self.title = data.strip()

    def handle_endtag(self, tag):
        self._in_title = False


class Browser:
    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path):
        try:
            with self.opener.open(self.base + path, timeout=20) as r:
                return r.status, r.headers.get_content_type(), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get_content_type(), e.read()

    def sign_in(self, path, login, password):
        _status, _type, body = self.get(path)
        csrf = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
        data = urllib.parse.urlencode({"login": login, "password": password, "csrf_token": csrf}).encode()
        with self.opener.open(self.base + path, data=data, timeout=20) as r:  # follows the redirect home
            return r.geturl() != self.base + path


def seed(db_url):
    """The demo county and one parcel in a locker (deposited, door closed on it, as the link reports)."""
    from sqlalchemy import select

    from server.db import Database
    from server.models import Notification, User
    from server.seed import seed_demo
    from server.services import deposits, door_reports
    from server.services.principals import Principal
    db = Database(db_url)
    county = seed_demo(db)
    courier = county["couriers"][0]
    with db.reading() as s:
        user = s.scalar(select(User).where(User.login == courier["login"]))
        who = Principal("courier", user_id=user.id, carrier_id=user.carrier_id)
    phone = next(a["phone"] for a in county["accounts"] if a["consent"])
    out = deposits.start_deposit(db, who, county["lockers"][0]["id"], "PN-WHEEL-1", phone, "S")
    door_reports.door_event(db, out["compartment"]["id"], "opened")
    door_reports.door_event(db, out["compartment"]["id"], "closed", occupied=True)
    with db.reading() as s:
        body = s.scalar(select(Notification.body).where(Notification.parcel_id == out["parcel"]["id"],
                                                        Notification.kind == "pickup_code"))
    token, code = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", body).groups()
    return db, county, {"parcel": out["parcel"]["id"], "token": token, "code": code, "rollout": rollout(db)}


def rollout(db):
    """A signed release rolling out to one board, for the rollout page."""
    import hashlib

    from sqlalchemy import select

    from firmware import ed25519, update_image
    from server.firmware_delivery import rollout as fw_rollout
    from server.models import Board
    body = b"firmware 9.9.9" * 20
    manifest = {"format": update_image.FORMAT, "version": "9.9.9", "family": "cunbox-locker-v1", "min_protocol": 1,
                "files": [{"path": "firmware/x.mpy", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}]}
    image = update_image.pack_image(json.dumps(manifest).encode(), body, FLEET_KEY)
    who = fw_rollout._SYSTEM_MAINTAINER
    release = fw_rollout.upload_release(db, who, image, [ed25519.public_key(FLEET_KEY)])
    with db.reading() as s:
        board_id = s.scalar(select(Board.id).order_by(Board.id))
    out = fw_rollout.create_rollout(db, who, release["id"], board_ids=[board_id])
    return out["id"]


def crawl(browser, starts, pages, assets):
    todo, seen = list(starts), set()
    while todo:
        path = todo.pop()
        parts = urllib.parse.urlsplit(path)
        if parts.netloc and parts.netloc != urllib.parse.urlsplit(browser.base).netloc:
            continue
        path = parts.path + ("?" + parts.query if parts.query else "")
        if path in seen or any(s in path for s in SKIP):
            continue
        seen.add(path)
        status, ctype, body = browser.get(path)
        problem = None if status == 200 else "HTTP %d" % status
        if ctype == "text/html":
            p = _Page()
            p.feed(body.decode("utf-8"))
            if problem is None and (b"</html>" not in body or not p.title or b"{{" in body or b"{%" in body):
                problem = "not a whole rendered page (title %r)" % p.title
            todo.extend(urllib.parse.urljoin(path, ln) for ln in p.links if not ln.startswith(("#", "mailto:", "tel:")))
            assets.update(urllib.parse.urljoin(path, a) for a in p.assets)
        pages[path] = problem


def main(db_url):
    import server
    from server.app import create_app
    from server.serve import BackgroundServer
    db, county, ids = seed(db_url)
    app = create_app({"DATABASE": db, "SECRET_KEY": "wheel-probe", "PUBLIC_URL": "http://127.0.0.1"})
    logins = {"courier": ("/courier/login", county["couriers"][0]),
              "operator": ("/login", county["operators"][0]), "maintainer": ("/login", county["maintainers"][0])}
    report = {"server_file": server.__file__, "pages": {}, "signed_in": {}, "assets": {}}
    with BackgroundServer(app, "127.0.0.1", 0, threads=4) as srv:
        for role, starts in START.items():
            b = Browser(srv.url)
            if role in logins:
                path, who = logins[role]
                report["signed_in"][role] = b.sign_in(path, who["login"], who["password"])
            pages = report["pages"].setdefault(role, {})
            assets = set()
            crawl(b, [s.format(**ids) for s in starts], pages, assets)
            for url in sorted(assets):
                report["assets"][url] = check_asset(b, url, app)
    print(json.dumps(report, ensure_ascii=False))


def check_asset(browser, url, app):
    """None when the server sends the file the installed package holds, else what is wrong."""
    import pathlib
    path = urllib.parse.urlsplit(url).path
    status, ctype, body = browser.get(path)
    if status != 200:
        return "HTTP %d" % status
    name = path.rsplit("/", 1)[-1]
    packaged = pathlib.Path(app.blueprints["web"].static_folder) / name
    if not packaged.is_file() or packaged.read_bytes() != body:
        return "not the packaged file %s" % packaged
    if ctype not in ("text/css", "text/javascript", "application/javascript"):
        return "served as %s" % ctype
    return None


if __name__ == "__main__":
    main(sys.argv[1])
