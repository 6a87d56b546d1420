"""Generate protocol/test_vectors.json from sample messages, using the protocol package itself.

The JSON is committed; tests check that the code reproduces and decodes every vector, so a change
that alters the wire format shows up as a diff in the vectors (regenerate deliberately, then review).
Usage: python tools/gen_protocol_vectors.py [OUT]   (default protocol/test_vectors.json)
"""
import hashlib
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from protocol import cobs  # noqa: E402
from protocol import messages as m  # noqa: E402
from protocol.auth import code_hash  # noqa: E402
from protocol.errors import NakError, nak_name  # noqa: E402
from protocol.frame import FLAG_REPLY, MAX_BODY, decode_wire, encode_body, encode_frame  # noqa: E402
from protocol.session import BoardSession, MemoryCounterStore  # noqa: E402

KEYS = {
    "board3": hashlib.sha256(b"cunbox test vector key, board 3").digest(),
    "board17": hashlib.sha256(b"cunbox test vector key, board 17").digest()[:16],
}
SALT = bytes.fromhex("a1b2c3d4e5f60718")
FW_IMAGE_SHA = hashlib.sha256(b"cunbox firmware 0.2.0 test image").digest()

# (type, request fields, reply fields) -- one exchange per message type.
EXCHANGES = [
    (m.HELLO, None, {"protocol_version": 1, "board_id": bytes.fromhex("e6614103e7452d2f"),
                     "fw_version": "0.1.0", "compartments": 24, "chilled_zones": 2,
                     "capabilities": m.CAP_DOOR_SENSORS | m.CAP_OCCUPANCY | m.CAP_CHILLED | m.CAP_KEYPAD
                     | m.CAP_FW_UPDATE, "reset_cause": m.RESET_POWER_ON}),
    (m.STATUS, None, {"time": 1764374400, "events_pending": 3,
                      "compartments": [m.ST_LOCKED, m.ST_LOCKED | m.ST_OCCUPIED | m.ST_CODE_SET, m.ST_DOOR_OPEN,
                                       m.ST_LOCKED | m.ST_FAULT_DOOR_SENSOR, m.ST_NO_OCCUPANCY_SENSOR | m.ST_LOCKED],
                      "temperatures": [42, -15, m.TEMP_INVALID]}),
    (m.TIME_GET, None, {"time": 1764374401, "uptime_s": 86400}),
    (m.EVENTS, {"cursor": 40, "max_count": 8},
     {"more": 1, "events": [
         {"seq": 41, "time": 1764370000, "kind": m.EV_BOOT, "compartment": 0,
          "data": m.encode_event_data(m.EV_BOOT, {"reset_cause": m.RESET_POWER_ON})},
         {"seq": 42, "time": 1764370100, "kind": m.EV_OPEN_RESULT, "compartment": 7,
          "data": m.encode_event_data(m.EV_OPEN_RESULT, {"result": m.OPEN_OPENED, "reason": m.REASON_PICKUP,
                                                         "reference": 1234})},
         {"seq": 43, "time": 1764370160, "kind": m.EV_DOOR_CLOSED, "compartment": 7, "data": b""},
         {"seq": 44, "time": 1764370200, "kind": m.EV_TEMPERATURE, "compartment": 0,
          "data": m.encode_event_data(m.EV_TEMPERATURE, {"zone": 1, "temp_c10": -25})}]}),
    (m.CONFIG_GET, {"keys": ["door_alarm_s", "temp_max_c10"]},
     {"items": [{"key": "door_alarm_s", "value": "120"}, {"key": "temp_max_c10", "value": "80"}]}),
    (m.FW_STATUS, None, {"state": m.FW_RECEIVING, "size": 180224, "received": 4480, "running_version": "0.1.0"}),
    (m.OPEN, {"compartment": 7, "reason": m.REASON_PICKUP, "reference": 1234},
     {"compartment": 7, "result": m.OPEN_OPENED, "detail": 0, "event_seq": 42}),
    (m.SET_CODE, {"compartment": 7, "kind": m.CODE_PICKUP, "salt": SALT, "code_hash": code_hash(SALT, "48213597"),
                  "expiry": 1764979200},
     {"compartment": 7}),
    (m.CLEAR_CODE, {"compartment": 7}, {"compartment": 7, "cleared": 1}),
    (m.EVENTS_ACK, {"upto": 44}, {"acked": 44, "pending": 0}),
    (m.TIME_SET, {"time": 1764374500}, {"previous": 1764374498}),
    (m.CONFIG_SET, {"items": [{"key": "door_alarm_s", "value": "180"}]}, {"applied": 1}),
    (m.REBOOT, {"delay_ms": 500}, None),
    (m.FW_BEGIN, {"size": 180224, "sha256": FW_IMAGE_SHA, "version": "0.2.0"}, {"chunk_size": m.FW_CHUNK_MAX}),
    (m.FW_CHUNK, {"offset": 4480, "data": bytes(range(0, 224))}, {"received": 4704}),
    (m.FW_COMMIT, None, {"result": m.FW_OK}),
    (m.FW_CONFIRM, None, {"state": m.FW_IDLE}),
]
# Messages added since: vectored after all the others, so the earlier vectors keep their bytes.
LATER_EXCHANGES = [
    # a deposit's open that reached the board 30 s past its deadline: refused, no pulse
    (m.OPEN_BY, {"compartment": 7, "reason": m.REASON_DEPOSIT, "reference": 1235, "deadline": 1764374530},
     {"compartment": 7, "result": m.OPEN_REFUSED, "detail": m.REFUSE_LATE, "event_seq": 45}),
    # board 2's door 3 code given to this board, so that it is right at this keypad too
    (m.SET_PEER_CODE, {"board": 2, "compartment": 3, "kind": m.CODE_PICKUP, "salt": bytes.fromhex("0102030405060708"),
                       "code_hash": bytes.fromhex("00112233445566778899aabbccddeeff"), "expiry": 1764979200},
     {"board": 2, "compartment": 3, "held": 1}),
    # ... and typed here: the board journals PEER_CODE for the host to open that door
    (m.EVENTS, {"cursor": 45, "max_count": 1},
     {"more": 0, "events": [
         {"seq": 46, "time": 1764374560, "kind": m.EV_PEER_CODE, "compartment": 0,
          "data": m.encode_event_data(m.EV_PEER_CODE, {"board": 2, "compartment": 3,
                                                       "code_id": bytes.fromhex("00112233")})}]}),
]


