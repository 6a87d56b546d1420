# The SYN6288 text-to-speech module (YuTone) on a UART, 9600 baud 8N1 by default: the common serial
# "voice broadcast" board that speaks GB2312 Chinese text, so prompts need no recorded sound files.
#
# One frame per utterance: 0xFD, a 2-byte big-endian length (of what follows it: command, parameter,
# text and checksum, i.e. len(text) + 3), command 0x01 (synthesise), the parameter (bits 7..3:
# background music, 0 = none; bits 2..0: text encoding, 0 = GB2312), the text, then the XOR of every
# byte before it. The module answers 0x41 for each frame it accepts. Text is at most 200 bytes.
# Source: LibDriver's syn6288 driver (docs/display-and-voice.md, with what is not confirmed).
from firmware.compat import const

_HEAD = const(0xFD)
_SPEAK = const(0x01)
GB2312 = 0x00  # the parameter byte: no background music, GB2312 text
MAX_TEXT = 200


def _cut(gb, limit):
    """gb cut to at most limit bytes, never between the two bytes of a Chinese character."""
    i = 0
    while i < len(gb):
        step = 2 if gb[i] >= 0x80 else 1
        if i + step > limit:
            break
        i += step
    return gb[:i]


def frame(gb, param=GB2312):
    """The synthesis frame for GB2312 text gb."""
    if len(gb) > MAX_TEXT:
        gb = _cut(gb, MAX_TEXT)
    n = len(gb)
    f = bytearray(n + 6)
    f[0] = _HEAD
    f[1] = (n + 3) >> 8
    f[2] = (n + 3) & 0xFF
    f[3] = _SPEAK
    f[4] = param
    f[5:5 + n] = gb
    x = 0
    for i in range(n + 5):
        x ^= f[i]
    f[n + 5] = x
    return f


class Syn6288:
    def __init__(self, uart):
        self.uart = uart  # UART-like: write(bytes), any(), read()

    def speak(self, gb):
        if self.uart.any():
            self.uart.read()  # its 0x41 acknowledgements: nothing waits for them, so do not let them pile up
        self.uart.write(frame(gb))
