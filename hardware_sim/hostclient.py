"""A minimal bus master over pyserial, for tests, the bench and `cunbox sim --probe`.

It talks through hostlink.exchange.Exchange, the very exchange loop the link workers use: the
inter-frame gap, the session's retries of the same bytes, REPLAY resync at most once, until a
Result comes back.
"""
import time

import serial

from hostlink.exchange import Exchange
from protocol import messages as m
from protocol.session import HostSession


class HostClient:
    def __init__(self, url, baud=9600, keys=None, counters=None):
        self.port = serial.serial_for_url(url, baudrate=baud, timeout=0)
        self.session = HostSession(baud=baud)
        self.baud = baud
        for addr, key in (keys or {}).items():
            self.session.add_board(addr, key, counter=(counters or {}).get(addr, 0))
        self.exchange = Exchange(self.session, self.port)

    @property
    def last_wire(self):
        """The bytes of the last request sent."""
        return self.exchange.last_wire

    @property
    def last_rx(self):
        """How many bytes were heard while awaiting the last request's reply."""
        return self.exchange.last_rx

    def close(self):
        self.port.close()

    def send_raw(self, wire):
        """Bytes onto the bus as they are (a replayed, forged or hand-made frame), after the gap."""
        self.exchange.send(wire)

    def call(self, address, msg_type, fields=None, auth=None):
        """Send one request and return its protocol.session.Result (REPLY, NAK or TIMEOUT)."""
        return self.exchange.call(address, msg_type, fields, auth)

    def drain(self, seconds=0.05):
        """Read and discard what arrives for a while (e.g. a late reply to a request we gave up on)."""
        end = time.monotonic() + seconds
        got = b""
        while time.monotonic() < end:
            got += self.port.read(4096)
            time.sleep(0.002)
        return got

    def events(self, address, cursor=0):
        """Every event after `cursor` (authenticated reads, following `more`). Each event's data
        is checked against its kind's layout (protocol.messages.decode_event_data) and its
        fields are added as "fields"."""
        out = []
        while True:
            r = self.call(address, m.EVENTS, {"cursor": cursor, "max_count": 16}, auth=True)
            if not r.ok:
                raise RuntimeError("EVENTS failed: %r" % (r,))
            for e in r.fields["events"]:
                e["fields"] = m.decode_event_data(e["kind"], e["data"])  # raises on a layout mismatch
            out.extend(r.fields["events"])
            if r.fields["events"]:
                cursor = r.fields["events"][-1]["seq"]
            if not r.fields["more"] or not r.fields["events"]:
                return out