def hx(b):
    return bytes(b).hex()


def to_json(v):
    if isinstance(v, (bytes, bytearray)):
        return "hex:" + hx(v)
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


def frame_vector(name, address, seq, msg_type, fields, is_reply, key_name=None, counter=None):
    payload = m.encode_payload(msg_type, fields, is_reply)
    flags = FLAG_REPLY if is_reply else 0
    key = KEYS[key_name] if key_name else None
    body = encode_body(address, seq, msg_type, payload, flags, counter, key)
    wire = encode_frame(address, seq, msg_type, payload, flags, counter, key)
    (f,) = decode_wire(wire)
    assert not f.is_error, f
    assert m.decode_payload(msg_type, payload, is_reply) == (fields or {})
    return {
        "name": name, "kind": "frame", "wire": hx(wire), "body": hx(body), "key": key_name,
        "frame": {"version": f.version, "address": f.address, "flags": f.flags, "seq": f.seq, "type": f.type,
                  "payload": hx(f.payload), "counter": f.counter, "tag": hx(f.tag) if f.tag else None},
        "type_name": m.type_name(msg_type), "is_reply": is_reply, "fields": to_json(fields or {}),
    }


def board_reject(name, wire, address, key_name, last_counter, expect_nak, expect_detail):
    """A frame a board must refuse with a NAK; the vector records the exact NAK frame too."""
    store = MemoryCounterStore(last_counter)
    board = BoardSession(address, KEYS[key_name] if key_name else None, store)

    def handler(msg_type, fields):
        raise AssertionError("a rejected frame reached the handler")

    replies = board.receive(wire, handler)
    assert len(replies) == 1, replies
    (nak,) = decode_wire(replies[0])
    fields = m.decode_payload(nak.type, nak.payload, True)
    assert nak.type == m.NAK and nak_name(fields["code"]) == expect_nak, (name, fields)
    assert fields["detail"] == expect_detail
    assert store.value == last_counter, "a rejected frame must not move the counter"
    return {"name": name, "kind": "reject", "wire": hx(wire),
            "board": {"address": address, "key": key_name, "last_counter": last_counter},
            "expect": {"nak": expect_nak, "detail": expect_detail}, "reply_wire": hx(replies[0])}


