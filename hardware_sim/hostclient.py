"""A minimal bus master over pyserial, for tests, the bench and `cunbox sim --probe`.

It drives protocol.session.HostSession exactly as a link worker would: write the request, read
what arrives, feed it to the session, resend on its deadline, until a Result comes back.
"""
import time

import serial

from protocol import messages as m
from protocol.session import HostSession


class HostClient:
    def __init__(self, url, baud=9600, keys=None, counters=None):
        self.port = serial.serial_for_url(url, baudrate=baud, timeout=0)
        self.session = HostSession(baud=baud)
        self.baud = baud
        for addr, key in (keys or {}).items():
            self.session.add_board(addr, key, counter=(counters or {}).get(addr, 0))

    def close(self):
        self.port.close()

    def send_raw(self, wire):
        self.port.write(wire)
        self.port.flush()

    def call(self, address, msg_type, fields=None, auth=None, wire=None):
        """Send one request and return its protocol.session.Result (REPLY, NAK or TIMEOUT)."""
        if wire is None:
            wire = self.session.request(address, msg_type, fields, now=time.monotonic(), auth=auth)
        self.send_raw(wire)
        self.last_wire = wire
        self.last_rx = 0
        while True:
            data = self.port.read(4096)
            now = time.monotonic()
            if data:
                self.last_rx += len(data)
                for r in self.session.receive(data, now):
                    return r
            again = self.session.poll(now)
            if isinstance(again, (bytes, bytearray)):
                self.send_raw(again)
            elif again is not None:
                return again
            if not data:
                time.sleep(0.001)

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
