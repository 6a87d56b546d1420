# Modbus RTU frames for a master on a serial line: the four function codes a relay module needs,
# built and checked here, no I/O (lock_modbus.py owns the UART and the timing).
#
# Hand-written on purpose, see docs/adr/0013-modbus-rtu-relay-modules.md: the maintained MicroPython
# library (micropython-modbus 2.3.7, package umodbus) is GPL-3.0-or-later in its umodbus/ files,
# imports machine.UART itself, blocks the loop in its reads and reads coil/input bits in the
# reverse order of the spec. These frames are checked against published vectors
# (tests/portable/test_fw_modbus.py) and, on the host, against pymodbus (tests/sim).
#
# Application Protocol V1.1b3 and Serial Line V1.02 in short:
#   ADU = slave address | function code | data | CRC-16/MODBUS, low byte first
#   01 read coils / 02 read discrete inputs:  request  ADDR QTY (u16 big-endian each)
#                                             reply    BYTE_COUNT BITS... (LSB of the first byte = first bit)
#   05 write single coil:                     request  ADDR FF00 (on) | 0000 (off), reply = echo
#   0F write multiple coils:                  request  ADDR QTY BYTE_COUNT BITS..., reply ADDR QTY
#   exception reply: function code | 0x80, one exception code byte
READ_COILS = 0x01
READ_INPUTS = 0x02
WRITE_COIL = 0x05
WRITE_COILS = 0x0F
ON = 0xFF00
OFF = 0x0000
EXC_BUSY = 0x06  # "server device busy": the request was not executed, the master may send it again


def crc16(data, start=0, end=None):
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF) of data[start:end]."""
    if end is None:
        end = len(data)
    crc = 0xFFFF
    for i in range(start, end):
        crc ^= data[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def _adu(b):
    c = crc16(b)
    b.append(c & 0xFF)
    b.append(c >> 8)
    return bytes(b)


def _request(slave, fc, a, b):
    return _adu(bytearray((slave, fc, a >> 8, a & 0xFF, b >> 8, b & 0xFF)))


def read_coils(slave, addr, qty):
    return _request(slave, READ_COILS, addr, qty)


def read_inputs(slave, addr, qty):
    return _request(slave, READ_INPUTS, addr, qty)


def write_coil(slave, addr, value):
    """05 with value ON / OFF (a module's own commands, such as a timed "flash", put other values here)."""
    return _request(slave, WRITE_COIL, addr, value)


def write_coils(slave, addr, qty, bits):
    """0F: coils addr.. addr+qty-1 from the int bits (bit k = coil addr+k)."""
    n = (qty + 7) // 8
    b = bytearray((slave, WRITE_COILS, addr >> 8, addr & 0xFF, qty >> 8, qty & 0xFF, n))
    for k in range(n):
        b.append((bits >> (8 * k)) & 0xFF)
    return _adu(b)


def reply_len(buf, i):
    """Length of a well-formed reply frame (its CRC right) starting at buf[i], else 0 (not one, or not
    all of it here yet). A reply's length follows from its function code: no gap timing needed."""
    n = len(buf) - i
    if n < 5:
        return 0
    fc = buf[i + 1]
    if fc & 0x80:
        ln = 5
    elif fc in (1, 2, 3, 4):
        ln = 5 + buf[i + 2]
    elif fc in (5, 6, 15, 16):
        ln = 8
    else:
        return 0
    if n < ln or crc16(buf, i, i + ln - 2) != buf[i + ln - 2] | (buf[i + ln - 1] << 8):
        return 0
    return ln


def bits(reply, qty):
    """The bits of a 01/02 reply as an int, bit k = the k-th coil or input asked for."""
    v = 0
    for k in range(min(reply[2], (qty + 7) // 8)):
        v |= reply[3 + k] << (8 * k)
    return v & ((1 << qty) - 1)
