"""A small county for the web-page tests, built through the real services on a real SQLite file.

Two stations: 东村 (the operator under test) and 西村 (another station whose data must never show
on 东村's pages: every 西村 row carries a marker from LEAK_MARKERS). Parcels are deposited, confirmed
and flagged overdue through the services exactly as the courier handheld and the locker link would.
"""
import datetime
import pathlib
import re
import socket
import threading

from werkzeug.serving import make_server

from server import migrate
from server.app import create_app
from server.clock import utcnow
from server.db import Database
from server.models import Board, Compartment
from server.services import accounts, alarms, deposits, door_reports, overdue, provisioning
from server.services.principals import Principal

SETTINGS = {"PUBLIC_URL": "http://127.0.0.1", "THROTTLE_WINDOW_SECONDS": 600, "THROTTLE_PER_SOURCE": 50,
            "THROTTLE_PER_LOCKER": 200}
PASSWORDS = {"op-dongcun": "pw-op-dongcun", "op-xicun": "pw-op-xicun", "maint": "pw-maint",
             "courier-post": "pw-courier-post", "courier-sf": "pw-courier-sf"}
# Strings that exist only in 西村's data: none may appear on a page 东村's operator can reach.
LEAK_MARKERS = ("西村", "XC-SECRET", "13900000009", "机密户")
PORTS = range(46000, 46100)
FLEET_KEY = bytes(range(32))          # the maintainers' firmware signing key (seed); the server holds its public key


class World:
    pass


def make_db(tmp_path):
    path = tmp_path / "cunbox-web.sqlite3"
    url = "sqlite:///%s" % path
    migrate.upgrade(url)
    return Database(url, settings=dict(SETTINGS))


def make_app(db):
    return create_app({"DATABASE": db, "SECRET_KEY": "web-tests-secret", "PUBLIC_URL": SETTINGS["PUBLIC_URL"],
                       "WEB_POLL_MS": 700, "FW_PUBKEYS": [fleet_pubkey()]})


def fleet_pubkey():
    from firmware import ed25519
    return ed25519.public_key(FLEET_KEY)


