"""Message types and their payloads: fixed binary layouts, big-endian, described by one table.

encode_payload(msg_type, fields, is_reply) turns a dict into payload bytes (LocalProtocolError on a
bad dict: it is our mistake); decode_payload(msg_type, payload, is_reply) does the reverse
(RemoteProtocolError with code NAK_BAD_PAYLOAD on bad bytes: the peer's mistake). Lists come back
as lists, records as dicts, strings as str, byte fields as bytes.
"""
from protocol._compat import const
from protocol.errors import NAK_BAD_PAYLOAD, NAK_UNKNOWN_TYPE, LocalProtocolError, RemoteProtocolError
from protocol.frame import MAX_PAYLOAD

# ---- message types (requests; a reply has the same type, or NAK) --------------------------------
# read-only: may be sent without AUTH
HELLO = const(0x01)
STATUS = const(0x02)
TIME_GET = const(0x03)
EVENTS = const(0x04)
CONFIG_GET = const(0x05)
FW_STATUS = const(0x06)
# state-changing: AUTH required
OPEN = const(0x10)
SET_CODE = const(0x11)
CLEAR_CODE = const(0x12)
EVENTS_ACK = const(0x13)
TIME_SET = const(0x14)
CONFIG_SET = const(0x15)
REBOOT = const(0x16)
OPEN_BY = const(0x17)            # OPEN with a deadline: refused once the board's clock is past it
SET_PEER_CODE = const(0x18)      # a code of another board of the same locker (kind 0: forget it)
FW_BEGIN = const(0x20)
FW_CHUNK = const(0x21)
FW_COMMIT = const(0x22)
FW_CONFIRM = const(0x23)
# reply only
NAK = const(0x7F)

TYPE_NAMES = {
    HELLO: "HELLO", STATUS: "STATUS", TIME_GET: "TIME_GET", EVENTS: "EVENTS", CONFIG_GET: "CONFIG_GET",
    FW_STATUS: "FW_STATUS", OPEN: "OPEN", SET_CODE: "SET_CODE", CLEAR_CODE: "CLEAR_CODE",
    EVENTS_ACK: "EVENTS_ACK", TIME_SET: "TIME_SET", CONFIG_SET: "CONFIG_SET", REBOOT: "REBOOT", OPEN_BY: "OPEN_BY",
    SET_PEER_CODE: "SET_PEER_CODE",
    FW_BEGIN: "FW_BEGIN", FW_CHUNK: "FW_CHUNK", FW_COMMIT: "FW_COMMIT", FW_CONFIRM: "FW_CONFIRM",
    NAK: "NAK",
}
TYPES_BY_NAME = {}
for _t in TYPE_NAMES:
    TYPES_BY_NAME[TYPE_NAMES[_t]] = _t

AUTH_REQUIRED = (OPEN, OPEN_BY, SET_CODE, SET_PEER_CODE, CLEAR_CODE, EVENTS_ACK, TIME_SET, CONFIG_SET, REBOOT,
                 FW_BEGIN, FW_CHUNK, FW_COMMIT, FW_CONFIRM)


def type_name(msg_type):
    return TYPE_NAMES.get(msg_type, "0x%02x" % msg_type)


def requires_auth(msg_type):
    return msg_type in AUTH_REQUIRED


def is_request_type(msg_type):
    return msg_type in TYPE_NAMES and msg_type != NAK


# ---- field values ---------------------------------------------------------------------------------
# capabilities (HELLO reply, u16 bitmask)
CAP_DOOR_SENSORS = const(0x0001)
CAP_OCCUPANCY = const(0x0002)
CAP_CHILLED = const(0x0004)
CAP_KEYPAD = const(0x0008)
CAP_QR_SCANNER = const(0x0010)
CAP_FW_UPDATE = const(0x0020)
CAP_RTC = const(0x0040)
CAP_LOCK_BOARD = const(0x0080)   # locks driven through a commercial lock board on a UART
CAP_OPEN_DEADLINE = const(0x0100)  # understands OPEN_BY
CAP_PEER_CODES = const(0x0200)   # holds its locker's other boards' codes (SET_PEER_CODE, EV_PEER_CODE)

# reset causes (HELLO reply)
RESET_UNKNOWN = const(0)
RESET_POWER_ON = const(1)
RESET_HARD = const(2)
RESET_WATCHDOG = const(3)
RESET_DEEPSLEEP = const(4)
RESET_SOFT = const(5)
RESET_BROWNOUT = const(6)
RESET_FW_UPDATE = const(7)

