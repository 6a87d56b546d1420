"""A board's USB REPL on a pseudo-terminal, backed by the real MicroPython interpreter.

`mpremote` (and `cunbox firmware provision`) talk to `board.port` exactly as to a board's USB
serial port: friendly REPL, raw REPL (Ctrl-A), raw-paste mode (Ctrl-E A Ctrl-A), soft reset
(Ctrl-D), Ctrl-B/Ctrl-C. The code they send runs in MicroPython 1.27 (the WebAssembly port, pinned
in package-lock.json) through tools/mpyserve.mjs; its in-memory filesystem is the board's flash.

Differences from a real board, kept small on purpose:
- the WebAssembly port reports Emscripten errno numbers; OSError lines are rewritten to the
  numbers and names a board prints ("OSError: [Errno 2] ENOENT"), which is what mpremote parses;
- `machine` is a tiny module written to the flash giving the board's identity (unique_id).
"""
import base64
import json
import os
import pathlib
import re
import struct
import subprocess
import threading
import tty

REPO = pathlib.Path(__file__).resolve().parents[1]
BANNER = b"MicroPython v1.27.0 on 2025-12-13; cunbox simulated USB REPL (WebAssembly port)\r\n"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
PASTE_WINDOW = 256

# Emscripten errno -> (errno a board reports, name)
_ERRNO = {44: (2, "ENOENT"), 20: (17, "EEXIST"), 55: (39, "ENOTEMPTY"), 54: (20, "ENOTDIR"), 31: (21, "EISDIR"),
          28: (22, "EINVAL"), 8: (9, "EBADF")}


def _board_errno(text):
    def repl(m):
        num = int(m.group(1))
        if num in _ERRNO:
            return "OSError: [Errno %d] %s" % _ERRNO[num]
        return m.group(0)
    return re.sub(r"OSError: (\d+)", repl, text)


class Interpreter:
    """The MicroPython process: run code, get (stdout bytes, traceback text)."""

    def __init__(self, heap=4 * 1024 * 1024):
        self.proc = subprocess.Popen(["node", str(REPO / "tools" / "mpyserve.mjs"), "--heap", str(heap)],
                                     cwd=str(REPO), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def _call(self, req):
        with self.lock:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("MicroPython interpreter exited")
        reply = json.loads(line)
        return base64.b64decode(reply["out"]), _board_errno(base64.b64decode(reply["err"]).decode())

    def run(self, code):
        return self._call({"code": code})

    def soft_reset(self):
        self._call({"reset": True})

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class UsbReplBoard:
    """Start with `UsbReplBoard(unique_id=b"...")`; connect mpremote to `.port`; `close()` when done."""

    def __init__(self, unique_id=b"\x24\x0a\xc4\x11\x22\x33"):
        self.interp = Interpreter()
        self.write_file("/machine.py", ("def unique_id():\n    return %r\n" % (bytes(unique_id),)).encode())
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.raw = False
        self.soft_resets = 0
        self.executed = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, name="usb-repl-board", daemon=True)
        self._thread.start()

    # --- direct access for tests (not over the wire) ---
    def run(self, code):
        out, err = self.interp.run(code)
        if err:
            raise RuntimeError(err)
        return out.decode()

    def read_file(self, path):
        return base64.b64decode(self.run("import binascii\nprint(binascii.b2a_base64(open(%r,'rb').read())"
                                         ".decode().strip())" % path).strip())

    def write_file(self, path, data):
        self.run("import binascii\nf=open(%r,'wb')\nf.write(binascii.a2b_base64(%r))\nf.close()"
                 % (path, base64.b64encode(data)))

    def close(self):
        """Once only: the pty's numbers are handed out again after this, so the serving thread must
        be gone before the master is closed (it reads and writes it)."""
        if self._stop:
            return
        self._stop = True
        try:
            os.close(self.slave)  # the serving thread's blocking read of the master ends (EIO)
        except OSError:
            pass
        self._thread.join(timeout=10)
        try:
            os.close(self.master)
        except OSError:
            pass
        self.interp.close()

    # --- the wire ---
    def _write(self, data):
        while data:
            n = os.write(self.master, data)
            data = data[n:]

    def _read(self):
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def _serve(self):
        pending = bytearray()
        line = bytearray()
        while not self._stop:
            if not pending:
                data = self._read()
                if not data:
                    return
                pending += data
            c = pending.pop(0)
            if not self.raw:
                if c == 0x01:
                    self.raw = True
                    line.clear()
                    self._write(b"\r\n" + RAW_BANNER + b">")
                elif c == 0x03:
                    self._write(b"\r\nKeyboardInterrupt\r\n>>> ")
                elif c == 0x04:
                    self._soft_reset()
                    self._write(b">>> ")
                elif c == 0x0D:
                    self._write(b"\r\n>>> ")
                continue
            if c == 0x01:  # Ctrl-A: raw REPL again
                line.clear()
                self._write(RAW_BANNER + b">")
            elif c == 0x02:  # Ctrl-B: friendly REPL
                self.raw = False
                line.clear()
                self._write(b"\r\n" + BANNER + b">>> ")
            elif c == 0x03:
                line.clear()
            elif c == 0x05 and not line:  # raw paste request: Ctrl-E 'A' Ctrl-A
                while len(pending) < 2:
                    more = self._read()
                    if not more:
                        return
                    pending += more
                if pending[0:2] == b"A\x01":
                    del pending[0:2]
                    code = self._raw_paste(pending)
                    if code is None:
                        return
                    self._execute(code)
                else:
                    line.append(c)
            elif c == 0x04:
                if not line:
                    self._write(b"\r\n")
                    self._soft_reset()
                    self._write(RAW_BANNER + b">")
                else:
                    self._write(b"OK")
                    code = bytes(line)
                    line.clear()
                    self._execute(code)
            else:
                line.append(c)

    def _raw_paste(self, pending):
        self._write(b"R\x01" + struct.pack("<H", PASTE_WINDOW))
        code = bytearray()
        since_ack = 0
        while True:
            if not pending:
                data = self._read()
                if not data:
                    return None
                pending += data
            c = pending.pop(0)
            if c == 0x04:
                self._write(b"\x04")
                return bytes(code)
            code.append(c)
            since_ack += 1
            if since_ack == PASTE_WINDOW:
                since_ack = 0
                self._write(b"\x01")

    def _execute(self, code):
        text = code.decode("utf-8", "replace")
        self.executed.append(text)
        out, err = self.interp.run(text)
        self._write(out.replace(b"\n", b"\r\n") + b"\x04" + err.replace("\n", "\r\n").encode() + b"\x04>")

    def _soft_reset(self):
        self.soft_resets += 1
        self.interp.soft_reset()
        self._write(b"MPY: soft reboot\r\n")
