"""CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0x0000, check 0x29B1.

Table-driven (256 entries, built once at import) because it is the hot loop of frame decoding.
"""
CRC_INIT = 0xFFFF
CHECK_VALUE = 0x29B1  # crc16(b"123456789")


def _make_table():
    table = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16(data, crc=CRC_INIT):
    """CRC of `data` (bytes, bytearray or memoryview); pass a previous result as `crc` to continue."""
    t = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFF00) ^ t[(crc >> 8) ^ b]
    return crc
