# The board's end of the wire protocol: bytes from the bus UART go through protocol.session
# (address, CRC, auth, replay, reply cache) and each new authentic command reaches _handle().
#
# OPEN is answered once the door has been seen (or not) within the protocol's 2.5 s budget. While
# it waits, the handler keeps running the app's own loop (locks, doors, keypad, watchdog) through
# app.step(), so nothing else stalls; only the bus waits, and on a half-duplex bus nobody else may
# talk until this board answers anyway. Bytes arriving meanwhile (a retry of this very OPEN) stay
# in the UART buffer and are answered from the reply cache afterwards: the lock never pulses twice.
import binascii

from firmware import app as app_mod
from firmware import events as ev
from firmware.compat import ticks_add, ticks_diff, u32_be
from protocol import PROTOCOL_VERSION
from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_NOT_SUPPORTED, NakError
from protocol.session import BoardSession
from protocol.timing import inter_frame_gap_us

_EVENTS_ROOM = 235  # EVENTS reply payload (237) minus its 'more' and count bytes
_SETTINGS = ("left_open_s", "door_window_ms", "disabled")


class FlashCounterStore:
    """The last accepted auth counter, saved atomically before a command runs."""

    def __init__(self, flash):
        self.flash = flash

    def load(self):
        raw = self.flash.read_atomic("counter")
        return u32_be(raw, 0) if raw else 0

    def save(self, value):
        self.flash.write_atomic("counter", value.to_bytes(4, "big"))


def parse_key(text):
    if not text:
        return None
    return binascii.unhexlify(text)


