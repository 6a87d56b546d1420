"""A firmware command of the queue, executed by the locker's BusMaster over its own port and session.

The update itself is server/firmware_delivery/flasher.py's Flasher, talking through BusLink (the bus master's
`call`) instead of a port of its own. Its `steps()` generator yields after every FW_CHUNK, so the
master runs it a slice at a time (SLICE_S of bus time) and puts it back on the board's deferred list
between slices: door opens queued meanwhile go first, and the other boards are polled, between
slices. At 115200 baud a slice is about 20 chunks; a door open waits at most one slice plus its own
exchange.

At most once: a command whose outcome is unknown (the board stopped answering, the link or the
server restarted) is not flashed again from the start. It stays 'sent', and once the board answers
again a new Flasher in resume mode asks it where it stands (HELLO version, FW_STATUS): a transfer
of the same size continues from the board's offset, a committed image is rebooted into, a board on
trial with the new version is confirmed, a board already running it is done.
"""
import logging
import time

from hostlink.exchange import LinkError, NakReply, result_fields
from server.firmware_delivery import queue
from server.firmware_delivery.flasher import Flasher, FlashError

log = logging.getLogger("cunbox.link")

SLICE_S = 0.5  # bus time one firmware command may take before the master's other work gets a turn


class Suspended(Exception):
    """The board stopped answering mid-update: the command waits (still 'sent') until it answers again.
    Not a LinkError, so the Flasher does not retry on its own while the bus has other boards."""


class BusLink:
    """The Flasher's link, on the bus master's open port and HostSession (its exchange: counters,
    retries, inter-frame gap, REPLAY resync). Its results are read as server/firmware_delivery/link.py's
    Link reads its own (hostlink.exchange.result_fields: fields, NakReply, MaybeExecuted, LinkError).
    `reconnect` cannot reopen anything here: it suspends the update instead."""

    def __init__(self, master, address):
        self.master = master
        self.address = address

    def call(self, msg_type, fields=None, auth=None):
        return result_fields(self.master.call(self.address, msg_type, fields, auth))

    def reconnect(self, attempts=None, pause=None, settle=None):
        raise Suspended("board %d stopped answering" % self.address)


def execute(master, b, cmd):
    """Run (or go on with) one firmware command for board b; BusMaster._execute calls this."""
    work = cmd.get("_fw")
    if work is None:
        plan = queue.job(master.db, cmd["id"])
        if plan is None:
            b.inflight.pop(cmd["id"], None)  # final already
            return
        if "missing" in plan:
            _finish(master, b, cmd, False, error="no %s" % plan["missing"])
            return
        flasher = Flasher(BusLink(master, b.address), plan["image"], resume=True,
                          log=lambda msg: log.info("locker %d board %d firmware: %s", master.locker_id, b.address,
                                                   msg))
        work = cmd["_fw"] = {"flasher": flasher, "steps": flasher.steps(), "started": time.monotonic()}
        log.info("locker %d board %d: firmware %s, command %d", master.locker_id, b.address, plan["version"],
                 cmd["id"])
    end = time.monotonic() + SLICE_S
    try:
        while True:
            pause = next(work["steps"])
            if pause or time.monotonic() >= end:
                # back on the board's deferred list: the master's next passes run queued commands and
                # polls first, then this again (due after `pause`)
                b.deferred.append((time.monotonic() + pause, cmd))
                b.deferred.sort(key=lambda d: d[0])
                return
    except StopIteration as done:
        _finish(master, b, cmd, True, version=done.value)
    except Suspended as exc:
        cmd.pop("_fw", None)  # the next try asks the board where it stands
        b.inflight[cmd["id"]] = cmd  # resolved (run again, resuming) once the board answers a poll
        master._failed(b, "firmware: %s" % exc)
    except FlashError as exc:
        _finish(master, b, cmd, False, version=exc.board_version, error=str(exc))
    except (LinkError, NakReply) as exc:
        _finish(master, b, cmd, False, error="link: %s" % exc)


def _finish(master, b, cmd, ok, version=None, error=None):
    cmd.pop("_fw", None)
    b.inflight.pop(cmd["id"], None)
    queue.finished(master.db, cmd["id"], ok, version=version, error=error)
    log.info("locker %d board %d: firmware command %d %s", master.locker_id, b.address, cmd["id"],
             "done: %s" % version if ok else "failed: %s" % error)
