# Event kinds the board journals -- the same numbers as protocol.messages EV_* -- and the journal
# payload layout, which is the wire record minus its sequence number:
#     kind u8 | compartment u8 (numbered from 1; 0 = the board) | unix time u32 | data
# `data` follows protocol.messages.EVENT_DATA_LAYOUTS exactly (the tests decode every event the
# board writes with decode_event_data).
from firmware.compat import const

# Refusal details of an unlock (ev.REFUSE_*) are the protocol's own numbers, defined once there.
from protocol.messages import (  # noqa: F401 - re-exported
    REFUSE_BUSY,
    REFUSE_LATE,
    REFUSE_LOCK_FAULT,
    REFUSE_NO_SUCH_COMPARTMENT,
    REFUSE_NONE,
    REFUSE_OUT_OF_SERVICE,
    REFUSE_THROTTLED,
)

BOOT = const(1)  # board; reset_cause u8 (protocol RESET_*)
DOOR_OPENED = const(2)  # no data
DOOR_CLOSED = const(3)  # no data (what is inside: STATUS)
OPEN_RESULT = const(4)  # result u8 (OPEN_*), reason u8, reference u32 (0 for codes typed or scanned)
PICKUP_OFFLINE = const(5)  # a pickup code opened the door: code_id = code hash[:4]
FORCED_DOOR = const(6)  # door opened with no command or code (after its DOOR_OPENED)
DOOR_LEFT_OPEN = const(7)  # open_s u16
SENSOR_FAULT = const(8)  # faults u8: 0x20 (door switch) when it begins, 0 when it is cleared
THROTTLED = const(9)  # board; lockout_s u16
TEMPERATURE = const(10)  # board; zone u8, temp_c10 i16 (-32768: probe failed)
TEMP_EXCURSION = const(11)  # board; zone u8, temp_c10 i16 (when it begins; a TEMPERATURE ends it)
CODE_EXPIRED = const(12)  # an expired code was typed or scanned: code_id
CODE_REJECTED = const(13)  # board; failures u8 (wrong codes in a row)
DROPOFF_OFFLINE = const(14)  # a drop-off code opened the door: code_id
CONFIG_CHANGED = const(17)  # board; key str (u8 length + bytes), one event per key changed
TIME_SET = const(18)  # board; previous u32
LOCK_FAULT = const(19)  # board; faults u8: 0x10 when a lock board stops answering
EVENTS_LOST = const(20)  # board; count u32: records refused while the journal was full
PEER_CODE = const(21)  # board; board u8, compartment u8, code_id: a right code for another board's door

# Kinds that may use the journal's reserve segment when it is full of unacknowledged records.
CRITICAL = (DOOR_OPENED, FORCED_DOOR, OPEN_RESULT, PICKUP_OFFLINE, DROPOFF_OFFLINE, SENSOR_FAULT,
            LOCK_FAULT, EVENTS_LOST, PEER_CODE)

# Who asked for an unlock.
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


TEMP_INVALID = const(-32768)

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
