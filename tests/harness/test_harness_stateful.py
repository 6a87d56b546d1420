"""The whole system as a state machine (hypothesis RuleBasedStateMachine): couriers deposit, villagers
pick up (and mistype codes), the station keeper re-sends and revokes codes, and the boards' door
events reach the server through the locker link's event store with link faults interleaved at random:
delays (events wait on the board), re-reads (the same events delivered again) and server crashes
between storing an event and applying it.

The server side is the real thing on a real SQLite database: the backend's services (deposits,
pickups, codes, doors) and the link's event store (server/services/link_events.py: store, then
apply exactly once). The boards are modelled here as what they physically do: a door opens when
asked, a courier puts a parcel in, a villager takes it out, and every door change is journaled with
the next sequence number.

Invariants after every step: a parcel is in at most one compartment and a compartment holds at most
one parcel; a free compartment holds none; every live code opens exactly its parcel's compartment and
a used, replaced or revoked one opens nothing; every door event is stored exactly once and applied
exactly once. Whenever the link has delivered everything, the database agrees with the physical
lockers (parcel inside = in_locker there; taken out = picked_up).
"""
import itertools
import re
import shutil

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from harness import county as county_mod
from protocol import messages as m
from server.db import Database
from server.errors import ApiError
from server.models import AccessCode, AuditEvent, Compartment, Notification, Parcel, User
from server.models.link import LinkEvent
from server.services import codes as codes_svc
from server.services import deposits, link_events, pickups
from server.services.principals import Principal

_TEMPLATE = {}
STATS = {"deposits": 0, "pickups": 0, "resends": 0, "revokes": 0, "rereads": 0, "crashes": 0, "agreements": 0,
         "mistypes": 0}


def _template(tmp_path_factory):
    """A migrated database with a small county, built once and copied for every run."""
    if "path" not in _TEMPLATE:
        d = tmp_path_factory.mktemp("stateful")
        url, _ = county_mod.fresh_database("sqlite", str(d))
        db = Database(url, settings={"PUBLIC_URL": "http://cunbox.test"})
        c = county_mod.build(db, stations=1, lockers_per_station=1, boards=1, per_board=6,
                             villagers_per_station=4, couriers=1)
        with db.reading() as s:
            comps = s.execute(select(Compartment.id, Compartment.board_id, Compartment.index)
                              .order_by(Compartment.id)).all()
            courier = s.scalar(select(User).where(User.role == "courier"))
            operator = s.scalar(select(User).where(User.role == "operator"))
            c.courier = Principal("courier", user_id=courier.id, carrier_id=courier.carrier_id)
            c.operator = Principal("operator", user_id=operator.id, station_id=operator.station_id)
        c.compartments = [tuple(r) for r in comps]
        db.dispose()
        _TEMPLATE.update(path=url.split("///", 1)[1], county=c, dir=d)
    return _TEMPLATE


