# Text to GB2312 bytes, for the ST7920's character ROM and the voice module. MicroPython has no
# GB2312 codec, so only the characters the prompts use are known (firmware/gb2312_table.py, generated
# from firmware/prompts.py); ASCII passes through as single bytes, as in GB2312 itself.
from firmware.compat import const
from firmware.gb2312_table import CODES, GB

_MISSING = const(0x3F)  # "?" for a character the table lacks (tests/firmware/test_firmware_gb2312_table.py stops that)


def _index(cp):
    lo = 0
    hi = len(CODES) // 2
    while lo < hi:
        mid = (lo + hi) // 2
        v = (CODES[2 * mid] << 8) | CODES[2 * mid + 1]
        if v < cp:
            lo = mid + 1
        elif v > cp:
            hi = mid
        else:
            return mid
    return -1


def encode(text):
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp < 0x80:
            out.append(cp)
            continue
        i = _index(cp)
        if i < 0:
            out.append(_MISSING)
        else:
            out.extend(GB[2 * i:2 * i + 2])
    return bytes(out)
