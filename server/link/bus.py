"""BusMaster: one thread per locker, the only talker on that locker's bus.

It opens the locker's pyserial URL (/dev/ttyUSB0, socket://host:port, rfc2217://..., a pty path)
and talks through hostlink.exchange.Exchange, the host's one exchange loop on
protocol.session.HostSession: one request at a time, the inter-frame gap kept before every
transmission, retries of the very same bytes on the session's deadline. Each pass it executes
one queued command (door opens first come first served), then polls whichever boards are due:
STATUS; EVENTS when the board has some (stored and committed before EVENTS_ACK); TIME_SET when the
board's clock is off; a full code sync after the board (re)appears, reboots or is replaced.

Between those it sleeps until the next thing falls due: the queue is read only when `wake` says
there may be a command (the in-process door driver after its commit, or the worker's queue watcher
that reads the whole worker's queue in one query), and a reply is awaited in one blocking wait up
to the session's deadline, not by spinning on the port.
"""
import logging
import threading
import time

import serial

from hostlink.exchange import Exchange
from protocol import messages as m
from protocol.errors import NAK_BUSY, NAK_REPLAY, LocalProtocolError, nak_name
from protocol.session import NAK, HostSession
from server import clock
from server.link import commission_job, firmware_job
from server.services import door_reports, link_commands, link_events, link_state

log = logging.getLogger("cunbox.link")

REASONS = {"deposit": m.REASON_DEPOSIT, "pickup": m.REASON_PICKUP, "retrieve": m.REASON_OPERATOR,
           "return": m.REASON_RETURN, "dropoff": m.REASON_DROPOFF, "collect": m.REASON_COLLECT,
           "staff": m.REASON_OPERATOR}
OK_RESULTS = (m.OPEN_OPENED, m.OPEN_ALREADY_OPEN, m.OPEN_SENSOR_FAULT)
# How often an answering board's last contact is written (pages call a board offline after
# web.queries.OFFLINE_AFTER without one): a write every few polls keeps them true without a database
# write per poll.
HEARD_WRITE_S = 15.0
BUSY_RETRY_S = 0.25  # a board refuses an OPEN as BUSY while its one lock supply is in use (500 ms pulses)


class LeaseLost(Exception):
    pass


class _Board:
    def __init__(self, address, info):
        self.address = address
        self.board_id = info["board_id"]
        self.has_key = info["key"] is not None
        self.cursor = info["cursor"]
        self.online = False
        self.heard_written = 0.0  # monotonic time its last contact was last written
        self.capabilities = 0  # from HELLO: OPEN_BY only to boards that say they understand it
        self.fails = 0
        self.next_poll = 0.0
        self.needs_sync = True
        self.inflight = {}  # command id -> command: outcome unknown until the journal says
        self.deferred = []  # [(not before, command)]: the board was busy and did nothing; try again
        self.occupancy = None  # {compartment: occupied} as last reported to the server (None: not yet)


class Options:
    def __init__(self, baud=19200, status_period_s=1.0, offline_after=2, offline_poll_s=2.0, reconnect_s=1.0,
                 lease_check_s=2.0, clock_tolerance_s=2, idle_wait_s=1.0, watch_s=0.2):
        self.baud = baud
        self.status_period_s = status_period_s  # how often each board is asked for STATUS
        self.offline_after = offline_after  # failed polls in a row before a board is offline
        self.offline_poll_s = offline_poll_s  # how often an offline board is tried again
        self.reconnect_s = reconnect_s
        self.lease_check_s = lease_check_s
        self.clock_tolerance_s = clock_tolerance_s
        self.idle_wait_s = idle_wait_s  # longest idle sleep (the master wakes earlier when something is due)
        self.watch_s = watch_s  # how often the worker reads its lockers' queue (commands from other processes)