class BusServer:
    def __init__(self, app, port, cfg, idle=None, reset=None):
        self.app = app
        self.port = port  # UART-like: any(), read(), write()
        self.cfg = cfg
        self.idle = idle  # called while an OPEN waits for its door (sleep a little / run physics)
        self.reset = reset  # machine.reset, for REBOOT
        self.session = BoardSession(cfg["address"], parse_key(cfg.get("key")), FlashCounterStore(app.flash))
        self._reboot_at = None
        self.served = 0
        # A reply starts no sooner than the inter-frame gap after the request's last byte, so the
        # host's RS-485 transceiver has turned the line around (PROTOCOL.md, Timing).
        self.gap_ms = (int(inter_frame_gap_us(cfg.get("bus", {}).get("baud", 9600))) + 999) // 1000
        self._out = []
        self._rx_at = 0

    def poll(self, now):
        if self._reboot_at is not None and ticks_diff(now, self._reboot_at) >= 0:
            self._reboot_at = None
            if self.reset is not None:
                self.reset()
        if self.port.any():
            data = self.port.read()
            if data:
                self._out.extend(self.session.receive(data, self._handle))
                now = self.app.clock.ms()
                self._rx_at = now
        while self._out and ticks_diff(now, self._rx_at) >= self.gap_ms:
            self.port.write(self._out.pop(0))
            self.served += 1

    # -- commands ------------------------------------------------------------------------------
    def _handle(self, t, f):
        a = self.app
        a.link_heard()  # the keypad may count on the host to open another board's door (PEER_CODE)
        fw = getattr(self, "fw", None)  # updater: firmware/update_handler.py, attached by board.build_server
        if fw is not None and t in fw.TYPES:
            return fw.handle(t, f)
        if t == m.STATUS:
            return self._status()
        if t == m.EVENTS:
            return self._events(f["cursor"], f["max_count"])
        if t == m.OPEN or t == m.OPEN_BY:
            return self._open(f, t == m.OPEN_BY)
        if t == m.EVENTS_ACK:
            # beyond the newest: up to the newest; below what is acknowledged: nothing changes
            acked = a.journal.ack(min(f["upto"], a.journal.last_seq()))
            return {"acked": acked, "pending": min(a.journal.unacked(), 0xFFFF)}
        if t == m.HELLO:
            return self._hello()
        if t == m.SET_CODE:
            comp = self._comp(f["compartment"])
            if f["kind"] not in (m.CODE_PICKUP, m.CODE_DROPOFF):
                raise NakError(NAK_BAD_PAYLOAD, f["compartment"], "unknown code kind")
            now = a.unix()
            if now and f["expiry"] <= now:  # (with no board time yet, expiry cannot be judged)
                raise NakError(NAK_BAD_PAYLOAD, f["compartment"], "expiry not in the future")
            a.codes.set(comp, f["salt"], f["code_hash"], f["expiry"], f["kind"])
            return {"compartment": f["compartment"]}
        if t == m.SET_PEER_CODE:
            return self._peer_code(f)
        if t == m.CLEAR_CODE:
            comp = self._comp(f["compartment"])
            had = a.codes.has(comp)
            a.codes.clear(comp)
            return {"compartment": f["compartment"], "cleared": 1 if had else 0}
        if t == m.TIME_GET:
            return {"time": a.unix(), "uptime_s": ticks_diff(a.clock.ms(), a.started) // 1000}
        if t == m.TIME_SET:
            return {"previous": a.set_time(f["time"])}
        if t == m.CONFIG_GET:
            return {"items": self._config_get(f["keys"])}
        if t == m.CONFIG_SET:
            return {"applied": self._config_set(f["items"])}
        if t == m.REBOOT:
            self._reboot_at = ticks_add(a.clock.ms(), f["delay_ms"])
            return None
        if t == m.FW_STATUS:
            return {"state": m.FW_IDLE, "size": 0, "received": 0, "running_version": app_mod.FW_VERSION}
        raise NakError(NAK_NOT_SUPPORTED, 0, "firmware updates need public keys (fw_pubkeys) in the board config")

    def _peer_code(self, f):
        a = self.app
        board, comp, kind = f["board"], f["compartment"], f["kind"]
        if kind == 0:  # forget one (or, with board 0, all: the host then sends the live ones again)
            if board and not 1 <= comp <= 255:
                raise NakError(NAK_BAD_PAYLOAD, comp, "no such compartment")
            a.peers.forget(board, comp)
            return {"board": board, "compartment": comp, "held": 0}
        if kind not in (m.CODE_PICKUP, m.CODE_DROPOFF):
            raise NakError(NAK_BAD_PAYLOAD, kind, "unknown code kind")
        if not 1 <= board <= 247 or board == self.cfg["address"] or not 1 <= comp <= 255:
            raise NakError(NAK_BAD_PAYLOAD, board, "peer must be another board's compartment")
        held = a.peers.set(board, comp, f["salt"], f["code_hash"], f["expiry"], kind)
        return {"board": board, "compartment": comp, "held": 1 if held else 0}

    def _comp(self, number):
        if not 1 <= number <= self.app.count:
            raise NakError(NAK_BAD_PAYLOAD, number, "no such compartment")
        return number - 1

    def _hello(self):
        a = self.app
        caps = m.CAP_DOOR_SENSORS | m.CAP_OPEN_DEADLINE | m.CAP_PEER_CODES
        if a.occupancy is not None:
            caps |= m.CAP_OCCUPANCY
        if a.zones:
            caps |= m.CAP_CHILLED
        if a.keypad is not None:
            caps |= m.CAP_KEYPAD
        if a.scanner is not None:
            caps |= m.CAP_QR_SCANNER
        if self.cfg.get("locks", {}).get("type", "gpio") != "gpio":
            caps |= m.CAP_LOCK_BOARD
        if getattr(self, "fw", None) is not None:  # updater
            caps |= m.CAP_FW_UPDATE
        return {"protocol_version": PROTOCOL_VERSION, "board_id": bytes(a.uid[:16]),
                "fw_version": self._fw_version(), "compartments": a.count, "chilled_zones": len(a.zones),
                "capabilities": caps, "reset_cause": a.reset_cause}

    def _fw_version(self):
        fw = getattr(self, "fw", None)  # updater: the version of the slot this board booted
        return fw.running_version()[:32] if fw is not None else app_mod.FW_VERSION

    def _status(self):
        a = self.app
        temps = []
        for z in a.zones:
            temps.append(m.TEMP_INVALID if z.temp is None else z.temp)
        return {"time": a.unix(), "events_pending": min(a.journal.unacked(), 0xFFFF),
                "compartments": [a.compartment_state(c) for c in range(a.count)], "temperatures": temps}

    def _events(self, cursor, max_count):
        j = self.app.journal
        out = []
        room = _EVENTS_ROOM
        last = cursor
        for seq, payload in j.read(cursor, min(max_count, 16), 400):
            size = 5 + len(payload)  # seq, time, kind, compartment, data length + data
            if size > room:
                break
            room -= size
            out.append({"seq": seq, "time": u32_be(payload, 2), "kind": payload[0], "compartment": payload[1],
                        "data": bytes(payload[6:])})
            last = seq
        if last < j.acked:
            last = j.acked
        return {"more": 1 if last < j.last_seq() else 0, "events": out}

    def _open(self, f, has_deadline):
        a = self.app
        box = []

        def decided(c, r, d, s):
            box.append((r, d, s))

        if has_deadline and (not a.clock_trusted or a.unix() > f["deadline"]):
            # The host has told the person by now that this door failed (a frame held up in a
            # powered-off board's UART, a 4G bridge's buffer): it must not open minutes later.
            # With its clock not set since boot the board cannot tell, and does not open either.
            a.refuse(f["compartment"] - 1, ev.SRC_HOST, f["reason"], decided, ev.REFUSE_LATE, f["reference"])
        else:
            a.unlock(f["compartment"] - 1, ev.SRC_HOST, f["reason"], decided, reference=f["reference"])
        while not box:  # keep the rest of the board running until the door has spoken
            if self.idle is not None:
                self.idle()
            now = a.step()
            a.feed(now)
        r, d, s = box[0]
        return {"compartment": f["compartment"], "result": r, "detail": d, "event_seq": s}

    def _config_get(self, keys):
        a = self.app
        values = {
            "address": str(self.cfg["address"]), "locker_id": a.locker_id, "compartments": str(a.count),
            "lock_type": self.cfg.get("locks", {}).get("type", "gpio"),
            "left_open_s": str(a.left_open_ms // 1000), "door_window_ms": str(a.door_window_ms),
            "disabled": ",".join([str(c + 1) for c in range(a.count) if a.disabled[c]]),
            "journal": "%d/%d/%d" % (a.journal.unacked(), 1 if a.journal.full else 0, a.journal.dropped),
        }
        names = keys or ["address", "locker_id", "compartments", "lock_type", "left_open_s", "door_window_ms",
                         "disabled", "journal"]
        out = []
        for i, k in enumerate(names[:8]):
            if k not in values:
                raise NakError(NAK_BAD_PAYLOAD, i, "unknown config key " + k)
            out.append({"key": k, "value": values[k][:32]})
        return out

    def _config_set(self, items):
        a = self.app
        parsed = []
        for i, it in enumerate(items):  # check everything first: bad input changes nothing
            k, v = it["key"], it["value"]
            if k not in _SETTINGS:
                raise NakError(NAK_BAD_PAYLOAD, i, "unknown or read-only key " + k)
            try:
                if k == "disabled":
                    val = [int(x) for x in v.split(",") if x.strip()]
                    for c in val:
                        if not 1 <= c <= a.count:
                            raise ValueError
                else:
                    val = int(v)
                    if val < 1 or val > 86400000:
                        raise ValueError
            except ValueError:
                raise NakError(NAK_BAD_PAYLOAD, i, "bad value for " + k) from None
            parsed.append((k, val))
        for k, val in parsed:
            if k == "left_open_s":
                a.left_open_ms = val * 1000
            elif k == "door_window_ms":
                a.door_window_ms = val
            else:
                for c in range(a.count):
                    a.disabled[c] = 1 if (c + 1) in val else 0
        a.save_settings()
        for k, _ in parsed:
            key = k.encode()
            a.emit(ev.CONFIG_CHANGED, ev.BOARD, bytes((len(key),)) + key)
        return len(parsed)
