"""Message payloads: every type round-trips, layouts match the vectors, bad dicts/bytes are refused."""
from _check import from_json, raises, to_json, vectors

from protocol import messages as m
from protocol.errors import NAK_BAD_PAYLOAD, NAK_UNKNOWN_TYPE, LocalProtocolError, RemoteProtocolError


def _frame_vectors():
    return [v for v in vectors()["vectors"] if v["kind"] == "frame"]


def test_every_type_has_request_and_reply_vectors():
    seen = {}
    for v in _frame_vectors():
        seen[(v["type_name"], v["is_reply"])] = True
    for t in m.TYPE_NAMES:
        name = m.TYPE_NAMES[t]
        assert (name, True) in seen, name
        if t != m.NAK:
            assert (name, False) in seen, name


def test_round_trip_every_vector_payload():
    for v in _frame_vectors():
        t = v["frame"]["type"]
        fields = from_json(v["fields"])
        payload = m.encode_payload(t, fields, v["is_reply"])
        assert payload == bytes(from_json("hex:" + v["frame"]["payload"])), v["name"]
        assert to_json(m.decode_payload(t, payload, v["is_reply"])) == v["fields"], v["name"]


def test_empty_payload_types():
    for t in (m.HELLO, m.STATUS, m.TIME_GET, m.FW_STATUS, m.FW_COMMIT, m.FW_CONFIRM):
        assert m.encode_payload(t, None) == b""
        assert m.encode_payload(t, {}) == b""
        assert m.decode_payload(t, b"") == {}
    assert m.encode_payload(m.REBOOT, None, True) == b""


def test_signed_and_edge_values():
    fields = {"time": 0xFFFFFFFF, "events_pending": 0xFFFF, "compartments": [255] * 128,
              "temperatures": [-32768, 32767, 0, -1]}
    p = m.encode_payload(m.STATUS, fields, True)
    assert m.decode_payload(m.STATUS, p, True) == fields


def test_unicode_string_fields():
    fields = {"state": m.FW_IDLE, "size": 0, "received": 0, "running_version": "0.1-村"}
    assert m.decode_payload(m.FW_STATUS, m.encode_payload(m.FW_STATUS, fields, True), True) == fields


def test_local_errors_name_the_field():
    open_req = {"compartment": 1, "reason": 1, "reference": 5}
    e = raises(LocalProtocolError, m.encode_payload, m.OPEN, {"compartment": 256, "reason": 1, "reference": 5})
    assert "compartment" in str(e)
    e = raises(LocalProtocolError, m.encode_payload, m.OPEN, {"compartment": 1, "reason": 1})
    assert "reference" in str(e)
    bad = dict(open_req)
    bad["extra"] = 1
    e = raises(LocalProtocolError, m.encode_payload, m.OPEN, bad)
    assert "extra" in str(e)
    raises(LocalProtocolError, m.encode_payload, m.OPEN, {"compartment": True, "reason": 1, "reference": 5})
    raises(LocalProtocolError, m.encode_payload, m.OPEN, {"compartment": "1", "reason": 1, "reference": 5})
    raises(LocalProtocolError, m.encode_payload, m.OPEN, {"compartment": 1, "reason": 1, "reference": -1})
    raises(LocalProtocolError, m.encode_payload, m.SET_CODE, {"compartment": 1, "kind": 1, "salt": b"short",
                                                              "code_hash": bytes(16), "expiry": 0})
    raises(LocalProtocolError, m.encode_payload, m.FW_CHUNK, {"offset": 0, "data": bytes(m.FW_CHUNK_MAX + 1)})
    raises(LocalProtocolError, m.encode_payload, m.CONFIG_GET, {"keys": ["k"] * 9})
    raises(LocalProtocolError, m.encode_payload, m.CONFIG_GET, {"keys": ["x" * 17]})
    raises(LocalProtocolError, m.encode_payload, m.OPEN, [1, 1, 5])
    e = raises(LocalProtocolError, m.encode_payload, m.NAK, {}, False)
    assert e.code == NAK_UNKNOWN_TYPE