# per-compartment state byte (STATUS reply)
ST_LOCKED = const(0x01)          # bolt engaged
ST_DOOR_OPEN = const(0x02)       # door sensor says open
ST_OCCUPIED = const(0x04)        # occupancy sensor says something is inside
ST_CODE_SET = const(0x08)        # a pickup/drop-off code is installed
ST_FAULT_LOCK = const(0x10)
ST_FAULT_DOOR_SENSOR = const(0x20)
ST_FAULT_OCCUPANCY = const(0x40)
ST_NO_OCCUPANCY_SENSOR = const(0x80)

TEMP_INVALID = const(-32768)     # temperature not available (probe missing/faulty)

# OPEN reasons
REASON_PICKUP = const(1)
REASON_DEPOSIT = const(2)
REASON_COLLECT = const(3)        # courier collects an outbound (sent) parcel
REASON_DROPOFF = const(4)        # villager drops off a parcel to send
REASON_OPERATOR = const(5)
REASON_MAINTENANCE = const(6)
REASON_RETURN = const(7)

# OPEN results
OPEN_OPENED = const(0)           # pulse given and the door sensor confirmed the door opened
OPEN_ALREADY_OPEN = const(1)     # door was open already; no pulse
OPEN_JAMMED = const(2)           # pulse given, no door movement
OPEN_SENSOR_FAULT = const(3)     # pulse given, door sensor faulty so the opening is unconfirmed
OPEN_REFUSED = const(4)          # no pulse; see refusal detail
OPEN_RESULT_NAMES = {0: "OPENED", 1: "ALREADY_OPEN", 2: "JAMMED", 3: "SENSOR_FAULT", 4: "REFUSED"}

# OPEN refusal detail (OPEN reply `detail` when result is REFUSED; 0 otherwise)
REFUSE_NONE = const(0)
REFUSE_NO_SUCH_COMPARTMENT = const(1)
REFUSE_OUT_OF_SERVICE = const(2)
REFUSE_THROTTLED = const(3)
REFUSE_LOCK_FAULT = const(4)
REFUSE_BUSY = const(5)
REFUSE_LATE = const(6)           # OPEN_BY after its deadline (or with the board's clock not set)

# code kinds (SET_CODE)
CODE_PICKUP = const(1)
CODE_DROPOFF = const(2)

# firmware update states (FW_STATUS / FW_CONFIRM replies)
FW_IDLE = const(0)
FW_RECEIVING = const(1)
FW_READY = const(2)              # image complete and verified; boots on next reboot
FW_TESTING = const(3)            # running a new image not yet confirmed; rolls back on reset

# FW_COMMIT results
FW_OK = const(0)
FW_SIZE_MISMATCH = const(1)
FW_HASH_MISMATCH = const(2)
FW_NO_IMAGE = const(3)
FW_WRITE_ERROR = const(4)

FW_CHUNK_MAX = const(224)        # data bytes in one FW_CHUNK (offset(4) + 224 <= MAX_PAYLOAD)

# event kinds (EVENTS reply records)
EV_BOOT = const(1)
EV_DOOR_OPENED = const(2)
EV_DOOR_CLOSED = const(3)
EV_OPEN_RESULT = const(4)
EV_PICKUP_OFFLINE = const(5)
EV_FORCED_DOOR = const(6)
EV_DOOR_LEFT_OPEN = const(7)
EV_SENSOR_FAULT = const(8)
EV_THROTTLED = const(9)
EV_TEMPERATURE = const(10)
EV_TEMP_EXCURSION = const(11)
EV_CODE_EXPIRED = const(12)
EV_CODE_REJECTED = const(13)
EV_DROPOFF_OFFLINE = const(14)
EV_FW_UPDATED = const(15)
EV_FW_ROLLBACK = const(16)
EV_CONFIG_CHANGED = const(17)
EV_TIME_SET = const(18)
EV_LOCK_FAULT = const(19)
EV_EVENTS_LOST = const(20)
EV_PEER_CODE = const(21)
EVENT_NAMES = {
    1: "BOOT", 2: "DOOR_OPENED", 3: "DOOR_CLOSED", 4: "OPEN_RESULT", 5: "PICKUP_OFFLINE",
    6: "FORCED_DOOR", 7: "DOOR_LEFT_OPEN", 8: "SENSOR_FAULT", 9: "THROTTLED", 10: "TEMPERATURE",
    11: "TEMP_EXCURSION", 12: "CODE_EXPIRED", 13: "CODE_REJECTED", 14: "DROPOFF_OFFLINE",
    15: "FW_UPDATED", 16: "FW_ROLLBACK", 17: "CONFIG_CHANGED", 18: "TIME_SET", 19: "LOCK_FAULT",
    20: "EVENTS_LOST", 21: "PEER_CODE",
}
EVENT_DATA_MAX = const(16)

