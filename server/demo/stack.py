"""The whole product on one machine: an embedded SQLite database with the demo county, simulated
lockers on real pseudo-terminals (or TCP), the locker link and the HTTP server (waitress).

`make run` (server/demo/run.py) starts a Stack on the kept demo folder and waits for Ctrl-C; `cunbox
demo`, the link's end-to-end tests and bench/bench_link.py build the very same Stack.
"""
import logging
import pathlib
import secrets
import tempfile
import threading

from sqlalchemy import select

from server import migrate

log = logging.getLogger("cunbox.demo")

FAST_HASH = "pbkdf2:sha256:1000"  # demo passwords are printed anyway; no slow hashing needed
CARRIERS = (("post", "中国邮政", "postal"), ("sf", "顺丰速运", "express"), ("coop", "供销社物流", "coop"))
VILLAGERS = (("陈梅", "13800000001"), ("刘伟", "13800000002"), ("张大爷", "13800000003"), ("王芳", "13800000004"),
             ("李强", "13800000005"), ("赵丽", "13800000006"), ("孙涛", "13800000007"), ("周洁", "13800000008"))


class Stack:
    def __init__(self, root=None, lockers=2, boards=2, per_board=8, transport="pty", baud=115200, paced=False,
                 host="127.0.0.1", port=0, status_period_s=1.0, wait_s=8.0, auto_close_ms=None, db_url=None,
                 couriers_per_carrier=2, villagers=None, start_link=True, board_loop_ms=2, county=False,
                 board_options=None, sim_processes=0, fw_signing_key=None, seeded=None):
        self._own_root = root is None
        self.root = pathlib.Path(root or tempfile.mkdtemp(prefix="cunbox_stack_"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url or "sqlite:///%s" % (self.root / "cunbox.sqlite3")
        self.n_lockers, self.n_boards, self.per_board = lockers, boards, per_board
        self.transport, self.baud, self.paced = transport, baud, paced
        self.host, self.port = host, port
        self.status_period_s, self.wait_s = status_period_s, wait_s
        self.auto_close_ms = auto_close_ms
        self.couriers_per_carrier = couriers_per_carrier
        self.villagers = villagers or VILLAGERS
        self.start_link = start_link
        self.board_loop_ms = board_loop_ms  # the simulated firmware's main-loop period
        self.county = county  # True: the backend's demo county (cunbox seed-demo), as `make run` shows it
        self.board_options = board_options or {}  # more hardware_sim.board.SimBoard options for every board
        self.sims = {}  # locker id -> SimLocker (or hardware_sim.fleet.RemoteSimLocker)
        # 0: the simulated lockers run as threads of this process; N: in N other processes (benchmarks:
        # then they do not compete with the link worker for this process's interpreter lock)
        self.sim_processes = sim_processes
        # a firmware signing key file (made if missing): boards are provisioned trusting its public half,
        # from a factory image signed with it, so releases it signs roll out to them
        # (server/firmware_delivery/factory.py)
        self.fw_signing_key = fw_signing_key
        # county=True: the seed's output of a county already in the database (a kept `make run` demo,
        # server/demo/data.py) is used as it is instead of seeding
        self.seeded = seeded
        self.fleets = []
        self.app = self.db = self.server = self.worker = None
        self.tokens = {}
        self.url = None

    # -- life -------------------------------------------------------------------------------------
    def start(self):
        from server.app import create_app
        from server.link.keys import Sealer, load_secret
        from server.secret import web_session_key
        from server.serve import BackgroundServer
        migrate.upgrade(self.db_url)
        secret = load_secret(self.root)
        self.sealer = Sealer(secret)
        # web sessions get their own key derived from the instance's secret, so they outlive a restart
        web_key = web_session_key(secret)
        self.app = create_app({"DATABASE_URL": self.db_url, "PUBLIC_URL": "http://%s:%s" % (self.host, self.port or 0),
                               "LINK_WAIT_SECONDS": self.wait_s, "LINK_IN_PROCESS": False, "SECRET_KEY": web_key})
        self.db = self.app.extensions["cunbox_db"]
        self.app.extensions["cunbox_link_sealer"] = self.sealer
        if self.fw_signing_key:
            self._provision_firmware()
        self._seed_and_start_lockers()
        if self.start_link:
            self.start_linker()
        port = self.port or 0  # 0: the OS picks it while binding, so parallel stacks never collide
        self.server = BackgroundServer(self.app, self.host, port, threads=16)
        self.server.__enter__()
        self.url = self.server.url
        self.db.settings["PUBLIC_URL"] = self.url
        return self

    def _provision_firmware(self):
        """Boards trust the signing key's public half (and the keys the server trusts besides,
        $CUNBOX_FW_PUBKEYS) and boot a factory image signed with it; the server checks releases with
        the same keys."""
        from server.firmware_delivery import factory
        from server.firmware_delivery import keys as fw_keys
        extra = fw_keys.load_public_keys() if fw_keys.pubkey_paths_from_env() else []
        fw = factory.demo_provisioning(self.fw_signing_key, self.root / "firmware", extra)
        self.board_options = dict(self.board_options, fw_image=fw.image, fw_pubkeys=fw.pubkeys)
        self.app.config["FW_PUBKEYS"] = fw.pubkeys

    def start_linker(self):
        from server.link.bus import Options
        from server.link.worker import start_in_process
        opts = Options(baud=self.baud, status_period_s=self.status_period_s)
        self.worker = start_in_process(self.app, opts, self.wait_s)
        return self.worker

    def stop_linker(self):
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def stop(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        self.stop_linker()
        for sim in self.sims.values():
            sim.stop()
        self.sims.clear()
        for fleet in self.fleets:
            fleet.stop()
        self.fleets = []
        if self.db is not None:
            self.db.dispose()
        if self._own_root:
            import shutil
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the demo county --------------------------------------------------------------------------
    def _seed_and_start_lockers(self):
        if self.county:
            self._seed_county()
        else:
            self._seed_small()
        self._start_lockers()

    def _seed_county(self):
        """The backend's demo county (server/seed.py): three stations, four lockers, four carriers."""
        from server.seed import seed_demo
        out = self.seeded = self.seeded or seed_demo(self.db)
        self.locker_ids = [lk["id"] for lk in out["lockers"]]
        self.station_id = out["stations"][0]["id"]
        carrier_ids = {c["code"]: c["id"] for c in out["carriers"]}
        self.carrier_ids = list(carrier_ids.values())
        self.tokens = {"lockers": {lk["id"]: lk["token"] for lk in out["lockers"]},
                       "couriers": [{"token": c["token"], "carrier_id": carrier_ids[c["carrier"]], "login": c["login"],
                                     "password": c["password"]} for c in out["couriers"]],
                       "operator": out["operators"][0]["token"], "maintainer": out["maintainers"][0]["token"]}
        self.accounts = [{"id": a["id"], "phone": a["phone"], "name": a["name"]} for a in out["accounts"]
                         if a["consent"] and a["station_id"] == self.station_id]

    def _seed_small(self):
        from server.models import Locker
        from server.services import accounts, provisioning
        t = self.tokens
        with self.db.transaction() as s:
            town = provisioning.township(s, "青山镇", "安阳县")
            st = provisioning.station(s, town, "东村服务站", "东村 主街1号", storage_hours=72, free_hours=72,
                                      recipient_fee_cents_per_day=100)
            self.station_id = st.id
            self.locker_ids = []
            for i in range(self.n_lockers):
                sizes = ["S", "M", "M", "L", "S", "M", "L", "XL"]
                heights = ["high", "middle", "middle", "low", "high", "middle", "low", "low"]
                layout = [(b + 1, [(sizes[k % 8], b == self.n_boards - 1 and self.n_boards > 1 and k < 2,
                                    heights[k % 8]) for k in range(self.per_board)])
                          for b in range(self.n_boards)]
                lk = provisioning.locker(s, st, "东村%d号柜" % (i + 1), "pending://", layout)
                self.locker_ids.append(lk.id)
            t["lockers"] = {lid: accounts.issue_token(s, locker=s.get(Locker, lid), label="locker")
                            for lid in self.locker_ids}
            t["couriers"] = []
            self.carrier_ids = []
            for code, name, kind in CARRIERS:
                c = provisioning.carrier(s, code, name, kind)
                self.carrier_ids.append(c.id)
                for k in range(self.couriers_per_carrier):
                    u = accounts.create_user(s, "courier", "%s-%d" % (code, k + 1), "demo-%s-%d" % (code, k + 1),
                                             "%s courier %d" % (name, k + 1), carrier_id=c.id, method=FAST_HASH)
                    t["couriers"].append({"token": accounts.issue_token(s, user=u), "carrier_id": c.id,
                                          "login": u.login})
            op = accounts.create_user(s, "operator", "station", "demo-station", "站长老赵", station_id=st.id,
                                      method=FAST_HASH)
            t["operator"] = accounts.issue_token(s, user=op)
            mt = accounts.create_user(s, "maintainer", "maint", "demo-maint", "维护员", method=FAST_HASH)
            t["maintainer"] = accounts.issue_token(s, user=mt)
            self.accounts = []
            for name, phone in self.villagers:
                a = provisioning.account(s, st, name, phone, consent=True)
                self.accounts.append({"id": a.id, "phone": a.phone, "name": name})

    def _start_lockers(self):
        """One simulated locker per locker row, its boards and compartment sizes as the database has
        them; each board gets a fresh key (as at the factory), which the server keeps sealed. A board
        the server already holds a key for (a kept demo) is the same board powered up again: it keeps
        that key, and the parcels the database has in its compartments are put back in."""
        from hardware_sim.locker import SimLocker
        from server.models import Board, Locker
        from server.services import link_state
        with self.db.reading() as s:
            boards = {lid: [(b.id, b.address, [c.size for c in b.compartments])
                            for b in s.query(Board).filter(Board.locker_id == lid).order_by(Board.address)]
                      for lid in self.locker_ids}
        specs, keys, known = {}, {}, {}
        for lid in self.locker_ids:
            known[lid] = {addr: self._known_key(bid) for bid, addr, _sizes in boards[lid]}
            keys[lid] = {addr: known[lid][addr] or secrets.token_bytes(16)  # made at the factory
                         for _bid, addr, _sizes in boards[lid]}
            specs[lid] = dict(
                board_specs=[dict(self.board_options, address=addr, loop_ms=self.board_loop_ms,
                                  compartments=len(sizes), sizes=sizes) for _bid, addr, sizes in boards[lid]],
                compartments=self.per_board, transport=self.transport, baud=self.baud, paced=self.paced,
                locker_id=str(lid), root=str(self.root / ("sim%d" % lid)), auto_close_ms=self.auto_close_ms)
        if self.sim_processes:
            self._start_fleets(specs, keys)
        else:
            occupied = self._occupied()
            for lid in self.locker_ids:
                sim = SimLocker(keys=keys[lid], **specs[lid])
                for addr, index in occupied.get(lid, ()):
                    sim.put_parcel(addr, index)  # before power-on: the boards boot seeing them
                sim.start()
                self.sims[lid] = sim
        for lid in self.locker_ids:
            with self.db.transaction() as s:
                s.get(Locker, lid).serial_url = self.sims[lid].url
            for bid, addr, _sizes in boards[lid]:
                if known[lid][addr] is None:
                    link_state.provision_key(self.db, bid, keys[lid][addr], self.sealer, actor="factory")
        del keys, known

    def _known_key(self, board_id):
        """The key the server holds for a board, or None (never provisioned, or sealed under another secret)."""
        from server.link.keys import SealError
        from server.services import link_state
        try:
            return link_state.board_key(self.db, board_id, self.sealer)
        except SealError:
            return None

    def _occupied(self):
        """{locker id: [(board address, door), ...]} of the compartments the database says hold something."""
        from server.models import Board, Compartment
        with self.db.reading() as s:
            rows = s.execute(select(Compartment.locker_id, Board.address, Compartment.index)
                             .join(Board, Board.id == Compartment.board_id)
                             .where(Compartment.state == "occupied")).all()
        out = {}
        for lid, addr, index in rows:
            out.setdefault(lid, []).append((addr, index))
        return out

    def _start_fleets(self, specs, keys):
        """The simulated lockers in sim_processes fleet hosts (hardware_sim.fleet), started side by side."""
        from hardware_sim.fleet import FleetProcess
        n = min(self.sim_processes, len(self.locker_ids))
        groups = [self.locker_ids[k::n] for k in range(n)]
        self.fleets = [FleetProcess([dict(specs[lid], id=lid, keys=keys[lid]) for lid in g]) for g in groups]
        started, failed = {}, []

        def start(fleet):
            try:
                started.update(fleet.start())
            except Exception as exc:  # noqa: BLE001 - reported below, after every host had its go
                failed.append(exc)
        threads = [threading.Thread(target=start, args=(f,)) for f in self.fleets]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            raise failed[0]
        self.sims.update(started)

    def sim_for(self, locker_id):
        return self.sims[locker_id]


def demo_signing_key(root):
    """A firmware signing key pair for this demo county, so the maintainer's release page works out of
    the box: the server trusts its public half (unless CUNBOX_FW_PUBKEYS names real keys); the private
    half stays in the demo folder, as it would on a maintainer's build machine. Made once with the product's
    key tooling (server/firmware_delivery/keys.py) and kept while the demo folder is; the Stack given it
    (fw_signing_key) provisions its boards to trust it. Returns its path."""
    from server.firmware_delivery import factory
    root.mkdir(parents=True, exist_ok=True)
    path = str(root / "fw-signing.pem")
    factory.keep_or_create_keypair(path)
    return path
