# The firmware-update messages of the wire protocol (FW_STATUS, FW_BEGIN, FW_CHUNK, FW_COMMIT,
# FW_CONFIRM; PROTOCOL.md section 4) mapped onto the board's Updater (updater.py).
#
# As the spec says: FW_BEGIN restarts the transfer; FW_CHUNK continues it (also after a reboot: the
# staging and its offset are on flash), a gap gets NAK BAD_STATE with detail = received; FW_CHUNK or
# FW_COMMIT with nothing begun gets NAK BAD_STATE. A refusal the spec has a value for uses it (FW_COMMIT
# results SIZE_MISMATCH, HASH_MISMATCH, WRITE_ERROR); every other refusal is a NAK (BAD_PAYLOAD for
# the image, BUSY) whose detail is one of REFUSAL_CODES below, so the host can name the reason (bad
# signature, wrong board family, downgrade, ...).
#
# FW_BEGIN's version string may end in "!": the maintainer explicitly allows a downgrade.
from firmware import events as ev
from firmware import update_image
from firmware.compat import ticks_add
from firmware.updater import Updater
from protocol import PROTOCOL_VERSION
from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_BAD_STATE, NAK_BUSY, NakError

# Refusal code (update_image.ImageError.code) <-> NAK detail value. Append only: hosts decode these.
REFUSAL_CODES = {"magic": 1, "format": 2, "header": 3, "length": 4, "signature": 5, "manifest": 6, "hash": 7,
                 "family": 8, "protocol": 9, "mpy": 10, "downgrade": 11, "busy": 12, "size": 13, "offset": 14,
                 "state": 15, "flash": 16, "selftest": 17, "key": 18, "untrusted": 19}
REFUSAL_NAMES = {}
for _name in REFUSAL_CODES:
    REFUSAL_NAMES[REFUSAL_CODES[_name]] = _name

_COMMIT_RESULTS = {"size": m.FW_SIZE_MISMATCH, "length": m.FW_SIZE_MISMATCH, "hash": m.FW_HASH_MISMATCH,
                   "state": m.FW_SIZE_MISMATCH, "flash": m.FW_WRITE_ERROR}
FW_TYPES = (m.FW_STATUS, m.FW_BEGIN, m.FW_CHUNK, m.FW_COMMIT, m.FW_CONFIRM)
_STATES = {"idle": m.FW_IDLE, "receiving": m.FW_RECEIVING, "ready": m.FW_READY, "testing": m.FW_TESTING}


def _nak(exc, code=NAK_BAD_STATE):
    if exc.code in ("signature", "manifest", "magic", "format", "header", "family", "protocol", "mpy",
                    "downgrade", "hash", "length", "key", "size", "untrusted"):
        code = NAK_BAD_PAYLOAD
    elif exc.code == "busy":
        code = NAK_BUSY
    return NakError(code, REFUSAL_CODES.get(exc.code, 0), exc.message)


def default_checks(app):
    """The self-test a new version must pass before it confirms: doors, locks, journal. The link is
    proven by the authenticated FW_CONFIRM that runs it."""
    def doors():
        for i in range(len(app.doors)):
            app.doors.active(i)
        return len(app.doors) > 0

    def locks():
        h = getattr(app.locks, "healthy", None)
        return (h() if h is not None else True) and app.healthy(app.clock.ms())

    def journal():
        return app.journal.last_seq() > 0 and app.journal.can_append(True)  # BOOT was journaled

    return {"doors": doors, "locks": locks, "journal": journal, "link": lambda: True}


