"""A blocking request/reply helper for one board over a pyserial URL, on protocol.session.HostSession.

The link workers own the bus in production; firmware flashing uses this small helper so that
`cunbox flash` works on its own, from a maintainer's laptop, on a USB RS-485 adapter or a 4G
bridge (socket://, rfc2217://).
"""
import time

import serial

from protocol import messages as m
from protocol.errors import NAK_REPLAY
from protocol.session import NAK, REPLY, TIMEOUT, HostSession


class LinkError(Exception):
    """The board did not answer (timeout after retries, or the port failed)."""


class MaybeExecuted(LinkError):
    """A retry met REPLAY: the board took an earlier copy and then lost its reply cache (it restarted).
    The request may or may not have run; ask the board where it stands."""


class NakReply(Exception):
    def __init__(self, result):
        super().__init__("NAK %d detail %d to %s" % (result.nak_code, result.nak_detail, m.type_name(result.msg_type)))
        self.code = result.nak_code
        self.detail = result.nak_detail


class Link:
    def __init__(self, url, address, key, baud=9600, counter=0, read_timeout=0.005, store=None):
        """store: a protocol counter store (e.g. the link's link_state.DbCounterStore); with it the
        counter continues above every one the locker link may have used towards this board."""
        self.url = url
        self.address = address
        self.baud = baud
        self.read_timeout = read_timeout
        self.session = HostSession(baud=baud)
        self.session.add_board(address, key, counter=None if store is not None else counter, store=store)
        self.port = None
        self.reconnects = 0

    def open(self):
        self.close()
        try:
            self.port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=self.read_timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            self.port = None
            raise LinkError("cannot open %s: %s" % (self.url, exc)) from None
        self.session.cancel()

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
        """Send one request and wait for its reply. Returns the reply fields; raises NakReply or
        LinkError. A REPLAY NAK (our counter behind the board's) moves the counter up and retries."""
        for _ in range(2):
            res = self._exchange(msg_type, fields, auth)
            if res.kind == REPLY:
                return res.fields
            if res.kind == NAK and res.nak_code == NAK_REPLAY and res.maybe_executed:
                self.session.resync_counter(self.address, res.nak_detail)
                raise MaybeExecuted("board %d restarted during %s" % (self.address, m.type_name(msg_type)))
            if res.kind == NAK and res.nak_code == NAK_REPLAY:
                # the board accepted higher counters (another host, or a lost counter file): move past them
                self.session.resync_counter(self.address, res.nak_detail)
                continue
            if res.kind == NAK:
                raise NakReply(res)
            if res.kind == TIMEOUT:
                raise LinkError("no reply to %s from board %d" % (m.type_name(msg_type), self.address))
            raise LinkError("bad reply to %s: %s" % (m.type_name(msg_type), res.error))
        raise NakReply(res)

    def _exchange(self, msg_type, fields, auth):
        if self.port is None:
            self.open()
        s = self.session
        s.cancel()
        try:
            self.port.reset_input_buffer()
            self.port.write(s.request(self.address, msg_type, fields, now=time.monotonic(), auth=auth))
            while True:
                data = self.port.read(max(1, self.port.in_waiting))
                now = time.monotonic()
                if data:
                    results = s.receive(data, now)
                    if results:
                        return results[0]
                out = s.poll(now)
                if isinstance(out, (bytes, bytearray)):
                    self.port.write(out)
                elif out is not None:
                    return out
        except (serial.SerialException, OSError) as exc:
            s.cancel()
            self.close()
            raise LinkError("link to %s failed: %s" % (self.url, exc)) from None