# ---- layouts --------------------------------------------------------------------------------------
# A layout is a tuple of (name, kind, arg). Kinds:
_U8 = const(1)
_U16 = const(2)
_U32 = const(3)
_I16 = const(4)
_BYTES = const(5)    # arg = exact length
_STR = const(6)      # u8 length + UTF-8, arg = max bytes
_BLOB = const(7)     # u8 length + bytes, arg = max bytes
_REST = const(8)     # all remaining payload bytes, arg = max bytes
_LIST = const(9)     # u8 count + items; arg = (max count, item kind, item arg)
_RECORDS = const(10)  # u8 count + records; arg = (max count, layout)

_EVENT = (("seq", _U32, 0), ("time", _U32, 0), ("kind", _U8, 0), ("compartment", _U8, 0),
          ("data", _BLOB, EVENT_DATA_MAX))
_CONFIG_ITEM = (("key", _STR, 16), ("value", _STR, 32))

# (request layout, reply layout) per type
LAYOUTS = {
    HELLO: ((), (("protocol_version", _U8, 0), ("board_id", _BLOB, 16), ("fw_version", _STR, 32),
                 ("compartments", _U8, 0), ("chilled_zones", _U8, 0), ("capabilities", _U16, 0),
                 ("reset_cause", _U8, 0))),
    STATUS: ((), (("time", _U32, 0), ("events_pending", _U16, 0),
                  ("compartments", _LIST, (128, _U8, 0)), ("temperatures", _LIST, (8, _I16, 0)))),
    TIME_GET: ((), (("time", _U32, 0), ("uptime_s", _U32, 0))),
    EVENTS: ((("cursor", _U32, 0), ("max_count", _U8, 0)),
             (("more", _U8, 0), ("events", _RECORDS, (16, _EVENT)))),
    CONFIG_GET: ((("keys", _LIST, (8, _STR, 16)),), (("items", _RECORDS, (8, _CONFIG_ITEM)),)),
    FW_STATUS: ((), (("state", _U8, 0), ("size", _U32, 0), ("received", _U32, 0),
                     ("running_version", _STR, 32))),
    OPEN: ((("compartment", _U8, 0), ("reason", _U8, 0), ("reference", _U32, 0)),
           (("compartment", _U8, 0), ("result", _U8, 0), ("detail", _U8, 0), ("event_seq", _U32, 0))),
    OPEN_BY: ((("compartment", _U8, 0), ("reason", _U8, 0), ("reference", _U32, 0), ("deadline", _U32, 0)),
              (("compartment", _U8, 0), ("result", _U8, 0), ("detail", _U8, 0), ("event_seq", _U32, 0))),
    SET_CODE: ((("compartment", _U8, 0), ("kind", _U8, 0), ("salt", _BYTES, 8), ("code_hash", _BYTES, 16),
                ("expiry", _U32, 0)),
               (("compartment", _U8, 0),)),
    CLEAR_CODE: ((("compartment", _U8, 0),), (("compartment", _U8, 0), ("cleared", _U8, 0))),
    SET_PEER_CODE: ((("board", _U8, 0), ("compartment", _U8, 0), ("kind", _U8, 0), ("salt", _BYTES, 8),
                     ("code_hash", _BYTES, 16), ("expiry", _U32, 0)),
                    (("board", _U8, 0), ("compartment", _U8, 0), ("held", _U8, 0))),
    EVENTS_ACK: ((("upto", _U32, 0),), (("acked", _U32, 0), ("pending", _U16, 0))),
    TIME_SET: ((("time", _U32, 0),), (("previous", _U32, 0),)),
    CONFIG_SET: ((("items", _RECORDS, (8, _CONFIG_ITEM)),), (("applied", _U8, 0),)),
    REBOOT: ((("delay_ms", _U16, 0),), ()),
    FW_BEGIN: ((("size", _U32, 0), ("sha256", _BYTES, 32), ("version", _STR, 32)),
               (("chunk_size", _U8, 0),)),
    FW_CHUNK: ((("offset", _U32, 0), ("data", _REST, FW_CHUNK_MAX)), (("received", _U32, 0),)),
    FW_COMMIT: ((), (("result", _U8, 0),)),
    FW_CONFIRM: ((), (("state", _U8, 0),)),
    NAK: (None, (("code", _U8, 0), ("request_type", _U8, 0), ("detail", _U32, 0))),
}


