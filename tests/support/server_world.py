"""A small county for the server tests (build_world), and the checks they share."""
import hashlib
import os
import re
import uuid

from sqlalchemy import create_engine, inspect, select, text

from server.models import Notification
from server.services import accounts, provisioning
from server.services.principals import Principal

FAST = "pbkdf2:sha256:1000"  # test passwords need no slow hashing
PG_URL = os.environ.get("CUNBOX_TEST_POSTGRES_URL")
SETTINGS = {"PUBLIC_URL": "http://cunbox.test", "THROTTLE_WINDOW_SECONDS": 600, "THROTTLE_PER_SOURCE": 5,
            "THROTTLE_PER_LOCKER": 30}


def private_pg_database(server_url):
    """Create a uniquely named database on the server; returns (url, drop_fn)."""
    name = "cunbox_test_%s" % uuid.uuid4().hex[:12]
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "%s"' % name))
    url = server_url.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        admin.dispose()
    return url, drop


class World:
    """A small county: ids and tokens of everything a test needs."""


def build_world(db, layout=None, lockers=1, extra_station=True):
    w = World()
    with db.transaction() as s:
        town = provisioning.township(s, "Qingshan", "Anyang County")
        st = provisioning.station(s, town, "Dongcun station", "Dongcun village, No. 1 Main Street",
                                  storage_hours=72, free_hours=72, recipient_fee_cents_per_day=100)
        w.station_id = st.id
        w.lockers = []
        for i in range(lockers):
            lk = provisioning.locker(s, st, "Dongcun locker %d" % (i + 1), "socket://127.0.0.1:%d" % (42090 + i),
                                     layout or [(1, [("S", False, "middle"), ("M", False, "middle"),
                                                     ("L", False, "low"), ("M", True, "middle")])])
            w.lockers.append(lk.id)
        w.locker_id = w.lockers[0]
        w.locker_token = accounts.issue_token(s, locker=s.get(type(lk), w.locker_id), label="locker")
        post = provisioning.carrier(s, "post", "China Post", "postal")
        sf = provisioning.carrier(s, "sf", "SF Express", "express")
        w.carrier_id, w.other_carrier_id = post.id, sf.id
        courier = accounts.create_user(s, "courier", "courier-post", "pw-courier", "Li", carrier_id=post.id,
                                       method=FAST)
        other = accounts.create_user(s, "courier", "courier-sf", "pw-sf", "Wang", carrier_id=sf.id, method=FAST)
        op = accounts.create_user(s, "operator", "op-dongcun", "pw-op", "Zhao", station_id=st.id, method=FAST)
        maint = accounts.create_user(s, "maintainer", "maint", "pw-maint", "Sun", method=FAST)
        w.courier = Principal("courier", user_id=courier.id, carrier_id=post.id)
        w.other_courier = Principal("courier", user_id=other.id, carrier_id=sf.id)
        w.operator = Principal("operator", user_id=op.id, station_id=st.id)
        w.maintainer = Principal("maintainer", user_id=maint.id)
        w.courier_token = accounts.issue_token(s, user=courier)
        w.other_courier_token = accounts.issue_token(s, user=other)
        w.operator_token = accounts.issue_token(s, user=op)
        w.maintainer_token = accounts.issue_token(s, user=maint)
        w.consenting = provisioning.account(s, st, "Chen Mei", "138-0000-0001", consent=True).id
        w.consenting_phone = "13800000001"
        w.refusing_phone = "13800000002"
        provisioning.account(s, st, "Liu Wei", "13800000002", consent=False)
        w.low_pref_phone = "13800000003"
        provisioning.account(s, st, "Old Zhang", "13800000003", consent=True, height_preference="low")
        if extra_station:
            st2 = provisioning.station(s, town, "Xicun station", "Xicun village")
            lk2 = provisioning.locker(s, st2, "Xicun locker", "socket://127.0.0.1:42099", [(1, [("M", False, "low")])])
            w.other_station_id, w.other_locker_id = st2.id, lk2.id
            op2 = accounts.create_user(s, "operator", "op-xicun", "pw-op2", "Qian", station_id=st2.id, method=FAST)
            w.other_operator_token = accounts.issue_token(s, user=op2)
            w.other_operator = Principal("operator", user_id=op2.id, station_id=st2.id)
            w.other_locker_token = accounts.issue_token(s, locker=lk2, label="locker")
    return w


def bearer(token):
    return {"Authorization": "Bearer %s" % token}


def snapshot(db):
    """Every row of every table, to assert that a refused request changed nothing."""
    out = {}
    with db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            rows = conn.execute(text('SELECT * FROM "%s" ORDER BY 1' % table)).all()
            out[table] = [tuple(r) for r in rows]
    return out


def last_code(db, parcel_id):
    """The clear code, as the villager reads it in the notification (the outbox is the only place)."""
    with db.reading() as s:
        note = s.scalars(select(Notification).where(Notification.parcel_id == parcel_id,
                                                    Notification.kind == "pickup_code")
                         .order_by(Notification.id.desc())).first()
        return re.search(r"取件码(\d{8})", note.body).group(1), note


def link_of(note_body):
    m = re.search(r"/p/([A-Za-z0-9_\-]+)\?c=(\d{8})", note_body)
    return m.group(1), m.group(2)


def sha16(salt, code):
    return hashlib.sha256(salt + code.encode()).digest()[:16]
