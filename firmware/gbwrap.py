# GB2312 text laid out on a character-mode screen: rows of `cols` half-width cells, one byte each
# (the ST7920 on a 128x64 module: 4 rows of 16, i.e. 8 Chinese characters). ASCII takes one cell, a
# Chinese character two. A Chinese character is never split across rows, and always starts at an
# even cell: the ST7920 shows one only from the high byte of a 16-bit DDRAM word, so an odd start
# would show garbage (a space pads it). Punctuation that may not start a line in Chinese (，。 etc.)
# takes the character before it along to the next row, and a number (a run of ASCII) is kept whole.
from firmware.compat import const

_SPACE = const(0x20)
# ，。、：；！？ in GB2312, two bytes each
_CLOSING = b"\xa3\xac\xa1\xa3\xa1\xa2\xa3\xba\xa3\xbb\xa3\xa1\xa3\xbf"


def _closing(gb, i):
    a = gb[i]
    b = gb[i + 1]
    for k in range(0, len(_CLOSING), 2):
        if _CLOSING[k] == a and _CLOSING[k + 1] == b:
            return True
    return False


def _run(gb, i):
    """The length of the run of printable ASCII (no space) that starts at i."""
    j = i
    while j < len(gb) and 0x20 < gb[j] < 0x80:
        j += 1
    return j - i


def _pad(row, cols):
    return bytes(row) + b" " * (cols - len(row))


def layout(gb, cols=16):
    """Every row the text needs, each exactly cols bytes (padded with spaces)."""
    out = []
    row = bytearray()
    last = -1  # index in gb of the Chinese character placed last in this row, or -1
    last_at = 0  # the cell it starts at
    i = 0
    n = len(gb)
    while i < n:
        wide = gb[i] >= 0x80 and i + 1 < n
        if wide and len(row) & 1:
            row.append(_SPACE)
        elif not wide and row and (i == 0 or not 0x20 < gb[i - 1] < 0x80):
            k = _run(gb, i)
            if len(row) + k > cols >= k:  # a number that would be split: start it on the next row
                out.append(_pad(row, cols))
                row = bytearray()
                last = -1
                continue
        if len(row) + (2 if wide else 1) > cols:
            if wide and last_at > 0 and last + 2 == i and _closing(gb, i):
                row = row[:last_at]  # (MicroPython bytearrays have no slice deletion)
                i = last
            out.append(_pad(row, cols))
            row = bytearray()
            last = -1
            continue
        if wide:
            last = i
            last_at = len(row)
            row.extend(gb[i:i + 2])
            i += 2
        else:
            row.append(gb[i])
            i += 1
    if row:
        out.append(_pad(row, cols))
    return out


def lines(gb, cols=16, rows=4):
    """Exactly `rows` rows for the screen: the text's first rows (any more are cut), then blank ones."""
    out = layout(gb, cols)[:rows]
    while len(out) < rows:
        out.append(b" " * cols)
    return out