def layout(msg_type, is_reply):
    """The layout tuple, or None if the type has no such direction."""
    pair = LAYOUTS.get(msg_type)
    if pair is None:
        return None
    return pair[1] if is_reply else pair[0]


# ---- encoding -------------------------------------------------------------------------------------
_RANGES = {_U8: (0, 0xFF), _U16: (0, 0xFFFF), _U32: (0, 0xFFFFFFFF), _I16: (-0x8000, 0x7FFF)}


def _put_scalar(out, name, kind, arg, v):
    if kind in _RANGES:
        lo, hi = _RANGES[kind]
        if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
            raise LocalProtocolError("field %s: int in %d..%d expected, got %r" % (name, lo, hi, v))
        if kind == _I16:
            v &= 0xFFFF
        if kind == _U32:
            out.append((v >> 24) & 0xFF)
            out.append((v >> 16) & 0xFF)
        if kind != _U8:
            out.append((v >> 8) & 0xFF)
        out.append(v & 0xFF)
        return
    if kind == _STR:
        if not isinstance(v, str):
            raise LocalProtocolError("field %s: str expected, got %r" % (name, v))
        v = v.encode()
    elif not isinstance(v, (bytes, bytearray)):
        raise LocalProtocolError("field %s: bytes expected, got %r" % (name, v))
    if kind == _BYTES:
        if len(v) != arg:
            raise LocalProtocolError("field %s: exactly %d bytes expected, got %d" % (name, arg, len(v)))
    elif len(v) > arg:
        raise LocalProtocolError("field %s: at most %d bytes, got %d" % (name, arg, len(v)))
    if kind == _STR or kind == _BLOB:
        out.append(len(v))
    out.extend(v)


def _put_fields(out, lay, fields):
    if not isinstance(fields, dict):
        raise LocalProtocolError("fields must be a dict, got %r" % (fields,))
    if len(fields) != len(lay):
        names = [f[0] for f in lay]
        for k in fields:
            if k not in names:
                raise LocalProtocolError("unknown field %r (expected %s)" % (k, ", ".join(names)))
    for name, kind, arg in lay:
        if name not in fields:
            raise LocalProtocolError("missing field %r" % name)
        v = fields[name]
        if kind == _LIST or kind == _RECORDS:
            if not isinstance(v, (list, tuple)) or len(v) > arg[0]:
                raise LocalProtocolError("field %s: list of at most %d items expected" % (name, arg[0]))
            out.append(len(v))
            for item in v:
                if kind == _LIST:
                    _put_scalar(out, name, arg[1], arg[2], item)
                else:
                    _put_fields(out, arg[1], item)
        else:
            _put_scalar(out, name, kind, arg, v)


def encode_payload(msg_type, fields=None, is_reply=False):
    """Payload bytes for msg_type from a dict of fields (None means no fields)."""
    lay = layout(msg_type, is_reply)
    if lay is None:
        raise LocalProtocolError("no %s layout for message type %s" % (
            "reply" if is_reply else "request", type_name(msg_type)), NAK_UNKNOWN_TYPE)
    out = bytearray()
    _put_fields(out, lay, {} if fields is None else fields)
    if len(out) > MAX_PAYLOAD:
        raise LocalProtocolError("%s payload of %d bytes exceeds MAX_PAYLOAD %d" % (
            type_name(msg_type), len(out), MAX_PAYLOAD))
    return bytes(out)


# ---- decoding -------------------------------------------------------------------------------------
def _bad(msg):
    return RemoteProtocolError(msg, NAK_BAD_PAYLOAD)


def _get_scalar(p, i, name, kind, arg):
    n = len(p)
    if kind == _U8:
        if i + 1 > n:
            raise _bad("field %s: payload too short" % name)
        return p[i], i + 1
    if kind == _U16 or kind == _I16:
        if i + 2 > n:
            raise _bad("field %s: payload too short" % name)
        v = (p[i] << 8) | p[i + 1]
        if kind == _I16 and v & 0x8000:
            v -= 0x10000
        return v, i + 2
    if kind == _U32:
        if i + 4 > n:
            raise _bad("field %s: payload too short" % name)
        return (p[i] << 24) | (p[i + 1] << 16) | (p[i + 2] << 8) | p[i + 3], i + 4
    if kind == _BYTES:
        ln = arg
    elif kind == _REST:
        ln = n - i
    else:
        if i + 1 > n:
            raise _bad("field %s: payload too short" % name)
        ln = p[i]
        i += 1
    if ln > arg:
        raise _bad("field %s: %d bytes exceeds the maximum %d" % (name, ln, arg))
    if i + ln > n:
        raise _bad("field %s: payload too short" % name)
    v = bytes(p[i:i + ln])
    if kind == _STR:
        v = _utf8(v)
        if v is None:  # raised outside the except clause: MicroPython warns on exception chaining
            raise _bad("field %s: not UTF-8" % name)
    return v, i + ln