def decoder_reject(name, wire, errors):
    items = decode_wire(wire)
    got = [i.name if i.is_error else "FRAME" for i in items]
    assert got == errors, (name, got)
    return {"name": name, "kind": "reject", "wire": hx(wire), "expect": {"decoder": errors}}


def raw_wire(body):
    return cobs.encode(body) + b"\x00"


def main(out):
    vectors = []
    seq = 1
    counter = 100
    for msg_type, req, rep in EXCHANGES:
        tname = m.type_name(msg_type)
        auth = m.requires_auth(msg_type)
        key_name = "board3" if auth else None
        c = counter if auth else None
        vectors.append(frame_vector("%s request" % tname, 3, seq, msg_type, req, False, key_name, c))
        vectors.append(frame_vector("%s reply" % tname, 3, seq, msg_type, rep, True, key_name, c))
        seq += 1
        counter += 1
    # an authenticated read (EVENTS with AUTH) to board 17, whose key is 16 bytes
    vectors.append(frame_vector("EVENTS request, authenticated, 16-byte key", 17, seq, m.EVENTS,
                                {"cursor": 0, "max_count": 16}, False, "board17", 1))
    vectors.append(frame_vector("EVENTS reply, authenticated, empty", 17, seq, m.EVENTS,
                                {"more": 0, "events": []}, True, "board17", 1))
    seq += 1
    # NAK replies
    for code, detail in ((m_nak("BUSY"), 0), (m_nak("BAD_STATE"), 0), (m_nak("NOT_SUPPORTED"), 0)):
        vectors.append(frame_vector("NAK %s reply" % nak_name(code), 3, seq, m.NAK,
                                    {"code": code, "request_type": m.FW_CHUNK, "detail": detail}, True,
                                    "board3", counter))
        seq += 1
        counter += 1
    vectors.append(frame_vector("HELLO broadcast", 0, seq, m.HELLO, None, False))
    seq += 1

    # ---- frames the decoder must drop
    good = encode_frame(3, seq, m.STATUS, b"")
    body = encode_body(3, seq, m.STATUS, b"")
    bad_crc = bytearray(body)
    bad_crc[-1] ^= 0x01
    vectors.append(decoder_reject("bad CRC", raw_wire(bytes(bad_crc)), ["BAD_CRC"]))
    flipped = bytearray(encode_body(3, seq, m.OPEN, m.encode_payload(m.OPEN, EXCHANGES[6][1]), 0, 5000,
                                    KEYS["board3"]))
    flipped[6] ^= 0x40
    vectors.append(decoder_reject("bad CRC on an authenticated frame (payload bit flipped)",
                                  raw_wire(bytes(flipped)), ["BAD_CRC"]))
    vectors.append(decoder_reject("truncated: delimiter inside a COBS block", good[:5] + b"\x00", ["TRUNCATED"]))
    vectors.append(decoder_reject("truncated: body shorter than 7 bytes", raw_wire(body[:3] + body[-2:][:0]),
                                  ["TRUNCATED"]))
    auth_body = encode_body(3, seq, m.OPEN, m.encode_payload(m.OPEN, EXCHANGES[6][1]), 0, 5000, KEYS["board3"])
    short = bytearray(auth_body[:5] + auth_body[-4:-2])
    from protocol.crc import crc16
    c = crc16(short)
    short += bytes([c >> 8, c & 0xFF])
    vectors.append(decoder_reject("truncated: AUTH flag but no room for counter and tag", raw_wire(bytes(short)),
                                  ["TRUNCATED"]))
    vectors.append(decoder_reject("oversize: %d body bytes" % (MAX_BODY + 1), raw_wire(bytes([0x55]) * (MAX_BODY + 1)),
                                  ["OVERSIZE"]))
    vectors.append(decoder_reject("bad version", raw_wire(encode_body(3, seq, m.STATUS, b"", version=2)),
                                  ["BAD_VERSION"]))
    vectors.append(decoder_reject("reserved flag bit set", raw_wire(encode_body(3, seq, m.STATUS, b"", flags=0x80)),
                                  ["BAD_FLAGS"]))
    vectors.append(decoder_reject("address 250 is invalid", raw_wire(encode_body(250, seq, m.STATUS, b"")),
                                  ["BAD_ADDRESS"]))
    vectors.append(decoder_reject("noise, then a cut frame, then a good frame: resync at each 0x00",
                                  b"\x13\x37\xff\x00" + good[:7] + b"\x00" + good, ["TRUNCATED", "TRUNCATED", "FRAME"]))
    vectors.append(decoder_reject("empty frames between delimiters are ignored", b"\x00\x00" + good + b"\x00",
                                  ["FRAME"]))

    # ---- frames a board (address 3, key board3, last counter 200) must refuse with a NAK
    open_payload = m.encode_payload(m.OPEN, {"compartment": 2, "reason": m.REASON_OPERATOR, "reference": 77})
    good_open = encode_body(3, 9, m.OPEN, open_payload, 0, 201, KEYS["board3"])
    bad_tag = bytearray(good_open[:-2])
    bad_tag[-1] ^= 0x01
    c = crc16(bad_tag)
    bad_tag += bytes([c >> 8, c & 0xFF])
    vectors.append(board_reject("bad tag (valid CRC)", raw_wire(bytes(bad_tag)), 3, "board3", 200, "BAD_AUTH", 0))
    vectors.append(board_reject("tag made with another board's key", encode_frame(3, 9, m.OPEN, open_payload, 0, 201,
                                KEYS["board17"]), 3, "board3", 200, "BAD_AUTH", 0))
    vectors.append(board_reject("replayed counter (equal to last accepted)",
                                encode_frame(3, 9, m.OPEN, open_payload, 0, 200, KEYS["board3"]), 3, "board3", 200,
                                "REPLAY", 200))
    vectors.append(board_reject("old counter", encode_frame(3, 9, m.OPEN, open_payload, 0, 150, KEYS["board3"]),
                                3, "board3", 200, "REPLAY", 200))
    vectors.append(board_reject("OPEN without AUTH", encode_frame(3, 9, m.OPEN, open_payload), 3, "board3", 200,
                                "AUTH_REQUIRED", 0))
    vectors.append(board_reject("unknown type 0x55", encode_frame(3, 9, 0x55, b""), 3, "board3", 200,
                                "UNKNOWN_TYPE", 0))
    vectors.append(board_reject("NAK sent as a request", encode_frame(3, 9, m.NAK, bytes(6)), 3, "board3", 200,
                                "UNKNOWN_TYPE", 0))
    vectors.append(board_reject("board without a key gets an AUTH frame",
                                encode_frame(3, 9, m.OPEN, open_payload, 0, 201, KEYS["board3"]), 3, None, 0,
                                "NOT_PROVISIONED", 0))

    def accept(msg_type, fields):
        raise NakError(m_nak("BAD_STATE"))

    # an authentic command whose payload has a trailing byte: counter is consumed, NAK BAD_PAYLOAD
    trailing = encode_frame(3, 9, m.CLEAR_CODE, bytes([7, 0]), 0, 201, KEYS["board3"])
    board = BoardSession(3, KEYS["board3"], MemoryCounterStore(200))
    (nak_wire,) = board.receive(trailing, accept)
    vectors.append({"name": "authentic CLEAR_CODE with a trailing byte", "kind": "reject", "wire": hx(trailing),
                    "board": {"address": 3, "key": "board3", "last_counter": 200},
                    "expect": {"nak": "BAD_PAYLOAD", "detail": 0, "counter_after": 201}, "reply_wire": hx(nak_wire)})
    seq, counter = 40, 300
    for msg_type, req, rep in LATER_EXCHANGES:
        tname = m.type_name(msg_type)
        vectors.append(frame_vector("%s request" % tname, 3, seq, msg_type, req, False, "board3", counter))
        vectors.append(frame_vector("%s reply" % tname, 3, seq, msg_type, rep, True, "board3", counter))
        seq += 1
        counter += 1
    doc = {
        "protocol_version": 1,
        "crc": {"name": "CRC-16/CCITT-FALSE", "poly": "0x1021", "init": "0xFFFF", "refin": False, "refout": False,
                "xorout": "0x0000", "check": "0x29B1"},
        "generated_by": "tools/gen_protocol_vectors.py",
        "keys": {k: v.hex() for k, v in KEYS.items()},
        "vectors": vectors,
    }
    pathlib.Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    print("wrote %d vectors to %s" % (len(vectors), out))


def m_nak(name):
    from protocol import errors
    return getattr(errors, "NAK_" + name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "protocol/test_vectors.json")
