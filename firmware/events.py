# Event kinds the board journals -- the same numbers as protocol.messages EV_* (a test checks it)
# -- and the journal payload layout, which is the wire record minus its sequence number:
#     kind u8 | compartment u8 (numbered from 1; 0 = the board) | unix time u32 | data (<= 16 bytes)
# Data layouts start with what PROTOCOL.md section 4.1 fixes; bytes after that are extras this
# firmware adds (a reader that knows only the spec layout can ignore them).
from firmware.compat import const

BOOT = const(1)  # board; data: reset cause u8 (protocol RESET_*)
DOOR_OPENED = const(2)  # data: why u8 (WHY_*)
DOOR_CLOSED = const(3)  # data: occupied u8 (0 empty, 1 occupied, 2 no sensor)
OPEN_RESULT = const(4)  # data: result u8 (OPEN_*), reason u8, reference u32; extra: source u8 (SRC_*)
PICKUP_OFFLINE = const(5)  # a pickup code opened the door: data: code hash[:4]; extra: source u8
FORCED_DOOR = const(6)  # door opened with no command or code
DOOR_LEFT_OPEN = const(7)  # data: seconds open u16
SENSOR_FAULT = const(8)  # data: fault bits u8 (0x20 door sensor; 0 = cleared); extra: what u8 (WHAT_*)
#                          a temperature probe: board; data: 0xFF faulty / 0 cleared, WHAT_PROBE, zone u8
THROTTLED = const(9)  # board; data: lock-out seconds u16, wrong attempts u16
TEMPERATURE = const(10)  # board; data: zone u8, tenths of a degree i16; extra: relay u8
TEMP_EXCURSION = const(11)  # board; data: zone u8, tenths i16; extra: state u8 (1 began, 0 ended), seconds u16
CODE_EXPIRED = const(12)  # data: code hash[:4]; extra: source u8
CODE_REJECTED = const(13)  # board; data: source u8, wrong attempts u16
DROPOFF_OFFLINE = const(14)  # a drop-off code opened the door: data: code hash[:4]; extra: source u8
CONFIG_CHANGED = const(17)  # board; data: settings changed u8
TIME_SET = const(18)  # board; data: previous unix time u32
LOCK_FAULT = const(19)  # board; data: fault bits u8 (0x10; 0 = answering again); extra: lock board u8
EVENTS_LOST = const(20)  # board; data: records refused while the journal was full u32

NAMES = {
    1: "BOOT", 2: "DOOR_OPENED", 3: "DOOR_CLOSED", 4: "OPEN_RESULT", 5: "PICKUP_OFFLINE",
    6: "FORCED_DOOR", 7: "DOOR_LEFT_OPEN", 8: "SENSOR_FAULT", 9: "THROTTLED", 10: "TEMPERATURE",
    11: "TEMP_EXCURSION", 12: "CODE_EXPIRED", 13: "CODE_REJECTED", 14: "DROPOFF_OFFLINE",
    17: "CONFIG_CHANGED", 18: "TIME_SET", 19: "LOCK_FAULT", 20: "EVENTS_LOST",
}

# Kinds that may use the journal's reserve segment when it is full of unacknowledged records.
CRITICAL = (DOOR_OPENED, FORCED_DOOR, OPEN_RESULT, PICKUP_OFFLINE, DROPOFF_OFFLINE, SENSOR_FAULT,
            LOCK_FAULT, EVENTS_LOST)

# Why a door opened (DOOR_OPENED data), and who asked for an unlock.
WHY_HOST = const(1)
WHY_CODE = const(2)
WHY_FORCED = const(3)
WHY_UNKNOWN = const(4)  # opened while its sensor is faulty, or after a failed unlock
SRC_HOST = const(1)
SRC_KEYPAD = const(2)
SRC_SCANNER = const(3)

# Unlock results: the same numbers as protocol.messages OPEN_*.
OPENED = const(0)
ALREADY_OPEN = const(1)
JAMMED = const(2)
SENSOR_FAULTY = const(3)
REFUSED = const(4)
RESULT_NAMES = ("OPENED", "ALREADY_OPEN", "JAMMED", "SENSOR_FAULT", "REFUSED")

# Refusal details: protocol.messages REFUSE_*.
REFUSE_NONE = const(0)
REFUSE_NO_SUCH_COMPARTMENT = const(1)
REFUSE_OUT_OF_SERVICE = const(2)
REFUSE_THROTTLED = const(3)
REFUSE_LOCK_FAULT = const(4)
REFUSE_BUSY = const(5)

WHAT_DOOR = const(1)
WHAT_FEEDBACK = const(2)
WHAT_PROBE = const(3)

BOARD = const(-1)  # App.emit() writes it as compartment 0
FAULT_DOOR = const(0x20)
FAULT_LOCK = const(0x10)


def pack(kind, comp, unix, data=b""):
    """comp: compartment index from 0, or BOARD."""
    b = bytearray(6 + len(data))
    b[0] = kind
    b[1] = 0 if comp < 0 else comp + 1
    b[2:6] = (unix & 0xFFFFFFFF).to_bytes(4, "big")
    b[6:] = data
    return b


def unpack(payload):
    """(kind, compartment as on the wire (from 1, 0 = board), unix, data)."""
    return payload[0], payload[1], int.from_bytes(payload[2:6], "big"), bytes(payload[6:])


def u16(v):
    v = 0 if v < 0 else (0xFFFF if v > 0xFFFF else v)
    return bytes(((v >> 8) & 0xFF, v & 0xFF))


def i16(v):
    v = -32768 if v < -32768 else (32767 if v > 32767 else v)
    return (v & 0xFFFF).to_bytes(2, "big")