def test_total_payload_limit():
    ev = {"seq": 1, "time": 2, "kind": 3, "compartment": 4, "data": bytes(16)}
    raises(LocalProtocolError, m.encode_payload, m.EVENTS, {"more": 0, "events": [ev] * 16}, True)
    p = m.encode_payload(m.EVENTS, {"more": 0, "events": [ev] * 8}, True)
    assert len(p) == 2 + 8 * 27


def test_remote_errors_on_bad_bytes():
    good = m.encode_payload(m.OPEN, {"compartment": 1, "reason": 1, "reference": 5})
    for bad in (good[:-1], good + b"\x00", b""):
        e = raises(RemoteProtocolError, m.decode_payload, m.OPEN, bad)
        assert e.code == NAK_BAD_PAYLOAD
    raises(RemoteProtocolError, m.decode_payload, m.CONFIG_GET, b"\x09" + b"\x01a" * 9)   # too many items
    raises(RemoteProtocolError, m.decode_payload, m.CONFIG_GET, b"\x01\x11" + b"a" * 17)  # string too long
    raises(RemoteProtocolError, m.decode_payload, m.CONFIG_GET, b"\x01\x05ab")            # string cut short
    raises(RemoteProtocolError, m.decode_payload, m.CONFIG_GET, b"\x01\x02\xff\xfe")       # not UTF-8
    e = raises(RemoteProtocolError, m.decode_payload, 0x55, b"")
    assert e.code == NAK_UNKNOWN_TYPE


def test_auth_required_set():
    for t in (m.OPEN, m.SET_CODE, m.CLEAR_CODE, m.CONFIG_SET, m.FW_BEGIN, m.FW_CHUNK, m.FW_COMMIT,
              m.FW_CONFIRM, m.REBOOT, m.EVENTS_ACK, m.TIME_SET, m.OPEN_BY, m.SET_PEER_CODE):
        assert m.requires_auth(t)
    for t in (m.HELLO, m.STATUS, m.TIME_GET, m.EVENTS, m.CONFIG_GET, m.FW_STATUS):
        assert not m.requires_auth(t)


EVENT_SAMPLES = {
    m.EV_BOOT: {"reset_cause": m.RESET_WATCHDOG},
    m.EV_OPEN_RESULT: {"result": m.OPEN_JAMMED, "reason": m.REASON_DEPOSIT, "reference": 0xFFFFFFFF},
    m.EV_PICKUP_OFFLINE: {"code_id": b"\x01\x02\x03\x04"},
    m.EV_DROPOFF_OFFLINE: {"code_id": b"\x00\x00\x00\x00"},
    m.EV_CODE_EXPIRED: {"code_id": b"\xff\xfe\xfd\xfc"},
    m.EV_CODE_REJECTED: {"failures": 3},
    m.EV_THROTTLED: {"lockout_s": 600},
    m.EV_DOOR_LEFT_OPEN: {"open_s": 300},
    m.EV_TEMPERATURE: {"zone": 0, "temp_c10": -180},
    m.EV_TEMP_EXCURSION: {"zone": 1, "temp_c10": 95},
    m.EV_SENSOR_FAULT: {"faults": m.ST_FAULT_DOOR_SENSOR},
    m.EV_LOCK_FAULT: {"faults": m.ST_FAULT_LOCK},
    m.EV_TIME_SET: {"previous": 0},
    m.EV_EVENTS_LOST: {"count": 12},
    m.EV_FW_UPDATED: {"version": "0.2.0"},
    m.EV_FW_ROLLBACK: {"version": "0.1.0-rc.1+abcd"},
    m.EV_CONFIG_CHANGED: {"key": "door_alarm_s"},
    m.EV_PEER_CODE: {"board": 2, "compartment": 16, "code_id": b"\x0a\x0b\x0c\x0d"},
}


