"""The reference station system: a small HTTP service that speaks the contract in docs/station-sync.md.

It stands in for a station's county or co-op system in tests and in the benchmark, and is the
executable half of the contract: what it serves is what the client must accept. It hosts several
stations, each with its own credential, and can be told to misbehave (``faults``) the way real
systems do: broken JSON, a 500 halfway through, a reply for another station, an invalid record.

    sim = StationSimulator(); sim.add_station("S1", "token-1"); sim.start()
    sim.upsert("S1", "A0001", name="张三", phones=["13812345678"], consent={...}); ... sim.stop()
"""
import datetime as _dt
import json
import socket
import threading
import time

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from server.station_sync.contract import PAGE_LIMIT_MAX

PORT_RANGE = range(44000, 44100)


class _Account:
    __slots__ = ("id", "values", "version", "updated_at", "deleted", "seq", "field_times")


class _Station:
    def __init__(self, sid, token):
        self.sid, self.token = sid, token
        self.accounts = {}
        self.seq = 0
        self.updates = {}             # idempotency key -> update received from cunbox
        self.update_log = []          # keys in arrival order (duplicates included)


class StationSimulator:
    def __init__(self, host="127.0.0.1", port=None):
        self.host, self.port = host, port
        self.stations = {}
        self.faults = {}              # see _fault(); e.g. {"mode": "http_500", "after_pages": 2}
        self.pages_served = 0
        self.page_delay = 0.0         # seconds to wait before serving each page (a slow county system)
        self.requests = []            # (method, path, query) for assertions in tests
        self.lock = threading.Lock()
        self._server = None
        self._thread = None
        self._clock = None

    # -- the station's book ----------------------------------------------------------------------
    def add_station(self, sid, token):
        self.stations[str(sid)] = _Station(str(sid), token)

    def now(self):
        """Station clock: real time, but strictly increasing so (updated_at, id) paging is exact."""
        t = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        with self.lock:
            if self._clock is not None and t <= self._clock:
                t = self._clock + _dt.timedelta(milliseconds=1)
            self._clock = t
        return t

    def upsert(self, sid, account_id, at=None, field_times=None, **values):
        st = self.stations[str(sid)]
        with self.lock:
            acc = st.accounts.get(account_id)
            if acc is None:
                acc = _Account()
                acc.id, acc.values, acc.version, acc.deleted = account_id, {}, 0, False
                acc.field_times = {}
                st.accounts[account_id] = acc
            acc.values.update(values)
            if field_times:       # a system that knows when each field changed
                acc.field_times.update({f: t.isoformat() for f, t in field_times.items()})
            acc.deleted = False
            self._bump(st, acc, at)
        return acc

    def delete(self, sid, account_id, at=None):
        st = self.stations[str(sid)]
        with self.lock:
            acc = st.accounts[account_id]
            acc.deleted = True
            self._bump(st, acc, at)

    def bulk_load(self, sid, records):
        """Load many accounts at once (benchmark): records = iterable of (id, values)."""
        st = self.stations[str(sid)]
        t = self.now()
        with self.lock:
            for account_id, values in records:
                acc = _Account()
                acc.id, acc.values, acc.version, acc.deleted = account_id, dict(values), 0, False
                acc.field_times = {}
                st.accounts[account_id] = acc
                self._bump(st, acc, t)

    def _bump(self, st, acc, at):
        st.seq += 1
        acc.seq = st.seq
        acc.version += 1
        acc.updated_at = at or _dt.datetime.now(_dt.timezone.utc)

    def account_json(self, acc):
        ts = acc.updated_at.isoformat()
        doc = {"id": acc.id, "version": acc.version, "updated_at": ts}
        if acc.deleted:
            doc["deleted"] = True
        else:
            doc.update(acc.values)
            if acc.field_times:
                doc["field_updated_at"] = dict(acc.field_times)
        return doc

    # -- HTTP ------------------------------------------------------------------------------------
    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self):
        ports = [self.port] if self.port else list(PORT_RANGE)
        last = None
        for port in ports:
            if not _port_free(self.host, port):
                last = "port %d is in use" % port
                continue
            try:
                self._server = make_server(self.host, port, self._wsgi, threaded=True)
                break
            except (OSError, SystemExit) as e:   # werkzeug exits instead of raising when bind fails
                last = e
        else:
            raise OSError("no free port for the station simulator in %d-%d: %s" % (ports[0], ports[-1], last))
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="station-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _wsgi(self, environ, start_response):
        req = Request(environ)
        resp = self._handle(req)
        return resp(environ, start_response)

    def _handle(self, req):
        self.requests.append((req.method, req.path, dict(req.args)))
        parts = [p for p in req.path.split("/") if p]
        if len(parts) != 3 or parts[0] != "stations" or parts[2] not in ("accounts", "updates"):
            return _json({"error": "not found"}, 404)
        sid = parts[1]
        token = req.headers.get("Authorization", "")
        token = token[7:] if token.startswith("Bearer ") else None
        owner = next((s for s in self.stations.values() if s.token == token), None)
        if owner is None:
            return _json({"error": "unknown or missing credential"}, 401)
        if owner.sid != sid:
            return _json({"error": "this credential is for station %s, not %s" % (owner.sid, sid)}, 403)
        st = self.stations[sid]
        if parts[2] == "accounts" and req.method == "GET":
            return self._accounts(st, req)
        if parts[2] == "updates" and req.method == "POST":
            return self._updates(st, req)
        return _json({"error": "method not allowed"}, 405)

    def _fault(self):
        f = self.faults
        mode = f.get("mode")
        if mode and self.pages_served >= f.get("after_pages", 0):
            if f.get("times", 1) <= 0:
                return None
            f["times"] = f.get("times", 1) - 1
            return mode
        return None

    def _accounts(self, st, req):
        if self.page_delay:
            time.sleep(self.page_delay)
        try:
            limit = min(int(req.args.get("limit", 500)), PAGE_LIMIT_MAX)
        except ValueError:
            return _json({"error": "limit must be an integer"}, 400)
        with self.lock:
            if "updated_since" in req.args:
                since = _dt.datetime.fromisoformat(req.args["updated_since"])
                key = (since, req.args.get("after_id", ""))
                rows = sorted((a for a in st.accounts.values() if (a.updated_at, a.id) > key),
                              key=lambda a: (a.updated_at, a.id))
            else:
                cursor = req.args.get("cursor") or "c0"
                if not cursor.startswith("c") or not cursor[1:].isdigit():
                    return _json({"error": "bad cursor"}, 400)
                after = int(cursor[1:])
                rows = sorted((a for a in st.accounts.values() if a.seq > after), key=lambda a: a.seq)
            page = rows[:limit]
            has_more = len(rows) > limit
            doc = {"station_id": st.sid, "accounts": [self.account_json(a) for a in page],
                   "has_more": has_more,
                   "next_cursor": ("c%d" % page[-1].seq) if page else req.args.get("cursor")}
        fault = self._fault()
        self.pages_served += 1
        if fault == "http_500":
            return _json({"error": "internal error"}, 500)
        if fault == "broken_json":
            body = json.dumps(doc, ensure_ascii=False)
            return Response(body[: len(body) // 2], status=200, mimetype="application/json")
        if fault == "wrong_station":
            doc["station_id"] = "someone-else"
        if fault == "bad_record" and doc["accounts"]:
            doc["accounts"][0] = dict(doc["accounts"][0], phones=["12345"])
        if fault == "foreign_record" and doc["accounts"]:
            doc["accounts"][0] = dict(doc["accounts"][0], station_id="someone-else")
        return _json(doc, 200)

    def _updates(self, st, req):
        """Receive cunbox's outbound updates. Idempotent by key; account-field updates bump the record."""
        try:
            doc = json.loads(req.get_data().decode("utf-8"))
            updates = doc["updates"]
            assert isinstance(updates, list)
        except (ValueError, KeyError, AssertionError, UnicodeDecodeError):
            return _json({"error": "body must be {\"updates\": [...]}"}, 400)
        fault = self._fault()
        if fault == "http_500":
            return _json({"error": "internal error"}, 500)
        accepted, rejected = [], []
        for u in updates:
            key = u.get("key") if isinstance(u, dict) else None
            if not key:
                rejected.append({"key": None, "error": "update without key"})
                continue
            st.update_log.append(key)
            if key in st.updates:
                accepted.append(key)
                continue
            if u.get("kind") == "account_field":
                acc = st.accounts.get(u.get("account_id"))
                if acc is None or acc.deleted:
                    rejected.append({"key": key, "error": "no such account"})
                    continue
                if acc.values.get(u.get("field")) != u.get("base_value"):
                    # Compare-and-set: the station changed the field since cunbox last saw it.
                    rejected.append({"key": key, "error": "conflict: %s changed at the station" % u.get("field")})
                    continue
                with self.lock:
                    acc.values[u["field"]] = u["value"]
                    self._bump(st, acc, None)
            st.updates[key] = u
            accepted.append(key)
        return _json({"accepted": accepted, "rejected": rejected}, 200)


def _port_free(host, port):
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _json(doc, status):
    return Response(json.dumps(doc, ensure_ascii=False), status=status, mimetype="application/json")
