"""A county for the harness: stations, lockers, carriers, couriers, villagers and their tokens, built
through the backend's provisioning services on a migrated database. Used by the crash, load and
stateful runs, which talk to the server the way handhelds and lockers do (tokens over HTTP).

Databases: `fresh_database(kind)` gives a migrated SQLite file or a private PostgreSQL database
(on the server named by CUNBOX_TEST_POSTGRES_URL) and a function that removes it.
"""
import os
import tempfile
import uuid

FAST_HASH = "pbkdf2:sha256:1000"  # harness users need no slow password hashing
# PostgreSQL is chosen by the environment only, so that the tests importing this module run their
# PostgreSQL variants exactly when CUNBOX_TEST_POSTGRES_URL selects them; `make bench` sets it to
# the local server when that answers (bench/__main__.py).
PG_URL = os.environ.get("CUNBOX_TEST_POSTGRES_URL")


class County:
    """Ids and tokens; phones[i] belongs to a consenting villager of station_of_phone[i]."""


def fresh_database(kind="sqlite", tmpdir=None):
    """(url, drop) for a new, migrated database of this kind."""
    from sqlalchemy import create_engine, text

    from server import migrate
    if kind == "sqlite":
        d = tmpdir or tempfile.mkdtemp(prefix="cunbox-harness-")
        url = "sqlite:///%s/cunbox-%s.sqlite3" % (d, uuid.uuid4().hex[:8])
        migrate.upgrade(url)
        return url, lambda: None
    if not PG_URL:
        raise RuntimeError("PostgreSQL needs CUNBOX_TEST_POSTGRES_URL")
    name = "cunbox_harness_%s" % uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "%s"' % name))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    migrate.upgrade(url)

    def drop():
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        admin.dispose()
    return url, drop


def build(db, stations=1, lockers_per_station=2, boards=2, per_board=12, villagers_per_station=50,
          couriers=2):
    """Provision a county. Returns a County with tokens for couriers, lockers and the operators."""
    from server.models import Locker
    from server.services import accounts, provisioning

    c = County()
    c.stations, c.lockers, c.locker_tokens, c.locker_station = [], [], {}, {}
    c.phones, c.station_of_phone, c.operator_tokens = [], [], {}
    with db.transaction() as s:
        town = provisioning.township(s, "Qingshan", "Anyang County")
        post = provisioning.carrier(s, "post", "China Post", "postal")
        c.carrier_id = post.id
        c.courier_tokens = []
        for k in range(couriers):
            u = accounts.create_user(s, "courier", "courier-%d" % k, "pw", "Courier %d" % k, carrier_id=post.id,
                                     method=FAST_HASH)
            c.courier_tokens.append(accounts.issue_token(s, user=u))
        layout = provisioning.standard_layout(boards, per_board)
        phone = 13800000000
        for i in range(stations):
            st = provisioning.station(s, town, "Station %d" % i, "Village %d, Main Street 1" % i, storage_hours=72,
                                      free_hours=72, recipient_fee_cents_per_day=0)
            c.stations.append(st.id)
            op = accounts.create_user(s, "operator", "op-%d" % i, "pw", "Operator %d" % i, station_id=st.id,
                                      method=FAST_HASH)
            c.operator_tokens[st.id] = accounts.issue_token(s, user=op)
            for j in range(lockers_per_station):
                lk = provisioning.locker(s, st, "Locker %d-%d" % (i, j), "socket://127.0.0.1:1", layout)
                c.lockers.append(lk.id)
                c.locker_station[lk.id] = st.id
                c.locker_tokens[lk.id] = accounts.issue_token(s, locker=s.get(Locker, lk.id), label="locker")
            for _ in range(villagers_per_station):
                phone += 1
                provisioning.account(s, st, "Villager %d" % phone, str(phone), consent=True)
                c.phones.append(str(phone))
                c.station_of_phone.append(st.id)
    return c
