"""protocol/test_vectors.json: the code reproduces every frame vector bit for bit, and rejects
every must-reject vector with the documented error."""
from _check import from_json, h, hx, to_json, vectors

from protocol import messages as m
from protocol.crc import crc16
from protocol.errors import nak_name
from protocol.frame import decode_wire, encode_body, encode_frame
from protocol.session import BoardSession, MemoryCounterStore


def _key(name):
    return h(vectors()["keys"][name]) if name else None


def test_enough_vectors():
    vs = vectors()["vectors"]
    assert len(vs) >= 30
    kinds = [v["kind"] for v in vs]
    assert "frame" in kinds and "reject" in kinds
    assert any(v["kind"] == "frame" and v["key"] for v in vs)


def test_crc_parameters_recorded():
    c = vectors()["crc"]
    assert c["name"] == "CRC-16/CCITT-FALSE" and int(c["check"], 16) == crc16(b"123456789")


def test_frame_vectors_encode_bit_exact():
    for v in vectors()["vectors"]:
        if v["kind"] != "frame":
            continue
        fr = v["frame"]
        payload = m.encode_payload(fr["type"], from_json(v["fields"]), v["is_reply"])
        assert hx(payload) == fr["payload"], v["name"]
        flags = fr["flags"] & 0x01   # REPLY; AUTH follows from the key
        body = encode_body(fr["address"], fr["seq"], fr["type"], payload, flags, fr["counter"], _key(v["key"]))
        assert hx(body) == v["body"], v["name"]
        wire = encode_frame(fr["address"], fr["seq"], fr["type"], payload, flags, fr["counter"], _key(v["key"]))
        assert hx(wire) == v["wire"], v["name"]


def test_frame_vectors_decode():
    for v in vectors()["vectors"]:
        if v["kind"] != "frame":
            continue
        (f,) = decode_wire(h(v["wire"]))
        assert not f.is_error, v["name"]
        fr = v["frame"]
        assert (f.version, f.address, f.flags, f.seq, f.type) == (
            fr["version"], fr["address"], fr["flags"], fr["seq"], fr["type"]), v["name"]
        assert hx(f.payload) == fr["payload"]
        assert f.counter == fr["counter"]
        assert (hx(f.tag) if f.tag else None) == fr["tag"]
        assert to_json(m.decode_payload(f.type, f.payload, f.is_reply)) == v["fields"], v["name"]


def test_authenticated_vectors_verify_only_with_their_key():
    for v in vectors()["vectors"]:
        if v["kind"] != "frame" or not v["key"]:
            continue
        (f,) = decode_wire(h(v["wire"]))
        from protocol.auth import verify
        body = f.signed_bytes()[:-4]
        assert verify(_key(v["key"]), body, f.counter, f.tag), v["name"]
        other = "board17" if v["key"] == "board3" else "board3"
        assert not verify(_key(other), body, f.counter, f.tag), v["name"]


def test_decoder_reject_vectors():
    for v in vectors()["vectors"]:
        if v["kind"] != "reject" or "decoder" not in v["expect"]:
            continue
        got = [i.name if i.is_error else "FRAME" for i in decode_wire(h(v["wire"]))]
        assert got == v["expect"]["decoder"], (v["name"], got)


def test_board_reject_vectors():
    n = 0
    for v in vectors()["vectors"]:
        if v["kind"] != "reject" or "nak" not in v["expect"]:
            continue
        n += 1
        b = v["board"]
        store = MemoryCounterStore(b["last_counter"])
        board = BoardSession(b["address"], _key(b["key"]), store)
        calls = []

        def handler(msg_type, fields, calls=calls):
            calls.append(msg_type)
            return None

        replies = board.receive(h(v["wire"]), handler)
        assert [hx(r) for r in replies] == [v["reply_wire"]], v["name"]
        (nak,) = decode_wire(replies[0])
        fields = m.decode_payload(nak.type, nak.payload, True)
        assert nak.type == m.NAK and nak_name(fields["code"]) == v["expect"]["nak"], v["name"]
        assert fields["detail"] == v["expect"]["detail"]
        assert calls == [], v["name"]
        assert store.value == v["expect"].get("counter_after", b["last_counter"]), v["name"]
    assert n >= 5
