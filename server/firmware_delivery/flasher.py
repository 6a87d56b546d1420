"""Update one board over its own link: FW_BEGIN, FW_CHUNK... (resumed through FW_STATUS after a
dropped link or a board that lost power), FW_COMMIT, REBOOT, wait for HELLO, FW_CONFIRM.

Every refusal is reported with its reason (the NAK detail codes of firmware/update_handler.py), and
the board keeps running its old version whenever the update does not complete.
"""
import hashlib
import time

from firmware import update_image
from firmware.update_handler import REFUSAL_NAMES
from hostlink.exchange import LinkError, NakReply
from protocol import messages as m
from protocol.errors import NAK_BAD_STATE, NAK_BUSY, nak_name

COMMIT_RESULTS = {m.FW_SIZE_MISMATCH: "size mismatch", m.FW_HASH_MISMATCH: "hash mismatch (a chunk was corrupted)",
                  m.FW_NO_IMAGE: "no image staged", m.FW_WRITE_ERROR: "flash write error"}
STATE_NAMES = {m.FW_IDLE: "idle", m.FW_RECEIVING: "receiving", m.FW_READY: "ready", m.FW_TESTING: "testing"}


class FlashError(Exception):
    """The update did not happen; `reason` says why, `board_version` what the board still runs."""

    def __init__(self, reason, board_version=None):
        super().__init__(reason + ("" if board_version is None else " (board runs %s)" % board_version))
        self.reason = reason
        self.board_version = board_version


def describe_nak(exc):
    name = REFUSAL_NAMES.get(exc.detail)
    if name is not None:
        return "%s (%s)" % (name, nak_name(exc.code))
    return "%s, detail %d" % (nak_name(exc.code), exc.detail)


class Progress:
    """Bytes, rate and time left for the progress bar."""

    def __init__(self, total, start_offset=0, clock=time.monotonic):
        self.total = total
        self.clock = clock
        self.started = clock()
        self.start_offset = start_offset
        self.done = start_offset

    def update(self, done):
        self.done = done

    @property
    def rate(self):
        elapsed = self.clock() - self.started
        sent = self.done - self.start_offset
        return sent / elapsed if elapsed > 0 and sent > 0 else 0.0

    @property
    def eta(self):
        r = self.rate
        return (self.total - self.done) / r if r > 0 else None


def _manifest_version(image):
    mlen = int.from_bytes(image[8:12], "big")
    import json
    return json.loads(image[update_image.HEADER_SIZE:update_image.HEADER_SIZE + mlen])["version"]


