"""Errors say whose fault they are (as in h11).

LocalProtocolError: we misused the protocol (bad field, payload too big, request while one is
outstanding). RemoteProtocolError: the peer sent something invalid. Both carry `code`, a NAK code
that names the problem on the wire. NakError is what a board's command handler raises to refuse a
command with a NAK.
"""
from protocol._compat import const

# NAK codes (payload byte 0 of a NAK reply). Keep in sync with PROTOCOL.md.
NAK_BAD_AUTH = const(1)        # tag missing/wrong for this board's key
NAK_REPLAY = const(2)          # counter <= last accepted counter (detail = last accepted)
NAK_UNKNOWN_TYPE = const(3)    # message type not defined (or not a request)
NAK_BAD_PAYLOAD = const(4)     # payload does not parse, or a field is out of range
NAK_BUSY = const(5)            # board cannot do it now (e.g. lock driver busy); retry later, new seq
NAK_NOT_SUPPORTED = const(6)   # defined type, but this board lacks the feature
NAK_BAD_STATE = const(7)       # not valid in the current state (e.g. FW_CHUNK before FW_BEGIN)
NAK_AUTH_REQUIRED = const(8)   # state-changing command sent without AUTH
NAK_INTERNAL = const(9)        # the board failed (handler crashed, counter store failed)
NAK_NOT_PROVISIONED = const(10)  # the board has no key yet, so it cannot accept AUTH commands

NAK_NAMES = {
    NAK_BAD_AUTH: "BAD_AUTH",
    NAK_REPLAY: "REPLAY",
    NAK_UNKNOWN_TYPE: "UNKNOWN_TYPE",
    NAK_BAD_PAYLOAD: "BAD_PAYLOAD",
    NAK_BUSY: "BUSY",
    NAK_NOT_SUPPORTED: "NOT_SUPPORTED",
    NAK_BAD_STATE: "BAD_STATE",
    NAK_AUTH_REQUIRED: "AUTH_REQUIRED",
    NAK_INTERNAL: "INTERNAL",
    NAK_NOT_PROVISIONED: "NOT_PROVISIONED",
}


def nak_name(code):
    return NAK_NAMES.get(code, "NAK_%d" % code)


class ProtocolError(Exception):
    def __init__(self, message, code=NAK_BAD_PAYLOAD):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


class LocalProtocolError(ProtocolError):
    """We (this side) tried to do something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class NakError(Exception):
    """Raised by a board command handler to answer with NAK `code` (and a u32 `detail`)."""

    def __init__(self, code, detail=0, message=""):
        super().__init__(message or nak_name(code))
        self.code = code
        self.detail = detail
