# The 128x64 ST7920 LCD of Chinese cabinets, in serial mode and character mode: the controller draws
# GB2312 text from its own font ROM, so the board sends text bytes, not pixels.
#
# Serial mode (PSB pin tied low) is write-only over 3 wires: CS (active HIGH), SCLK and SID, i.e. an
# SPI bus's SCK and MOSI, mode 0, MSB first. A transfer is a sync byte 0b11111 RW RS 0 (0xF8 for an
# instruction, 0xFA for data) and then every byte as two, high nibble first, each in the upper half
# of its byte. Serial mode cannot read the busy flag, so the SPI clock paces the writes: at 200 kHz
# a byte, sent as two, takes 80 us on the wire, longer than the 72 us an instruction or data write
# needs (and an instruction, with its sync byte, 120 us).
# Sources and what is not confirmed on hardware: docs/display-and-voice.md.
from firmware.compat import const
from firmware.gbwrap import lines

ROWS = 4
COLS = 16  # half-width cells a row (8 Chinese characters)
# Set-DDRAM-address of the four rows a 128x64 module shows: its rows 3 and 4 are the right halves of
# the controller's 32-cell rows 1 and 2, so they start 8 words in.
ROW_ADDR = b"\x80\x90\x88\x98"
_SYNC_INSTRUCTION = const(0xF8)
_SYNC_DATA = const(0xFA)
# the init: function set, basic instruction set (RE=0), twice; display on, cursor and blink off;
# entry mode, the address counter stepping forward after each 16-bit word
_INIT = b"\x30\x30\x0c\x06"
POWER_ON_MS = 50  # the controller takes instructions 40 ms after power-on


def frame(sync, data):
    """One serial transfer: the sync byte, then each byte of data as its two nibble bytes."""
    out = bytearray(1 + 2 * len(data))
    out[0] = sync
    k = 1
    for b in data:
        out[k] = b & 0xF0
        out[k + 1] = (b << 4) & 0xF0
        k += 2
    return out


class St7920:
    def __init__(self, spi, cs, sleep_ms=None):
        self.spi = spi  # write(bytes): the SPI bus (SCK -> SCLK, MOSI -> SID)
        self.cs = cs  # output pin, value(1) selects the controller
        self.sleep_ms = sleep_ms
        self._shown = [None] * ROWS  # the bytes each row holds, to skip rewriting what is there

    def _send(self, buf):
        self.cs.value(1)
        self.spi.write(buf)
        self.cs.value(0)  # also resets the controller's serial bit counter

    def instruction(self, code):
        self._send(frame(_SYNC_INSTRUCTION, bytes((code,))))

    def init(self):
        """Basic instruction set, display on, cursor off. No clear instruction (1.6 ms, too long to
        pace by the clock): the first show() writes every visible cell."""
        if self.sleep_ms is not None:
            self.sleep_ms(POWER_ON_MS)
        for code in _INIT:
            self.instruction(code)
        self._shown = [None] * ROWS

    def show_rows(self, rows):
        """Write ROWS rows of COLS bytes each (GB2312, laid out by firmware/gbwrap.py)."""
        for r in range(ROWS):
            if rows[r] != self._shown[r]:
                self.instruction(ROW_ADDR[r])
                self._send(frame(_SYNC_DATA, rows[r]))
                self._shown[r] = rows[r]

    def show(self, gb):
        """Show GB2312 text, wrapped over the rows; what does not fit is cut."""
        self.show_rows(lines(gb, COLS, ROWS))