class Flasher:
    """One board's update over a link object: `address`, `call(msg_type, fields, auth)` returning the
    reply's fields or raising NakReply / LinkError (MaybeExecuted), and `reconnect(attempts=...)`.
    server/firmware_delivery/link.py's Link (a port of its own, `cunbox flash`) and the locker link's
    server/link/firmware_job.py BusLink (the bus master's port and session) both are one; both read
    their results with hostlink.exchange.result_fields, so they raise alike.

    resume: the update may have been begun by an earlier run whose outcome is unknown (a command the
    locker link left unfinished): the board is asked where it stands and the update continues from
    there (a staged transfer of the same size goes on from its offset, a committed one is rebooted
    into, a board already on the version is done) instead of starting over."""

    def __init__(self, link, image, allow_downgrade=False, on_progress=None, log=None, max_link_failures=20,
                 boot_wait_s=30.0, clock=time.monotonic, resume=False):
        self.link = link
        self.image = image
        self.version = _manifest_version(image)
        self.sha256 = hashlib.sha256(image).digest()
        self.allow_downgrade = allow_downgrade
        self.on_progress = on_progress or (lambda progress: None)
        self.log = log or (lambda msg: None)
        self.max_link_failures = max_link_failures
        self.boot_wait_s = boot_wait_s
        self.clock = clock
        self.resume = resume
        self.link_failures = 0
        self.resumes = 0
        self.resume_offsets = []
        self.before = None
        self.after_hello = None
        self.chunk = m.FW_CHUNK_MAX
        self._staged_by_other_run = False  # resumed a staging we did not begin ourselves (resume=True)

    # --- helpers ---
    def _call(self, msg_type, fields=None, auth=None):
        """One request; a dropped link is reopened and reported to the caller as LinkError."""
        try:
            return self.link.call(msg_type, fields, auth)
        except LinkError:
            self.link_failures += 1
            if self.link_failures > self.max_link_failures:
                raise FlashError("link lost: board %d stopped answering" % self.link.address,
                                 self.before) from None
            self.link.reconnect()
            raise

    def _retrying(self, msg_type, fields=None, auth=None):
        while True:
            try:
                return self._call(msg_type, fields, auth)
            except LinkError:
                continue

    def _refused(self, exc, what):
        raise FlashError("%s refused: %s" % (what, describe_nak(exc)), self._running_version()) from None

    def _running_version(self):
        try:
            return self.link.call(m.FW_STATUS)["running_version"]
        except (LinkError, NakReply):
            return None

    # --- the update ---
    def run(self):
        """The whole update, blocking; returns the version the board confirmed."""
        steps = self.steps()
        while True:
            try:
                pause = next(steps)
            except StopIteration as done:
                return done.value
            if pause:
                time.sleep(pause)

    def steps(self):
        """The update as a generator, for a caller that shares the bus with other work: it yields
        after every FW_CHUNK (0: go on whenever you like) and while it waits (the seconds to wait
        before resuming it), and returns the version the board confirmed. Raises FlashError."""
        hello = self._retrying(m.HELLO)
        self.before = hello["fw_version"]
        self.log("board %d runs %s (protocol %d)" % (self.link.address, self.before, hello["protocol_version"]))
        st = self._retrying(m.FW_STATUS)
        if st["state"] == m.FW_TESTING and st["running_version"] == self.version:
            self.log("version %s is already running on trial; confirming" % self.version)
            return self._confirm()
        if self.resume:
            if st["state"] == m.FW_IDLE and st["running_version"] == self.version:
                self.log("board already runs %s, confirmed" % self.version)
                return self.version
            if st["state"] == m.FW_READY:
                self.log("an update is installed and waits for the reboot; rebooting into it")
                return (yield from self._reboot_and_confirm())
            if st["state"] == m.FW_RECEIVING and st["size"] == len(self.image):
                self.resumes += 1
                self.resume_offsets.append(st["received"])
                self._staged_by_other_run = True
                self.log("board holds %d of %d bytes of an image this size; resuming" % (st["received"],
                                                                                      len(self.image)))
                yield from self._send(self.chunk, st["received"])
                yield from self._commit()
                return (yield from self._reboot_and_confirm())
        if st["state"] in (m.FW_TESTING, m.FW_READY):
            raise FlashError("board is busy with another update (state %s)" % STATE_NAMES[st["state"]], self.before)
        chunk = self._begin()
        yield from self._send(chunk)
        yield from self._commit()
        return (yield from self._reboot_and_confirm())

    def _begin(self):
        version = self.version + ("!" if self.allow_downgrade else "")
        try:
            reply = self._retrying(m.FW_BEGIN, {"size": len(self.image), "sha256": self.sha256, "version": version})
        except NakReply as exc:
            self._refused(exc, "update")
        self._staged_by_other_run = False
        return reply["chunk_size"]

    def _status(self):
        return self._retrying(m.FW_STATUS)

    def _send(self, chunk, offset=0):
        """Send from `offset` (0 right after FW_BEGIN, which restarts the transfer) to the end,
        yielding after every chunk."""
        self.chunk = chunk
        progress = Progress(len(self.image), offset, self.clock)
        self.progress = progress
        self.on_progress(progress)
        total = len(self.image)
        while offset < total:
            try:
                reply = self._call(m.FW_CHUNK, {"offset": offset, "data": self.image[offset:offset + chunk]})
            except LinkError:
                offset = self._resync(chunk)
                continue
            except NakReply as exc:
                if exc.code == NAK_BAD_STATE:  # a gap (detail = received) or staging lost: ask, go on
                    offset = self._resync(chunk)
                    continue
                self._refused(exc, "image")
            offset = reply["received"]
            progress.update(offset)
            self.on_progress(progress)
            yield 0

    def _resync(self, chunk):
        """After a dropped link or a board reset: where does the board stand? The staging and its offset
        survive on the board's flash, so FW_CHUNK simply continues from `received` (FW_BEGIN would
        restart the transfer)."""
        st = self._status()
        if st["state"] == m.FW_RECEIVING and st["size"] == len(self.image):
            self.resumes += 1
            self.resume_offsets.append(st["received"])
            self.log("link back; board has %d of %d bytes, resuming" % (st["received"], len(self.image)))
            return st["received"]
        self.log("board restarted the transfer (state %s)" % STATE_NAMES.get(st["state"], st["state"]))
        self._begin()
        return self._status()["received"]

    def _commit(self):
        busy_waits = 0
        while True:
            try:
                reply = self._call(m.FW_COMMIT)
            except LinkError:
                st = self._status()
                if st["state"] in (m.FW_READY, m.FW_TESTING):
                    return
                if st["state"] == m.FW_RECEIVING and st["size"] == len(self.image):
                    yield from self._send(self.chunk, st["received"])  # nothing left to send if it was complete
                    continue
                yield from self._send(self._begin())
                continue
            except NakReply as exc:
                if exc.code == NAK_BAD_STATE:  # the board holds nothing begun: start over
                    yield from self._send(self._begin())
                    continue
                if exc.code == NAK_BUSY and REFUSAL_NAMES.get(exc.detail) == "busy" and busy_waits < 60:
                    busy_waits += 1  # a door is mid-operation: the board installs once it is done
                    yield 0.5
                    continue
                self._refused(exc, "image")
            if reply["result"] == m.FW_HASH_MISMATCH and self._staged_by_other_run:
                # the staging we resumed was another image of the same size (the board cleared it): start over
                self.log("the staged image was not this one; sending it again from the start")
                yield from self._send(self._begin())
                continue
            if reply["result"] != m.FW_OK:
                raise FlashError("image refused at commit: %s" % COMMIT_RESULTS.get(reply["result"], reply["result"]),
                                 self._running_version())
            return

    def _reboot_and_confirm(self):
        try:
            self._call(m.REBOOT, {"delay_ms": 100})
        except LinkError:
            pass  # it may have rebooted already (power cut): the HELLO below tells
        deadline = self.clock() + self.boot_wait_s
        hello = None
        while self.clock() < deadline:
            yield 0.2
            try:
                hello = self.link.call(m.HELLO)
                break
            except LinkError:
                try:
                    self.link.reconnect(attempts=2)
                except LinkError:
                    pass
        if hello is None:
            raise FlashError("board did not come back within %.0f s after the reboot" % self.boot_wait_s)
        self.after_hello = hello
        if hello["fw_version"] != self.version:
            raise FlashError("board came back on %s, not %s (it rolled back)" % (hello["fw_version"], self.version),
                             hello["fw_version"])
        return self._confirm()

    def _confirm(self):
        try:
            self._retrying(m.FW_CONFIRM)
        except NakReply as exc:
            raise FlashError("new version failed its self-test and rolled back: %s" % describe_nak(exc),
                             None) from None
        return self._retrying(m.FW_STATUS)["running_version"]


def read_image(path, keys=None):
    with open(path, "rb") as f:
        data = f.read()
    if keys:
        import io
        update_image.verify_image(io.BytesIO(data), len(data), keys)
    return data
