"""Bus timing rules (PROTOCOL.md, "Timing"). All helpers are pure arithmetic.

Characters are 8N1: 10 bit times each. The inter-frame gap is 3.5 character times, but never less
than 1750 us (as Modbus RTU fixes it above 19200 baud), to leave RS-485 transceivers time to turn
the line around.
"""
from protocol import messages as m
from protocol.frame import MAX_WIRE

BITS_PER_CHAR = 10
MIN_GAP_US = 1750

# Worst-case time a board may take between the end of a request and the start of its reply.
PROCESS_DEFAULT_MS = 50          # read-only commands answered from RAM
PROCESS_FLASH_MS = 300           # commands that write flash (counter persisted first, then the change)
LOCK_PULSE_MAX_MS = 500          # longest lock-coil pulse a board gives
OPEN_CONFIRM_MS = 1500           # how long after the pulse a board waits for the door sensor
PROCESS_OPEN_MS = 2500           # pulse + confirmation window + journal write, with slack
PROCESS_COMMIT_MS = 5000         # sha256 over the whole firmware image
_FLASH_TYPES = (m.SET_CODE, m.CLEAR_CODE, m.EVENTS_ACK, m.TIME_SET, m.CONFIG_SET, m.REBOOT,
                m.FW_BEGIN, m.FW_CHUNK, m.FW_CONFIRM)

REPLY_MARGIN_MS = 20             # scheduling slack on the host (USB serial latency etc.)
MAX_ATTEMPTS = 3                 # a request is sent at most this often (same bytes every time)


def char_time_us(baud, bits=BITS_PER_CHAR):
    """Microseconds one character takes on the wire."""
    return bits * 1000000.0 / baud


def inter_frame_gap_us(baud):
    """Silence a node keeps after the last byte on the bus before it transmits."""
    g = 3.5 * char_time_us(baud)
    return g if g > MIN_GAP_US else float(MIN_GAP_US)


def wire_time_s(nbytes, baud):
    """Seconds `nbytes` take on the wire."""
    return nbytes * BITS_PER_CHAR / float(baud)


def max_frame_time_s(baud):
    """Seconds the largest possible frame takes on the wire: MAX_WIRE bytes (COBS body and its
    delimiter) plus the leading 0x00 sessions send first."""
    return wire_time_s(MAX_WIRE + 1, baud)


def processing_ms(msg_type, auth=None):
    """The board's budget for msg_type. An authenticated command (auth None: the types that require
    it) writes flash at least once, since the board persists the counter before acting."""
    if auth is None:
        auth = m.requires_auth(msg_type)
    if msg_type == m.OPEN:
        return PROCESS_OPEN_MS
    if msg_type == m.FW_COMMIT:
        return PROCESS_COMMIT_MS
    if auth or msg_type in _FLASH_TYPES:
        return PROCESS_FLASH_MS
    return PROCESS_DEFAULT_MS


def reply_timeout_s(msg_type, baud, auth=None):
    """How long the host waits, from the end of sending a request, for the end of its reply.

    gap + the board's processing budget for this type + the longest reply on the wire + margin.
    """
    return (inter_frame_gap_us(baud) / 1e6 + processing_ms(msg_type, auth) / 1000.0 +
            max_frame_time_s(baud) + REPLY_MARGIN_MS / 1000.0)