def _utf8(b):
    try:
        return b.decode()
    except UnicodeError:
        return None


def _get_fields(p, i, lay):
    d = {}
    for name, kind, arg in lay:
        if kind == _LIST or kind == _RECORDS:
            if i + 1 > len(p):
                raise _bad("field %s: payload too short" % name)
            count = p[i]
            i += 1
            if count > arg[0]:
                raise _bad("field %s: %d items exceeds the maximum %d" % (name, count, arg[0]))
            items = []
            for _ in range(count):
                if kind == _LIST:
                    v, i = _get_scalar(p, i, name, arg[1], arg[2])
                else:
                    v, i = _get_fields(p, i, arg[1])
                items.append(v)
            d[name] = items
        else:
            d[name], i = _get_scalar(p, i, name, kind, arg)
    return d, i


def decode_payload(msg_type, payload, is_reply=False):
    """Dict of fields from payload bytes. RemoteProtocolError (NAK_BAD_PAYLOAD / NAK_UNKNOWN_TYPE)."""
    lay = layout(msg_type, is_reply)
    if lay is None:
        raise RemoteProtocolError("no %s layout for message type %s" % (
            "reply" if is_reply else "request", type_name(msg_type)), NAK_UNKNOWN_TYPE)
    d, i = _get_fields(payload, 0, lay)
    if i != len(payload):
        raise _bad("%s: %d unexpected trailing bytes" % (type_name(msg_type), len(payload) - i))
    return d


# ---- event data -----------------------------------------------------------------------------------
# The `data` blob of an event record, per kind (kinds not listed carry no data). Firmware writes it
# with encode_event_data, the server reads it with decode_event_data; both sides share this table.
EVENT_DATA_LAYOUTS = {
    EV_BOOT: (("reset_cause", _U8, 0),),
    EV_OPEN_RESULT: (("result", _U8, 0), ("reason", _U8, 0), ("reference", _U32, 0)),
    EV_PICKUP_OFFLINE: (("code_id", _BYTES, 4),),      # first 4 bytes of the installed code_hash
    EV_DROPOFF_OFFLINE: (("code_id", _BYTES, 4),),
    EV_CODE_EXPIRED: (("code_id", _BYTES, 4),),
    EV_CODE_REJECTED: (("failures", _U8, 0),),          # consecutive wrong codes so far
    EV_THROTTLED: (("lockout_s", _U16, 0),),
    EV_DOOR_LEFT_OPEN: (("open_s", _U16, 0),),
    EV_TEMPERATURE: (("zone", _U8, 0), ("temp_c10", _I16, 0)),
    EV_TEMP_EXCURSION: (("zone", _U8, 0), ("temp_c10", _I16, 0)),
    EV_SENSOR_FAULT: (("faults", _U8, 0),),             # ST_FAULT_* bits
    EV_LOCK_FAULT: (("faults", _U8, 0),),
    EV_TIME_SET: (("previous", _U32, 0),),
    EV_EVENTS_LOST: (("count", _U32, 0),),
    EV_PEER_CODE: (("board", _U8, 0), ("compartment", _U8, 0), ("code_id", _BYTES, 4)),
    EV_FW_UPDATED: (("version", _STR, 15),),
    EV_FW_ROLLBACK: (("version", _STR, 15),),
    EV_CONFIG_CHANGED: (("key", _STR, 15),),
}


def encode_event_data(kind, fields=None):
    """The data blob for an event of `kind` (LocalProtocolError on bad fields)."""
    out = bytearray()
    _put_fields(out, EVENT_DATA_LAYOUTS.get(kind, ()), {} if fields is None else fields)
    return bytes(out)


def decode_event_data(kind, data):
    """Fields of an event's data blob (RemoteProtocolError if it does not match its kind's layout)."""
    d, i = _get_fields(data, 0, EVENT_DATA_LAYOUTS.get(kind, ()))
    if i != len(data):
        raise _bad("event %s: %d unexpected trailing data bytes" % (EVENT_NAMES.get(kind, kind), len(data) - i))
    return d