class BusMaster(threading.Thread):
    def __init__(self, db, locker_id, owner, sealer, options=None, wake=None):
        super().__init__(name="link-locker-%d" % locker_id, daemon=True)
        self.db = db
        self.locker_id = locker_id
        self.owner = owner
        self.sealer = sealer
        self.opt = options or Options()
        self.wake = wake or threading.Event()
        self.stopping = threading.Event()
        self.port = None
        self.exchange = None  # hostlink.exchange.Exchange on the open port, counting into self.stats
        self._claim = True  # the queue may hold a command for us: read it (set when woken)
        self.session = None
        self.boards = {}
        self.online = None
        self.stats = {"requests": 0, "timeouts": 0, "resyncs": 0, "polls": 0, "commands": 0, "events": 0,
                      "reconnects": 0, "errors": 0, "claims": 0}

    # -- life ----------------------------------------------------------------------------------------
    def stop(self, wait=True):
        self.stopping.set()
        self.wake.set()
        if wait and self.is_alive() and threading.current_thread() is not self:
            self.join(10)

    def run(self):
        while not self.stopping.is_set():
            try:
                self._connect()
                self._serve()
            except LeaseLost:
                log.info("locker %d: lease lost, stopping", self.locker_id)
                break
            except (serial.SerialException, OSError) as exc:
                self._all_lost("port: %s" % exc)
                self.stopping.wait(self.opt.reconnect_s)
            except Exception:  # noqa: BLE001 - a bug or a database hiccup: log it, reconnect, go on
                self.stats["errors"] += 1
                log.exception("locker %d: link error", self.locker_id)
                self.stopping.wait(self.opt.reconnect_s)
            finally:
                self._close()

    def _connect(self):
        plan = link_state.locker_plan(self.db, self.locker_id, self.sealer)
        self.stats["reconnects"] += 1
        # reads never block (timeout 0); the exchange waits for bytes with select() where the port has a descriptor
        self.port = serial.serial_for_url(plan["url"], baudrate=self.opt.baud, timeout=0, write_timeout=2)
        self._claim = True
        self.session = HostSession(baud=self.opt.baud)
        self.exchange = Exchange(self.session, self.port, stats=self.stats)
        self.boards = {}
        for address, info in plan["boards"].items():
            store = link_state.DbCounterStore(self.db, info["board_id"]) if info["key"] is not None else None
            self.session.add_board(address, info["key"], store=store)
            self.boards[address] = _Board(address, info)
        # Commands a previous life of the link left 'sent': opens are resolved from the journal,
        # code changes are simply done again (they are idempotent).
        for cmd in link_commands.in_flight(self.db, self.locker_id):
            cmd["_claimed"] = time.monotonic()
            cmd["_on_wire"] = True  # it may have gone out before that life ended
            b = self.boards.get(cmd["address"])
            if b is not None:
                b.inflight[cmd["id"]] = cmd

    def _close(self):
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # noqa: BLE001 - closing a dead port may fail; it is gone either way
                pass
            self.port = None

    def _serve(self):
        lease_at = 0.0
        while not self.stopping.is_set():
            if self.wake.is_set():  # cleared before the queue is read: a wake after this is not lost
                self.wake.clear()
                self._claim = True
            now = time.monotonic()
            if now >= lease_at:
                if not link_state.holds_lease(self.db, self.owner, self.locker_id):
                    raise LeaseLost()
                lease_at = now + self.opt.lease_check_s
            busy = self._one_command() or self._deferred_due()
            self._expire_held()
            for b in self.boards.values():
                if self.stopping.is_set():
                    return
                if time.monotonic() >= b.next_poll:
                    self._poll(b)
                    busy = True
            self._locker_state()
            if not busy:
                self.wake.wait(max(0.0, min(self._next_due(lease_at), self.opt.idle_wait_s)))

    def _next_due(self, lease_at):
        """Seconds until the next poll, deferred command or lease check falls due."""
        due = [lease_at] + [b.next_poll for b in self.boards.values()]
        due += [b.deferred[0][0] for b in self.boards.values() if b.deferred and b.online]
        return min(due) - time.monotonic()

    # -- the wire ------------------------------------------------------------------------------------
    def call(self, address, msg_type, fields=None, auth=None):
        """One request, with the protocol's retries; returns its protocol.session.Result.

        The exchange (hostlink.exchange.Exchange.call) keeps the inter-frame gap, retries the very
        same bytes, and after a NAK REPLAY to a first transmission (our counter behind the board's: it
        did nothing) moves the counter up and sends the command again as a new request, once
        (PROTOCOL.md 3.3). A REPLAY to a retry or a timeout comes back as it is: the callers below
        leave an OPEN's outcome to the board's journal."""
        return self.exchange.call(address, msg_type, fields, auth)

    # -- polling -------------------------------------------------------------------------------------
    def _poll(self, b):
        self.stats["polls"] += 1
        # fixed rate: the period counts from when this poll was due (a failure reschedules sooner)
        b.next_poll = max(b.next_poll + self.opt.status_period_s, time.monotonic() + self.opt.status_period_s / 4)
        r = self.call(b.address, m.STATUS)
        if not r.ok:
            self._failed(b, "status: %s" % r.kind)
            return
        self._seen(b)
        st = r.fields
        # Events first: what the board did on its own (an offline pickup or drop-off used its code, a
        # BOOT) is applied before the codes are synced, so a used code is never installed again, and a
        # board that comes back after a reboot gets one clock set and one code sync, not two.
        events_read = False
        if st["events_pending"] or b.inflight:
            if not self._read_events(b, st):
                return
            events_read = True
        if b.needs_sync and b.has_key:
            if not self._sync(b, st):
                return
        elif b.has_key and st["time"] and abs(st["time"] - clock.unix(clock.utcnow())) > self.opt.clock_tolerance_s:
            self._set_time(b)
        if events_read:
            self._resolve_inflight(b)
        occupancy = _occupancy(st)
        if occupancy != b.occupancy:  # only a change is news (after the events: a pickup's release first)
            door_reports.occupancy_seen(self.db, b.board_id, occupancy)
            b.occupancy = occupancy

    def _seen(self, b):
        b.fails = 0
        if b.online and time.monotonic() - b.heard_written >= HEARD_WRITE_S:
            b.heard_written = time.monotonic()
            link_state.board_heard(self.db, b.board_id)
        if not b.online:
            b.online = True
            b.needs_sync = True
            hello = self.call(b.address, m.HELLO)
            if hello.ok:
                b.capabilities = hello.fields["capabilities"]
            out = link_state.board_seen(self.db, b.board_id, hello.fields if hello.ok else None)
            b.heard_written = time.monotonic()
            if out.get("replaced"):
                b.cursor = 0  # its events are stored above the old board's (board_seen moved the offset)
            log.info("locker %d board %d online %s", self.locker_id, b.address, out)

    def _failed(self, b, why):
        b.fails += 1
        if b.fails >= self.opt.offline_after and b.online:
            b.online = False
            link_state.board_lost(self.db, b.board_id, why)
            log.info("locker %d board %d offline (%s)", self.locker_id, b.address, why)
        if b.fails >= self.opt.offline_after or not b.online:
            b.next_poll = time.monotonic() + self.opt.offline_poll_s
        else:
            b.next_poll = time.monotonic()  # try again at once: one lost poll is not an outage

    def _all_lost(self, why):
        for b in self.boards.values():
            if b.online:
                b.online = False
                link_state.board_lost(self.db, b.board_id, why)
        if self.online is not False:
            self.online = False
            link_state.locker_online(self.db, self.locker_id, False)

    def _locker_state(self):
        up = any(b.online for b in self.boards.values())
        if up != self.online and (up or all(b.fails >= self.opt.offline_after for b in self.boards.values())):
            self.online = up
            link_state.locker_online(self.db, self.locker_id, up)

    # -- sync: clock and codes -----------------------------------------------------------------------
    def _set_time(self, b):
        r = self.call(b.address, m.TIME_SET, {"time": clock.unix(clock.utcnow())})
        if r.ok:
            link_state.mark_synced(self.db, b.board_id, clock_set=True)
        return r.ok

    def _sync(self, b, status):
        """After a board (re)appears: set its clock, then make its codes exactly the live ones."""
        if not self._set_time(b):
            return False
        want = link_commands.desired_codes_of_board(self.db, b.board_id)
        states = status["compartments"]
        for index, code in sorted(want.items()):
            has_code = index <= len(states) and states[index - 1] & m.ST_CODE_SET
            if code is not None:
                r = self.call(b.address, m.SET_CODE, _set_code_fields(index, code))
            elif has_code:
                r = self.call(b.address, m.CLEAR_CODE, {"compartment": index})
            else:
                continue
            if r.kind != "reply" and not (r.kind == NAK and r.nak_code != NAK_BUSY):
                return False
        if not self._sync_peers(b):
            return False
        link_state.mark_synced(self.db, b.board_id, codes=True)
        b.needs_sync = False
        return True

    def _sync_peers(self, b):
        """A board that holds its locker's other boards' codes forgets them all, then gets the live ones."""
        if not b.capabilities & m.CAP_PEER_CODES:
            return True
        for address, index, code in [(0, 0, None)] + link_commands.desired_peer_codes(self.db, self.locker_id,
                                                                                       b.board_id):
            r = self.call(b.address, m.SET_PEER_CODE, _peer_code_fields(address, index, code))
            if r.kind != "reply" and not (r.kind == NAK and r.nak_code != NAK_BUSY):
                return False
            if r.kind == "reply" and code is not None and not r.fields["held"]:
                log.warning("locker %d board %d: no room for the code of door %d-%d", self.locker_id, b.address,
                            address, index)
        return True

    def _tell_peers(self, owner, index, code):
        """A code installed on or cleared from `owner`: the other boards that hold peer codes follow.
        One that does not answer is synced in full once it does."""
        for p in self.boards.values():
            if p is owner or not p.capabilities & m.CAP_PEER_CODES or not p.has_key:
                continue
            if not p.online or p.needs_sync:
                p.needs_sync = True
                continue
            r = self.call(p.address, m.SET_PEER_CODE, _peer_code_fields(owner.address, index, code))
            if r.kind != "reply":
                p.needs_sync = True

    # -- events --------------------------------------------------------------------------------------
    def _read_events(self, b, status):
        while True:
            r = self.call(b.address, m.EVENTS, {"cursor": b.cursor, "max_count": 16}, auth=b.has_key or None)
            if not r.ok:
                self._failed(b, "events: %s" % r.kind)
                return False
            evs = r.fields["events"]
            if not evs and b.cursor and status.get("events_pending"):
                # it holds unacknowledged events but none above our cursor. Either a previous life of
                # the link stored them and died before EVENTS_ACK (the board's newest event is the one
                # stored at our cursor): acknowledge them now; or its journal started again from seq 1
                # (wiped flash, a swapped board): read it from the start.
                same = self._newest_is_stored(b)
                if same is None:
                    return False
                if same:
                    ack = self.call(b.address, m.EVENTS_ACK, {"upto": b.cursor})
                    if not ack.ok:
                        self._failed(b, "events_ack: %s" % ack.kind)
                        return False
                    break
                b.cursor = link_state.journal_restarted(self.db, b.board_id, b.cursor)
                b.needs_sync = True
                status = dict(status, events_pending=0)
                continue
            occupancy = {}
            if any(e["kind"] == m.EV_DOOR_CLOSED for e in evs):
                # what is inside now, read *after* the door closed (the STATUS that led here may be
                # older than the closing); without it the batch is read again next time
                fresh = self.call(b.address, m.STATUS)
                if not fresh.ok:
                    self._failed(b, "status after events: %s" % fresh.kind)
                    return False
                occupancy = _occupancy(fresh.fields)
            if evs:
                top = link_events.store(self.db, b.board_id, evs, occupancy)  # committed before the ACK
                self.stats["events"] += len(evs)
                if any(e["kind"] == m.EV_BOOT for e in evs):
                    b.needs_sync = True
                if b.has_key:
                    ack = self.call(b.address, m.EVENTS_ACK, {"upto": top})
                    if not ack.ok:
                        self._failed(b, "events_ack: %s" % ack.kind)
                        link_events.apply_pending(self.db, self.locker_id)
                        return False
                b.cursor = top
            if not r.fields["more"] or not evs:
                break
        link_events.apply_pending(self.db, self.locker_id)
        return True

    def _newest_is_stored(self, b):
        """Whether the board's event at our cursor is the very event stored there (True), or it has
        none there or another one (False: its journal restarted); None when the board did not answer."""
        r = self.call(b.address, m.EVENTS, {"cursor": b.cursor - 1, "max_count": 1}, auth=b.has_key or None)
        if not r.ok:
            self._failed(b, "events: %s" % r.kind)
            return None
        evs = r.fields["events"]
        return bool(evs) and evs[0]["seq"] == b.cursor and link_events.is_stored(self.db, b.board_id, evs[0])

    # -- commands ------------------------------------------------------------------------------------
    def _one_command(self):
        if not self._claim:
            return False  # nothing was enqueued since the queue was last found empty
        self.stats["claims"] += 1
        cmd = link_commands.claim_next(self.db, self.locker_id, self.owner)
        if cmd is None:
            self._claim = False
            return False
        cmd["_claimed"] = time.monotonic()
        self.stats["commands"] += 1
        b = self.boards.get(cmd["address"])
        if b is None or not b.has_key:
            link_commands.finish(self.db, cmd["id"], "failed", "no_such_board" if b is None else "board_not_keyed")
            return True
        if not b.online:
            b.inflight[cmd["id"]] = cmd  # done when the board is back, if still wanted then
            return True
        self._execute(b, cmd)
        return True

    def _expire_held(self):
        """Opens held back, never sent (their board was offline or busy), fail at their deadline: the
        person's page says so then, and the door does not open later when the board is back."""
        for b in self.boards.values():
            for cid, cmd in list(b.inflight.items()):
                if cmd["kind"] == "open" and not cmd.get("_on_wire") and not link_commands.open_is_fresh(_aged(cmd)):
                    b.inflight.pop(cid, None)
                    link_commands.finish(self.db, cid, "failed",
                                         "expired:board_offline" if not b.online else "expired:not_sent")
            for entry in list(b.deferred):
                cmd = entry[1]
                if cmd["kind"] == "open" and not link_commands.open_is_fresh(_aged(cmd)):
                    b.deferred.remove(entry)
                    b.inflight.pop(cmd["id"], None)
                    link_commands.finish(self.db, cmd["id"], "failed", "busy_until_expired")

    def _deferred_due(self):
        now = time.monotonic()
        for b in self.boards.values():
            if b.deferred and b.online and b.deferred[0][0] <= now:
                _at, cmd = b.deferred.pop(0)
                state, _result = link_commands.state_of(self.db, cmd["id"])
                if state != "sent":
                    # ended meanwhile (a board's own offline drop-off superseded this open, a firmware
                    # update given up on): what was held back never goes out
                    b.inflight.pop(cmd["id"], None)
                    return True
                if cmd["kind"] == "open" and not link_commands.open_is_fresh(_aged(cmd)):
                    link_commands.finish(self.db, cmd["id"], "failed", "busy_until_expired")
                    return True
                self._execute(b, cmd)
                return True
        return False

    def _defer(self, b, cmd):
        b.deferred.append((time.monotonic() + BUSY_RETRY_S, cmd))
        b.deferred.sort(key=lambda d: d[0])

    def _execute(self, b, cmd):
        if cmd["kind"] == "open":
            self._open(b, cmd)
        elif cmd["kind"] == "config":
            self._config(b, cmd)
        elif cmd["kind"] == "firmware":
            firmware_job.execute(self, b, cmd)  # a slice at a time, resumed from b.deferred
        elif cmd["kind"] == "commission":
            commission_job.execute(self, b, cmd)  # a reading at a time, resumed from b.deferred
        else:
            self._code(b, cmd)

    def _open(self, b, cmd):
        if not link_commands.open_is_fresh(_aged(cmd)):
            # checked before every transmission: for a board without OPEN_BY this is the only guard
            b.inflight.pop(cmd["id"], None)
            link_commands.finish(self.db, cmd["id"], "failed", "expired:not_sent")
            return
        fields = {"compartment": cmd["index"], "reason": REASONS.get(cmd["purpose"], m.REASON_OPERATOR),
                  "reference": cmd["id"]}
        msg = m.OPEN
        if b.capabilities & m.CAP_OPEN_DEADLINE and cmd.get("deadline"):
            msg = m.OPEN_BY
            fields["deadline"] = cmd["deadline"] & 0xFFFFFFFF
        cmd["_on_wire"] = True  # from here the board may have it: only its reply or journal can say
        try:
            r = self.call(b.address, msg, fields)
        except LocalProtocolError as exc:
            link_commands.finish(self.db, cmd["id"], "failed", "link_error:%s" % exc)
            return
        if r.ok and r.fields["result"] == m.OPEN_REFUSED and r.fields["detail"] == m.REFUSE_BUSY:
            self._defer(b, cmd)  # nothing was pulsed: the same open goes out again as a new request
            return
        if r.kind == NAK and r.nak_code == NAK_BUSY:
            self._defer(b, cmd)
            return
        if r.ok:
            res = r.fields["result"]
            link_commands.finish(self.db, cmd["id"], "done" if res in OK_RESULTS else "failed",
                                 link_events.result_name(res, r.fields["detail"]))
            b.inflight.pop(cmd["id"], None)
            return
        if r.kind == NAK and not r.maybe_executed and r.nak_code != NAK_REPLAY:
            link_commands.finish(self.db, cmd["id"], "failed", "nak:%s" % nak_name(r.nak_code).lower())
            b.inflight.pop(cmd["id"], None)
            return
        # Timeout, or a retry answered REPLAY: the board may have opened. Its journal will tell.
        b.inflight[cmd["id"]] = cmd
        if r.kind != NAK:
            self._failed(b, "open: %s" % r.kind)

    def _code(self, b, cmd):
        code = link_commands.desired_code(self.db, cmd["compartment_id"])
        if code is not None:
            r = self.call(b.address, m.SET_CODE, _set_code_fields(cmd["index"], code))
            result = "installed"
        else:
            r = self.call(b.address, m.CLEAR_CODE, {"compartment": cmd["index"]})
            result = "cleared"
        if r.ok:
            link_commands.finish(self.db, cmd["id"], "done", result)
            b.inflight.pop(cmd["id"], None)
            self._tell_peers(b, cmd["index"], code)
        elif r.kind == NAK and r.nak_code not in (NAK_REPLAY, NAK_BUSY):
            link_commands.finish(self.db, cmd["id"], "failed", "nak:%s" % nak_name(r.nak_code).lower())
            b.inflight.pop(cmd["id"], None)
        else:
            b.inflight[cmd["id"]] = cmd  # idempotent: simply done again once the board answers
            if r.kind != NAK:
                self._failed(b, "code: %s" % r.kind)

    def _config(self, b, cmd):
        """CONFIG_SET, authenticated like every write; the session retries the very same frame (same
        seq and counter), so a board that already applied it answers from its replay cache. A board
        that refuses (bad key or value) changed nothing: the command fails with the NAK."""
        items = (cmd["payload"] or {}).get("items") or []
        try:
            r = self.call(b.address, m.CONFIG_SET, {"items": items})
        except LocalProtocolError as exc:
            link_commands.finish(self.db, cmd["id"], "failed", "link_error:%s" % exc)
            return
        if r.ok:
            link_commands.finish(self.db, cmd["id"], "done", "applied:%d" % r.fields["applied"])
            b.inflight.pop(cmd["id"], None)
        elif r.kind == NAK and r.nak_code not in (NAK_REPLAY, NAK_BUSY):
            link_commands.finish(self.db, cmd["id"], "failed", "nak:%s" % nak_name(r.nak_code).lower())
            b.inflight.pop(cmd["id"], None)
        else:
            # unknown outcome: setting the same values again is harmless, so it is done once the board
            # answers (its CONFIG_CHANGED events tell what was applied meanwhile)
            b.inflight[cmd["id"]] = cmd
            if r.kind != NAK:
                self._failed(b, "config: %s" % r.kind)

    def _resolve_inflight(self, b):
        """Every event of the board is stored and applied now, so an OPEN that ran has resolved its
        command through its OPEN_RESULT; one still open never ran, and may go out as a new request."""
        for cid, cmd in sorted(b.inflight.items()):
            if not b.online:
                return
            state, _result = link_commands.state_of(self.db, cid)
            if state in ("done", "failed", None):
                b.inflight.pop(cid, None)
                continue
            if cmd["kind"] == "open":
                if not link_commands.open_is_fresh(_aged(cmd)):
                    link_commands.finish(self.db, cid, "failed", "not_executed:board_unreachable")
                    b.inflight.pop(cid, None)
                    continue
                link_commands.retry_later(self.db, cid, self.owner)
            b.inflight.pop(cid, None)
            self._execute(b, cmd)


