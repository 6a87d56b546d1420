"""A simulated SYN6288 text-to-speech module on a UART, imitating the module's frame format (as
LibDriver's syn6288 driver writes it), not the firmware's driver: it parses what arrives on its RX
line and "speaks" the text it decodes from the frame.

A frame: 0xFD, a 2-byte big-endian length of the rest (command, parameter, text, checksum), the
command, for 0x01 (synthesise) a parameter whose bits 2..0 name the text encoding (0 GB2312, 1 GBK,
2 BIG5; 3 UNICODE is not imitated), the text, and the XOR of every byte before the checksum. A good
frame is answered 0x41; a status query (0x21) is answered 0x41 0x4F (idle: speaking takes no time
here). Bytes before a 0xFD, and frames whose checksum is wrong, are dropped and counted in `errors`.
Not imitated: speaking time and busy state, what a new frame does to an utterance still playing,
volume, speed and background music.
"""
import threading

HEAD = 0xFD
ACK = b"\x41"
IDLE = b"\x4f"
_ENCODINGS = {0: "gb2312", 1: "gbk", 2: "big5"}


class SimSyn6288:
    def __init__(self, reply=None, spoken=None):
        self.reply = reply  # callable(bytes): what the module sends back on its TX line, or None
        self.spoken = [] if spoken is None else spoken  # every utterance, as text (appended to)
        self.errors = 0
        self._buf = bytearray()
        self._lock = threading.Lock()

    def receive(self, data):
        """Bytes on the module's RX line (the board's UART TX)."""
        with self._lock:
            self._buf.extend(data)
            while self._frame():
                pass

    def _frame(self):
        buf = self._buf
        start = buf.find(bytes((HEAD,)))
        if start < 0:
            self.errors += 1 if buf else 0
            del buf[:]
            return False
        if start:
            self.errors += 1
            del buf[:start]
        if len(buf) < 3:
            return False
        total = 3 + ((buf[1] << 8) | buf[2])
        if len(buf) < total:
            return False
        frame = bytes(buf[:total])
        del buf[:total]
        x = 0
        for b in frame[:-1]:
            x ^= b
        if total < 5 or x != frame[-1]:
            self.errors += 1
            return True
        self._command(frame[3], frame[4:-1])
        return True

    def _command(self, cmd, body):
        if cmd == 0x01 and body:
            enc = _ENCODINGS.get(body[0] & 0x07)
            if enc is None:
                self.errors += 1
                return
            self.spoken.append(body[1:].decode(enc, errors="replace"))
            self._send(ACK)
        elif cmd == 0x21:
            self._send(ACK + IDLE)
        else:
            self._send(ACK)  # stop, pause, resume, power down, baud rate: taken, nothing to imitate

    def _send(self, data):
        if self.reply is not None:
            self.reply(data)

    def last(self):
        return self.spoken[-1] if self.spoken else ""