def test_event_data_round_trip_every_kind():
    for kind in m.EVENT_NAMES:
        fields = EVENT_SAMPLES.get(kind, {})
        assert (kind in m.EVENT_DATA_LAYOUTS) == (kind in EVENT_SAMPLES), m.EVENT_NAMES[kind]
        data = m.encode_event_data(kind, fields)
        assert len(data) <= m.EVENT_DATA_MAX
        assert m.decode_event_data(kind, data) == fields
        rec = {"seq": 1, "time": 2, "kind": kind, "compartment": 3, "data": data}
        p = m.encode_payload(m.EVENTS, {"more": 0, "events": [rec]}, True)
        assert m.decode_payload(m.EVENTS, p, True)["events"][0] == rec


def test_event_data_errors():
    raises(LocalProtocolError, m.encode_event_data, m.EV_OPEN_RESULT, {"result": 0, "reason": 1})
    raises(LocalProtocolError, m.encode_event_data, m.EV_DOOR_OPENED, {"x": 1})
    raises(LocalProtocolError, m.encode_event_data, m.EV_FW_UPDATED, {"version": "x" * 16})
    raises(RemoteProtocolError, m.decode_event_data, m.EV_OPEN_RESULT, b"\x00\x01\x00")
    raises(RemoteProtocolError, m.decode_event_data, m.EV_DOOR_CLOSED, b"\x00")


def test_vector_events_carry_layout_data():
    for v in _frame_vectors():
        if v["type_name"] == "EVENTS" and v["is_reply"]:
            for ev in from_json(v["fields"])["events"]:
                m.decode_event_data(ev["kind"], ev["data"])


def test_lock_probe_messages():
    # LOCK_PROBE changes the board's state (its lock driver pauses): AUTH; its status is a read
    assert m.requires_auth(m.LOCK_PROBE)
    assert not m.requires_auth(m.LOCK_PROBE_STATUS)
    req = {"mode": m.PROBE_CHECK, "dialect": m.DIALECT_8A, "baud": 9600, "boards": [1, 2], "lock": 0,
           "budget_s": 60}
    p = m.encode_payload(m.LOCK_PROBE, req)
    assert p == bytes((2, 2, 0, 0, 0x25, 0x80, 2, 1, 2, 0, 0, 60))
    assert m.decode_payload(m.LOCK_PROBE, p) == req
    assert m.encode_payload(m.LOCK_PROBE_STATUS, None) == b""
    rep = {"state": m.PROBE_DONE, "mode": m.PROBE_SCAN, "progress": 100, "flags": m.PROBE_FLAG_CHANNELS_UNSETTLED,
           "dialect": m.DIALECT_8A, "baud": 9600, "queried": list(range(1, 17)), "boards": [1], "per_board": 50,
           "raw": b"", "feedback": m.PROBE_NO_READING, "ir": m.PROBE_NO_READING, "bad_replies": 3}
    p = m.encode_payload(m.LOCK_PROBE_STATUS, rep, True)
    assert m.decode_payload(m.LOCK_PROBE_STATUS, p, True) == rep
    assert len(p) == 4 + 1 + 4 + 17 + 2 + 1 + 1 + 1 + 1 + 2
    # 17 boards do not fit the list, a raw reading is at most 4 bytes
    raises(LocalProtocolError, m.encode_payload, m.LOCK_PROBE, dict(req, boards=list(range(17))))
    raises(LocalProtocolError, m.encode_payload, m.LOCK_PROBE_STATUS, dict(rep, raw=b"12345"), True)
    e = raises(RemoteProtocolError, m.decode_payload, m.LOCK_PROBE, p[:5])
    assert e.code == NAK_BAD_PAYLOAD
    assert m.CAP_LOCK_PROBE == 0x0400 and m.LOCK_PROBE_STATUS == 0x07 and m.LOCK_PROBE == 0x19
