"""A simulated ST7920 128x64 LCD on its serial interface, imitating the controller (Sitronix datasheet
V4.0), not the firmware's driver: it sees only chip select and the bytes clocked in on SID, and the
text a person would read is decoded from its own DDRAM.

What it does, as the datasheet describes:
- serial framing: a transfer starts with the sync byte 0b11111 RW RS 0; then each byte arrives as
  two, the high nibble and the low nibble, each in the upper half; CS low resets the bit counter, so
  a half-received byte is dropped; bytes with CS low are ignored (only writes exist in serial mode);
- the basic instruction set: clear, home, entry mode (increment or decrement), display on/off,
  function set (RE selects the extended set, whose instructions are ignored here), set CGRAM and
  DDRAM address; data writes go to DDRAM two bytes a word, the address counter stepping after the
  second byte;
- what is shown: a 128x64 module's four rows are DDRAM words 0x00-0x07, 0x10-0x17, 0x08-0x0F and
  0x18-0x1F. In each 16-bit word a high byte 0xA1-0xF7 with a low byte 0xA1-0xFE is one GB2312
  character from the font ROM; otherwise each byte is a half-width character, of which the ROM has
  0x02-0x7F only: a Chinese character's bytes that straddle a word show as two unreadable cells (the
  garbage a misaligned write produces on a real screen), shown here as "?".
Not imitated: timing (instructions arriving too fast), cursor and display shift, scrolling, graphics
mode and CGRAM glyphs (shown as "?").
"""
import threading

ROW_WORDS = (0x00, 0x10, 0x08, 0x18)
UNREADABLE = "?"


class SimSt7920:
    def __init__(self):
        self.ddram = bytearray(b" " * 128)  # 64 words; a real module's power-on content is undefined
        self.display_on = False
        self.extended = False
        self.increment = True
        self.ac = 0
        self._low = 0  # which byte of the word at ac the next data byte fills
        self._to_cgram = False
        self._cs = 0
        self._rs = None  # register of the current transfer, None until a sync byte
        self._high = None  # the high nibble byte of a byte being received
        self._lock = threading.Lock()
        self.changes = 0  # counts writes that changed what is shown
        self.instructions = []  # every instruction byte received, in order (for tests)

    # -- the wires -----------------------------------------------------------------------------
    def chip_select(self, level):
        """CS changed: low resets the serial counter (a transfer cut short is dropped)."""
        self._cs = 1 if level else 0
        if not self._cs:
            self._rs = None
            self._high = None

    def clock_in(self, data):
        """Bytes shifted in on SID (what an SPI write sends)."""
        with self._lock:
            for b in bytes(data):
                self._byte(b)

    def _byte(self, b):
        if not self._cs:
            return
        if b & 0xF8 == 0xF8 and not b & 0x01:  # five 1s: a sync byte (a nibble byte never has bit 3)
            self._rs = (b >> 1) & 1
            self._high = None
            if b & 0x04:  # RW = read: serial mode cannot read, nothing follows
                self._rs = None
            return
        if self._rs is None:
            return
        if self._high is None:
            self._high = b & 0xF0
            return
        value = self._high | (b >> 4)
        self._high = None
        if self._rs:
            self._data(value)
        else:
            self._instruction(value)

    # -- the controller ------------------------------------------------------------------------
    def _instruction(self, c):
        self.instructions.append(c)
        if c & 0xE0 == 0x20:  # function set: DL, RE
            self.extended = bool(c & 0x04)
            return
        if self.extended:
            return  # standby, scroll, reverse, graphics address: not imitated
        if c & 0x80:
            self.ac = c & 0x3F
            self._low = 0
            self._to_cgram = False
        elif c & 0x40:
            self._to_cgram = True
            self._low = 0
        elif c & 0x10:
            pass  # cursor or display shift: not imitated
        elif c & 0x08:
            on = bool(c & 0x04)
            if on != self.display_on:
                self.display_on = on
                self.changes += 1
        elif c & 0x04:
            self.increment = bool(c & 0x02)
        elif c & 0x02:  # return home
            self.ac = 0
            self._low = 0
        elif c == 0x01:  # clear: DDRAM filled with 0x20, address counter to 0
            if self.ddram != b" " * 128:
                self.changes += 1
            self.ddram[:] = b" " * 128
            self.ac = 0
            self._low = 0

    def _data(self, value):
        if self._to_cgram:
            return
        i = 2 * (self.ac & 0x3F) + self._low
        if self.ddram[i] != value:
            self.ddram[i] = value
            self.changes += 1
        self._low ^= 1
        if not self._low:
            self.ac = (self.ac + (1 if self.increment else -1)) & 0x3F

    # -- what a person reads -------------------------------------------------------------------
    def rows(self):
        """The four rows as text (trailing spaces kept: 16 cells each); blank when the display is off."""
        with self._lock:
            mem = bytes(self.ddram)
            on = self.display_on
        if not on:
            return [" " * 16] * 4
        return [_row_text(mem[2 * w:2 * w + 16]) for w in ROW_WORDS]

    def text(self):
        """The screen as lines (trailing spaces and blank lines at the end dropped)."""
        return "\n".join(r.rstrip() for r in self.rows()).rstrip("\n")


def _row_text(cells):
    out = []
    for k in range(0, 16, 2):
        hi, lo = cells[k], cells[k + 1]
        if 0xA1 <= hi <= 0xF7 and 0xA1 <= lo <= 0xFE:
            try:
                out.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:  # an empty place of the code table
                out.append(UNREADABLE * 2)
            continue
        for b in (hi, lo):
            out.append(chr(b) if 0x20 <= b <= 0x7E else UNREADABLE)  # 0x02-0x1F: ROM symbols, not text
    return "".join(out)
