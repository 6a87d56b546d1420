"""A blocking request/reply helper for one board over a pyserial URL: a port of its own, and the host's
one exchange loop on it (hostlink.exchange: inter-frame gap, the session's retries, REPLAY resync
at most once).

The link workers own the bus in production; firmware flashing uses this small helper so that
`cunbox flash` works on its own, from a maintainer's laptop, on a USB RS-485 adapter or a 4G
bridge (socket://, rfc2217://).
"""
import time

import serial

from hostlink.exchange import POLL_S, Exchange, LinkError, MaybeExecuted, NakReply, changes_state, result_fields
from protocol import messages as m
from protocol.session import HostSession

__all__ = ["Link", "LinkError", "MaybeExecuted", "NakReply"]


class Link:
    def __init__(self, url, address, key, baud=9600, counter=0, read_timeout=POLL_S, store=None):
        """store: a protocol counter store (e.g. the link's link_state.DbCounterStore); with it the
        counter continues above every one the locker link may have used towards this board.
        read_timeout: how often a port without a descriptor (rfc2217://) is read while waiting."""
        self.url = url
        self.address = address
        self.baud = baud
        self.read_timeout = read_timeout
        self.session = HostSession(baud=baud)
        self.session.add_board(address, key, counter=None if store is not None else counter, store=store)
        self.port = None
        self.exchange = None
        self.reconnects = 0

    def open(self):
        self.close()
        try:
            # reads never block: the exchange waits for the reply with select() up to the session's deadline
            self.port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.port = None
            raise LinkError("cannot open %s: %s" % (self.url, exc)) from None
        self.session.cancel()
        self.exchange = Exchange(self.session, self.port, poll_s=self.read_timeout)

    def close(self):
        if self.port is not None:
            try:
                self.port.close()
            except (serial.SerialException, OSError):
                pass
            self.port = None

    def reconnect(self, attempts=20, pause=0.25, settle=0.2):
        """Reopen the port (a dropped 4G link, an unplugged adapter) until it opens again; first wait
        `settle` seconds, so a board that is restarting is not asked again at once."""
        self.reconnects += 1
        time.sleep(settle)
        for _ in range(attempts):
            try:
                self.open()
                return
            except LinkError:
                time.sleep(pause)
        raise LinkError("cannot reopen %s" % self.url)

    def call(self, msg_type, fields=None, auth=None):
        """Send one request and wait for its reply. Returns the reply fields; raises NakReply (the board
        refused and did nothing), MaybeExecuted (a state-changing request whose reply was lost) or
        LinkError (no answer, or the port failed). A REPLAY NAK to a first transmission (our counter
        behind the board's) moves the counter up and sends the request again, once."""
        if self.port is None:
            self.open()
        try:
            r = self.exchange.call(self.address, msg_type, fields, auth)
        except (serial.SerialException, OSError) as exc:
            self.close()
            what = "link to %s failed: %s" % (self.url, exc)
            if self.exchange.on_wire and changes_state(msg_type):
                raise MaybeExecuted("%s during %s (it may have run)" % (what, m.type_name(msg_type))) from None
            raise LinkError(what) from None
        return result_fields(r)
