"""A small line-based control language for a running SimLocker, for a person or a test.

Every command answers one line: "ok ..." / a JSON object, or "error: ..." (and changes nothing).
Boards are addressed by their bus address, compartments numbered from 1.
"""
import json
import socket
import threading

from firmware.qrpayload import make_payload

HELP = """commands (B = board address, C = compartment from 1):
  state [B]                 JSON state of the locker or one board
  keys                      JSON {address: key hex}
  close B C | force B C     close a door / pry it open without the lock
  put B C | take B C        put a parcel in / take it out
  type B KEYS               type on the keypad (end with # to submit, * clears)
  scan B PAYLOAD            scanner reads PAYLOAD (e.g. CBX1:LK-SIM:123456784)
  qr B CODE                 scanner reads this locker's QR payload for an 8-digit CODE
  display B                 what the board's screen shows now (its rows, separated by " | ")
  voice B                   what the board's voice module said last
  jam B C [on|off]          latch stuck (no door movement on unlock)
  dead-sensor B C [0|1|off] door switch stuck at 0 (closed) or 1 (open); off repairs it
  leave-open B C [on|off]   the person leaves this door open (auto-close skips it)
  auto-close MS|off         people close doors MS after they open
  power-off B [AT_BYTE]     cut the supply now, or after AT_BYTE more bytes hit flash
  power-on B | reboot B     restore power / press reset
  hang B                    the firmware hangs (the watchdog will reset it)
  lockboard-dead B [on|off] the commercial lock board stops answering
  noise RATE                byte error rate on the line (0..1; flips, drops, dups, delays)
  pacing on|off [BAUD]      deliver bytes at the real baud rate
  help | quit"""


class ControlError(Exception):
    pass


class Controller:
    def __init__(self, locker):
        self.locker = locker

    def execute(self, line):
        words = line.strip().split()
        if not words:
            return ""
        cmd, args = words[0].lower(), words[1:]
        fn = getattr(self, "cmd_" + cmd.replace("-", "_"), None)
        if fn is None:
            return "error: unknown command %r (try help)" % cmd
        try:
            out = fn(*args)
        except ControlError as exc:
            return "error: %s" % exc
        except (KeyError, ValueError, TypeError) as exc:
            return "error: %s" % (exc.args[0] if exc.args else exc)
        if isinstance(out, (dict, list)):
            return json.dumps(out)
        return "ok" if out is None else "ok " + str(out)

    # -- helpers -------------------------------------------------------------------------------
    def _board(self, b):
        return self.locker.board(_int(b, "board"))

    def _comp(self, b, c):
        return self.locker.compartment(_int(b, "board"), _int(c, "compartment"))

    # -- commands ------------------------------------------------------------------------------
    def cmd_help(self):
        return "\n" + HELP

    def cmd_state(self, b=None):
        if b is None:
            return self.locker.state()
        return self._board(b).state()

    def cmd_keys(self):
        return {str(a): k.hex() for a, k in self.locker.keys.items()}

    def cmd_close(self, b, c):
        self._comp(b, c).close()

    def cmd_force(self, b, c):
        self._comp(b, c).force()

    def cmd_put(self, b, c):
        self._comp(b, c).put()

    def cmd_take(self, b, c):
        self._comp(b, c).take()

    def cmd_type(self, b, keys):
        self._board(b).type_keys(keys)

    def cmd_scan(self, b, payload):
        self._board(b).scan(payload)

    def cmd_qr(self, b, code):
        payload = make_payload(self.locker.locker_id, code)
        self._board(b).scan(payload)
        return payload

    def cmd_display(self, b):
        return " | ".join(self._board(b).screen().split("\n"))

    def cmd_voice(self, b):
        spoken = self._board(b).spoken
        return spoken[-1] if spoken else ""

    def cmd_jam(self, b, c, on="on"):
        self._comp(b, c).jammed = _onoff(on)

    def cmd_dead_sensor(self, b, c, level="0"):
        if level == "off":
            self._comp(b, c).sensor_stuck = None
        elif level in ("0", "1"):
            self._comp(b, c).sensor_stuck = int(level)
        else:
            raise ControlError("level must be 0, 1 or off")

    def cmd_leave_open(self, b, c, on="on"):
        self._comp(b, c).left_open = _onoff(on)

    def cmd_auto_close(self, ms):
        self.locker.set_auto_close(None if ms == "off" else _int(ms, "milliseconds"))

    def cmd_power_off(self, b, at_byte=None):
        self.locker.power_cut(_int(b, "board"), None if at_byte is None else _int(at_byte, "byte count"))

    def cmd_power_on(self, b):
        self.locker.power_on(_int(b, "board"))

    def cmd_reboot(self, b):
        self.locker.reboot(_int(b, "board"))

    def cmd_hang(self, b):
        self._board(b).hung = True

    def cmd_lockboard_dead(self, b, on="on"):
        board = self._board(b)
        if board.lockboard is None:
            raise ControlError("board %s has GPIO locks, no lock board" % b)
        board.lockboard.dead = _onoff(on)

    def cmd_noise(self, rate):
        r = float(rate)
        if not 0 <= r <= 1:
            raise ControlError("rate must be within 0..1")
        self.locker.set_noise(r)

    def cmd_pacing(self, on, baud=None):
        self.locker.set_pacing(_onoff(on), None if baud is None else _int(baud, "baud"))


def _int(v, what):
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ControlError("%s must be a number, got %r" % (what, v)) from None


def _onoff(v):
    if v in ("on", "1", "yes", "true"):
        return True
    if v in ("off", "0", "no", "false"):
        return False
    raise ControlError("expected on or off, got %r" % v)


class ControlServer:
    """The same commands over TCP (one line in, one answer out), for tests and other programs."""

    def __init__(self, controller, host="127.0.0.1", port=0):
        self.controller = controller
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.on_quit = None
        threading.Thread(target=self._accept, name="sim-control", daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rw", encoding="utf-8", newline="\n") as f:
            for line in f:
                if line.strip() == "quit":
                    f.write("ok bye\n")
                    f.flush()
                    if self.on_quit is not None:
                        self.on_quit()
                    return
                f.write(self.controller.execute(line).replace("\n", "\n  ") + "\n")
                f.flush()

    def stop(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