def firmware_image(version, key=FLEET_KEY, family="cunbox-locker-v1"):
    """A signed firmware image as `cunbox firmware build` makes it (small, for the upload form)."""
    import hashlib
    import json

    from firmware import update_image
    body = ("firmware %s" % version).encode() * 20
    manifest = {"format": update_image.FORMAT, "version": version, "family": family, "min_protocol": 1,
                "files": [{"path": "firmware/x.mpy", "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}]}
    return update_image.pack_image(json.dumps(manifest).encode(), body, key)


def deposit_confirmed(db, courier, locker_id, tracking, phone, size="S", perishable=False, at=None):
    """A courier deposit whose door then closed with the parcel inside (as the link reports it)."""
    out = deposits.start_deposit(db, courier, locker_id, tracking, phone, size, perishable=perishable, now=at)
    door_reports.door_event(db, out["compartment"]["id"], "opened", at=at)
    door_reports.door_event(db, out["compartment"]["id"], "closed", occupied=True, at=at)
    return out


def build(db):
    w = World()
    now = utcnow()
    with db.transaction() as s:
        town = provisioning.township(s, "青山镇", "安阳县")
        a = provisioning.station(s, town, "东村服务站", "东村主街1号", storage_hours=72, free_hours=72,
                                 recipient_fee_cents_per_day=50)
        b = provisioning.station(s, town, "西村服务站", "西村大路9号")
        w.station_id, w.other_station_id = a.id, b.id
        lk1 = provisioning.locker(s, a, "东村1号柜", "socket://127.0.0.1:46090", provisioning.standard_layout(2, 8))
        lk2 = provisioning.locker(s, a, "东村2号柜", "socket://127.0.0.1:46091",
                                  [(1, [("M", False, "middle")] * 4 + [("L", False, "low")] * 2)])
        lkb = provisioning.locker(s, b, "西村柜", "socket://127.0.0.1:46092",
                                  [(1, [("S", False, "middle"), ("M", False, "middle"), ("L", True, "low")])])
        w.locker_id, w.locker2_id, w.other_locker_id = lk1.id, lk2.id, lkb.id
        post = provisioning.carrier(s, "post", "中国邮政", "postal")
        sf = provisioning.carrier(s, "sf", "顺丰速运", "express")
        w.carrier_id, w.other_carrier_id = post.id, sf.id
        users = {}
        users["courier-post"] = accounts.create_user(s, "courier", "courier-post", PASSWORDS["courier-post"], "李师傅",
                                                     carrier_id=post.id)
        users["courier-sf"] = accounts.create_user(s, "courier", "courier-sf", PASSWORDS["courier-sf"], "王师傅",
                                                   carrier_id=sf.id)
        users["op-dongcun"] = accounts.create_user(s, "operator", "op-dongcun", PASSWORDS["op-dongcun"], "赵站长",
                                                   station_id=a.id)
        users["op-xicun"] = accounts.create_user(s, "operator", "op-xicun", PASSWORDS["op-xicun"], "钱站长",
                                                 station_id=b.id)
        users["maint"] = accounts.create_user(s, "maintainer", "maint", PASSWORDS["maint"], "孙工")
        w.courier = Principal("courier", user_id=users["courier-post"].id, carrier_id=post.id)
        w.other_courier = Principal("courier", user_id=users["courier-sf"].id, carrier_id=sf.id)
        w.operator = Principal("operator", user_id=users["op-dongcun"].id, station_id=a.id)
        w.other_operator = Principal("operator", user_id=users["op-xicun"].id, station_id=b.id)
        w.consenting_phone, w.refusing_phone, w.other_phone = "13800000001", "13800000002", "13900000009"
        provisioning.account(s, a, "陈梅", w.consenting_phone, consent=True, station_account_id="DC-001")
        provisioning.account(s, a, "刘伟", w.refusing_phone, consent=False, station_account_id="DC-002")
        provisioning.account(s, a, "张大爷", "13800000003", consent=True, height_preference="low",
                             station_account_id="DC-003")
        provisioning.account(s, b, "西村机密户", w.other_phone, consent=True, station_account_id="XC-SECRET-ACC")
        # Boards: 东村1号柜 reports in; 东村2号柜 went quiet an hour ago (drawn offline); 西村 never reported.
        for board in s.query(Board).filter(Board.locker_id == lk1.id):
            board.last_seen_at = now
            board.firmware_version = "1.2.0"
        for board in s.query(Board).filter(Board.locker_id == lk2.id):
            board.last_seen_at = now - datetime.timedelta(hours=1)
            board.firmware_version = "1.1.9"
        spare = s.query(Compartment).filter(Compartment.locker_id == lk1.id).order_by(Compartment.id).all()
        spare[6].state = "faulty"      # an XL door out of order
        spare[15].state = "disabled"
    # Parcels. 东村: one in the locker, one overdue (deposited four days ago), one chilled.
    w.in_locker = deposit_confirmed(db, w.courier, w.locker_id, "PN-IN-0001", w.consenting_phone)
    old = now - datetime.timedelta(days=4)
    w.overdue = deposit_confirmed(db, w.courier, w.locker_id, "PN-OLD-0002", "13800000003", size="M", at=old)
    w.chilled = deposit_confirmed(db, w.other_courier, w.locker_id, "SF-FRESH-003", w.consenting_phone,
                                  perishable=True)
    # 西村: a parcel in its locker, overdue too, so every list of 西村 has a row with a marker.
    w.other_parcel = deposit_confirmed(db, w.courier, w.other_locker_id, "XC-SECRET-9", w.other_phone, at=old)
    overdue.flag_overdue(db, now=now)
    with db.transaction() as s:
        cpt_a = s.get(Compartment, w.chilled["compartment"]["id"])
        alarms.raise_alarm(s, "temperature_excursion", cpt_a, detail={"celsius": 11.5}, at=now)
        cpt_b = s.get(Compartment, w.other_parcel["compartment"]["id"])
        alarms.raise_alarm(s, "unexpected_item", cpt_b, detail={"note": "XC-SECRET alarm"}, at=now)
    return w


def free_port():
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port in 46000-46099")


class LiveServer:
    """The real WSGI app on 127.0.0.1 in a thread (werkzeug's threaded server), for the browser."""

    def __init__(self, app):
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


_TEMPLATE = {}


def built_copy(tmp_path):
    """(db, world) on a fresh copy of a county built once per test run: the migrations, password
    hashing and deposits are paid once, and every test still gets its own SQLite file."""
    import shutil
    import tempfile
    if "path" not in _TEMPLATE:
        root = pathlib.Path(tempfile.mkdtemp(prefix="cunbox-web-template-"))
        db = make_db(root)
        _TEMPLATE["world"] = build(db)
        db.dispose()                      # closes the last connection: the WAL is folded into the file
        _TEMPLATE["path"] = root / "cunbox-web.sqlite3"
    path = tmp_path / "cunbox-web.sqlite3"
    shutil.copy(_TEMPLATE["path"], path)
    db, world = Database("sqlite:///%s" % path, settings=dict(SETTINGS)), _TEMPLATE["world"]
    with db.transaction() as s:       # boards "seen" relative to now, however long ago the template was built
        now = utcnow()
        for board in s.query(Board).filter(Board.locker_id.in_((world.locker_id, world.locker2_id))):
            board.last_seen_at = now if board.locker_id == world.locker_id else now - datetime.timedelta(hours=1)
    return db, world


def csrf_of(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def client_as(app, login, path="/login"):
    """A test client signed in as `login` (a name from PASSWORDS); its CSRF token is `client.csrf`."""
    c = app.test_client()
    token = csrf_of(c.get(path).get_data(as_text=True))
    r = c.post(path, data={"login": login, "password": PASSWORDS[login], "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)
    c.csrf = csrf_of(c.get(r.location).get_data(as_text=True))
    return c


def field_error(html, name):
    """The error message rendered next to field `name`, or None."""
    m = re.search(r'<p class="error" id="e-%s" role="alert">([^<]+)</p>' % re.escape(name), html)
    return m.group(1) if m else None