class LockerSystem(RuleBasedStateMachine):
    template = None

    def __init__(self):
        super().__init__()
        t = self.template
        self.path = str(t["dir"] / ("run-%d.sqlite3" % next(_RUNS)))
        shutil.copy(t["path"], self.path)
        self.db = Database("sqlite:///" + self.path, settings={"PUBLIC_URL": "http://cunbox.test"})
        self.c = t["county"]
        self.locker = self.c.lockers[0]
        self.locker_principal = Principal("locker", locker_id=self.locker)
        self.comp_of = {cid: (board, index) for cid, board, index in self.c.compartments}
        self.contents = {cid: None for cid in self.comp_of}       # physical: parcel id inside, or None
        self.journal = []              # events journaled by the board, not yet delivered
        self.delivered = []            # every event delivered at least once (for re-reads)
        self.seq = 0
        self.stored_unapplied = False  # a crash left stored events unapplied
        self.applied_door_events = 0
        self.live = {}                 # parcel id -> live clear code
        self.dead = []                 # codes that must open nothing
        self.taken = set()             # parcels physically taken out by their villager
        self.n = 0
        self.wrong = 0

    def teardown(self):
        self.db.dispose()

    # -- the physical board ---------------------------------------------------------------------
    def _door(self, cid, kind, occupied=None):
        board, index = self.comp_of[cid]
        self.seq += 1
        self.journal.append({"board": board, "occ": occupied,
                             "event": {"seq": self.seq, "time": 0, "kind": kind, "compartment": index, "data": b""}})

    def _code_of(self, pid):
        with self.db.reading() as s:
            note = s.scalars(select(Notification).where(Notification.parcel_id == pid,
                                                        Notification.kind == "pickup_code")
                             .order_by(Notification.id.desc())).first()
        return re.search(r"取件码(\d{8})", note.body).group(1) if note else None

    def _state(self, pid):
        with self.db.reading() as s:
            return s.get(Parcel, pid).state

    # -- couriers ---------------------------------------------------------------------------------
    @rule(villager=st.integers(0, 3), size=st.sampled_from("SML"))
    def courier_deposits(self, villager, size):
        self.n += 1
        try:
            out = deposits.start_deposit(self.db, self.c.courier, self.locker, "ST%06d" % self.n,
                                         self.c.phones[villager], size)
        except ApiError as exc:
            assert exc.code == "no_free_compartment", exc
            return
        pid, cid = out["parcel"]["id"], out["compartment"]["id"]
        STATS["deposits"] += 1
        assert self.contents[cid] is None, "compartment %d given out while it holds parcel %s" % (
            cid, self.contents[cid])
        self._door(cid, m.EV_DOOR_OPENED)
        self.contents[cid] = pid
        self._door(cid, m.EV_DOOR_CLOSED, True)

    # -- villagers --------------------------------------------------------------------------------
    def _pickable(self):
        out = []
        for cid, pid in self.contents.items():
            if pid is not None and pid in self.live and self._state(pid) == "in_locker":
                out.append((cid, pid))
        return out

    @rule(data=st.data())
    def villager_picks_up(self, data):
        self._learn_codes()
        ready = self._pickable()
        if not ready:
            return
        cid, pid = data.draw(st.sampled_from(sorted(ready)))
        code = self.live.pop(pid)
        out = pickups.verify_at_locker(self.db, self.locker_principal, self.locker, code, source="kiosk-%d" % pid)
        assert out["action"] == "pickup" and out["compartment"]["id"] == cid, out
        self.dead.append(code)
        STATS["pickups"] += 1
        self._door(cid, m.EV_DOOR_OPENED)
        self.contents[cid] = None
        self.taken.add(pid)
        self._door(cid, m.EV_DOOR_CLOSED, False)

    @precondition(lambda self: self.wrong < 4)
    @rule(code=st.integers(0, 10 ** 8 - 1))
    def villager_mistypes(self, code):
        code = "%08d" % code
        if code in self.live.values():
            return
        self.wrong += 1
        STATS["mistypes"] += 1
        before = self._parcels()
        with pytest.raises(ApiError) as info:
            pickups.verify_at_locker(self.db, self.locker_principal, self.locker, code, source="stranger")
        assert info.value.code in ("wrong_code", "code_expired", "throttled_source"), info.value.code
        assert self._parcels() == before

    # -- the station keeper -----------------------------------------------------------------------
    @rule(data=st.data(), revoke=st.booleans())
    def keeper_resends_or_revokes(self, data, revoke):
        self._learn_codes()
        ready = self._pickable()
        if not ready:
            return
        _cid, pid = data.draw(st.sampled_from(sorted(ready)))
        old = self.live.pop(pid)
        self.dead.append(old)
        STATS["revokes" if revoke else "resends"] += 1
        if revoke:
            pickups.revoke(self.db, self.c.operator, pid)
            pickups.resend(self.db, self.c.operator, pid)    # the villager calls; a fresh code goes out
        else:
            pickups.resend(self.db, self.c.operator, pid)
        new = self._code_of(pid)
        assert new is not None and new != old
        self.live[pid] = new

    # -- the link ---------------------------------------------------------------------------------
    @rule(how_many=st.integers(1, 6), reread=st.booleans(), crash=st.booleans())
    def link_delivers(self, how_many, reread, crash):
        batch = self.journal[:how_many]
        del self.journal[:how_many]
        if reread and self.delivered:
            batch = self.delivered[-2:] + batch          # the board's unacknowledged events, read again
            STATS["rereads"] += 1
        for item in batch:
            occ = {} if item["occ"] is None else {item["event"]["compartment"]: item["occ"]}
            link_events.store(self.db, item["board"], [item["event"]], occ)
            if item not in self.delivered:
                self.delivered.append(item)
        if crash:
            self.stored_unapplied = True                 # the server died after storing, before applying
            STATS["crashes"] += 1
            return
        self._apply()

    def _apply(self):
        link_events.apply_pending(self.db)
        self.stored_unapplied = False
        self._learn_codes()

    def _learn_codes(self):
        for pid in self.contents.values():
            if pid is not None and pid not in self.live and pid not in self.taken:
                code = self._code_of(pid)
                if code is not None and code not in self.dead:
                    self.live[pid] = code

    @rule()
    def link_catches_up(self):
        for item in self.journal:
            occ = {} if item["occ"] is None else {item["event"]["compartment"]: item["occ"]}
            link_events.store(self.db, item["board"], [item["event"]], occ)
            self.delivered.append(item)
        self.journal = []
        self._apply()
        self._physics_agrees()

    def _physics_agrees(self):
        STATS["agreements"] += 1
        with self.db.reading() as s:
            for cid, pid in self.contents.items():
                if pid is not None:
                    p = s.get(Parcel, pid)
                    assert p.state == "in_locker" and p.active_compartment_id == cid, (pid, p.state, cid)
            for pid in self.taken:
                assert s.get(Parcel, pid).state == "picked_up", pid

    # -- invariants -------------------------------------------------------------------------------
    def _parcels(self):
        with self.db.reading() as s:
            return s.execute(select(Parcel.id, Parcel.state, Parcel.active_compartment_id)).all()

    @invariant()
    def one_parcel_per_compartment_and_one_compartment_per_parcel(self):
        with self.db.reading() as s:
            busy = s.execute(select(Parcel.active_compartment_id, func.count()).where(
                Parcel.active_compartment_id.is_not(None)).group_by(Parcel.active_compartment_id)
                .having(func.count() > 1)).all()
            assert busy == [], busy
            held = set(s.scalars(select(Parcel.active_compartment_id).where(
                Parcel.active_compartment_id.is_not(None))).all())
            for comp in s.scalars(select(Compartment)).all():
                if comp.state == "free":
                    assert comp.id not in held, "free compartment %d holds a parcel" % comp.id
            for p in s.scalars(select(Parcel).where(Parcel.state.in_(("reserved", "in_locker", "opening")))).all():
                assert p.active_compartment_id is not None, p.id

    @invariant()
    def codes_open_exactly_their_compartment(self):
        with self.db.reading() as s:
            for pid, code in self.live.items():
                row = codes_svc.find(s, self.locker, code)
                p = s.get(Parcel, pid)
                assert row is not None and row.state == "live" and row.parcel_id == pid, (pid, code)
                assert row.compartment_id == p.active_compartment_id
            for code in self.dead:
                row = codes_svc.find(s, self.locker, code)
                assert row is None or row.state != "live", "dead code %s still live" % code
            live = s.scalar(select(func.count()).select_from(AccessCode).where(AccessCode.state == "live"))
            assert live == len(self.live), (live, self.live)

    @invariant()
    def door_events_stored_and_applied_exactly_once(self):
        with self.db.reading() as s:
            dups = s.execute(select(LinkEvent.board_id, LinkEvent.seq, func.count())
                             .group_by(LinkEvent.board_id, LinkEvent.seq).having(func.count() > 1)).all()
            assert dups == []
            stored = s.scalar(select(func.count()).select_from(LinkEvent))
            assert stored == len(self.delivered)
            unprocessed = s.scalar(select(func.count()).select_from(LinkEvent).where(LinkEvent.processed_at.is_(None)))
            assert unprocessed == 0 or self.stored_unapplied
            audited = s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action.in_(("door_opened", "door_closed"))))
            assert audited == stored - unprocessed, (audited, stored, unprocessed)


_RUNS = itertools.count()


def test_locker_system_state_machine(tmp_path_factory):
    LockerSystem.template = _template(tmp_path_factory)
    run_state_machine_as_test(LockerSystem, settings=settings(
        max_examples=10, stateful_step_count=35, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
    # the run did reach every kind of step (a machine that never picks up would prove nothing)
    assert all(STATS.values()), STATS