def _aged(cmd):
    """The command's age and time left now (the dict was taken when it was claimed)."""
    if "_claimed" not in cmd:
        return cmd
    spent = time.monotonic() - cmd["_claimed"]
    out = dict(cmd, age_s=cmd["age_s"] + spent)
    if "left_s" in cmd:
        out["left_s"] = cmd["left_s"] - spent
    return out


def _occupancy(status):
    """{compartment number: occupied} for compartments with a working occupancy sensor."""
    out = {}
    for i, st in enumerate(status["compartments"]):
        if not st & m.ST_NO_OCCUPANCY_SENSOR and not st & m.ST_FAULT_OCCUPANCY:
            out[i + 1] = bool(st & m.ST_OCCUPIED)
    return out


def _peer_code_fields(address, index, code):
    """SET_PEER_CODE: another board's code, or (code None) forget it; address 0 forgets them all."""
    if code is None:
        return {"board": address, "compartment": index, "kind": 0, "salt": bytes(8), "code_hash": bytes(16),
                "expiry": 0}
    return dict(_set_code_fields(index, code), board=address)


def _set_code_fields(index, code):
    """SET_CODE for a live code (link_commands.desired_code): a send's drop-off code goes as kind
    CODE_DROPOFF, so the board journals DROPOFF_OFFLINE when it opens the door with it."""
    kind = m.CODE_DROPOFF if code.get("purpose") == "dropoff" else m.CODE_PICKUP
    return {"compartment": index, "kind": kind, "salt": code["salt"], "code_hash": code["hash"],
            "expiry": code["expires"] & 0xFFFFFFFF}