class FwHandler:
    TYPES = FW_TYPES  # what the protocol server hands to handle()

    def __init__(self, updater, checks=None, emit=None, reset=None, busy=None):
        self.updater = updater
        self.busy = busy  # callable: True while a door is mid-operation (no install, no reboot then)
        self.checks = checks or {}
        self.emit = emit  # emit(kind, data) -> journal an event, or None
        self.reset = reset  # called to reboot after a failed self-test, or None

    def running_version(self):
        return self.updater.running_version() or "unknown"

    def handle(self, t, f):
        try:
            if t == m.FW_STATUS:
                return self._status()
            if t == m.FW_BEGIN:
                return self._begin(f)
            if t == m.FW_CHUNK:
                return self._chunk(f)
            if t == m.FW_COMMIT:
                return self._commit()
            if t == m.FW_CONFIRM:
                return self._confirm()
        except update_image.ImageError as exc:
            raise _nak(exc) from None
        raise NakError(NAK_BAD_STATE, 0, "not a firmware message")

    def _status(self):
        st = self.updater.status()
        return {"state": _STATES.get(st["state"], m.FW_IDLE), "size": st["total"], "received": st["offset"],
                "running_version": self.running_version()[:32]}

    def _begin(self, f):
        version = f["version"]
        allow = version.endswith("!")
        if allow:
            version = version[:-1]
        try:
            claimed = update_image.parse_version(version)
        except update_image.ImageError as exc:
            raise NakError(NAK_BAD_PAYLOAD, REFUSAL_CODES["manifest"], exc.message) from None
        current = self.updater.running_version()
        if not allow and current is not None and claimed <= update_image.parse_version(current):
            # Refused before a byte is sent; the signed manifest is checked again once it arrives.
            raise update_image.ImageError("downgrade",
                                          "version %s is not newer than the running %s" % (version, current))
        self.updater.begin(f["size"], update_image.hexlify(f["sha256"]), allow, resume=False)
        return {"chunk_size": m.FW_CHUNK_MAX}

    def _chunk(self, f):
        try:
            return {"received": self.updater.write(f["offset"], f["data"])}
        except update_image.ImageError as exc:
            if exc.code == "offset":  # a gap: the host resends from what is contiguous
                raise NakError(NAK_BAD_STATE, self.updater.status()["offset"], exc.message) from None
            if exc.code == "state":
                raise NakError(NAK_BAD_STATE, 0, exc.message) from None
            raise

    def _commit(self):
        if self.updater.status()["total"] == 0:
            raise NakError(NAK_BAD_STATE, 0, "no FW_BEGIN: nothing to commit")
        if self.busy is not None and self.busy():
            raise NakError(NAK_BUSY, REFUSAL_CODES["busy"], "a door is mid-operation; commit again shortly")
        try:
            self.updater.commit()
        except update_image.ImageError as exc:
            if exc.code in _COMMIT_RESULTS:
                return {"result": _COMMIT_RESULTS[exc.code]}
            raise
        return {"result": m.FW_OK}

    def _confirm(self):
        st = self.updater.status()
        if st["state"] != "testing":
            return {"state": _STATES.get(st["state"], m.FW_IDLE)}
        ok, failures = self.updater.confirm_if_healthy(self.checks)
        if ok:
            if self.emit is not None:
                self.emit(m.EV_FW_UPDATED, m.encode_event_data(m.EV_FW_UPDATED,
                                                               {"version": self.running_version()[:15]}))
            return {"state": m.FW_IDLE}
        # FW_ROLLBACK is journaled by the previous version when it boots (attach), for every kind of rollback
        if self.reset is not None:
            self.reset()  # into the old version, after this reply has gone out
        raise NakError(NAK_BAD_STATE, REFUSAL_CODES["selftest"], "self-test failed: " + ", ".join(failures))


def attach(server, app, cfg, root="/", fs=None, mpy_version=None):
    """Give a BusServer its firmware-update handler when the board config names the public keys it
    trusts to sign firmware ("fw_pubkeys": [64 hex digits, ...], "family": ...). Returns the handler, or
    None (no keys: no updates)."""
    keys = [update_image.parse_key(k) for k in cfg.get("fw_pubkeys", [])]
    if not keys:
        return None
    up = Updater(root, keys, cfg.get("family", ""), protocol_version=PROTOCOL_VERSION, fs=fs,
                 mpy_version=mpy_version, tick=lambda: app.feed(app.clock.ms()))

    def emit(kind, data):
        app.emit(kind, ev.BOARD, data)

    def reset_soon():
        # the same path as a REBOOT command: the reply goes out first, then the board resets
        server._reboot_at = ticks_add(app.clock.ms(), 100)

    handler = FwHandler(up, default_checks(app), emit, reset_soon, busy=lambda: bool(app.ops))
    server.fw = handler
    if up.first_trial_boot():
        app.reset_cause = m.RESET_FW_UPDATE  # HELLO tells the host this is the new version's first boot
    rejected = up.rollback_notice()
    if rejected is not None:
        emit(m.EV_FW_ROLLBACK, m.encode_event_data(m.EV_FW_ROLLBACK, {"version": rejected[:15]}))
    return handler
