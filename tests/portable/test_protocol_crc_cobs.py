"""CRC-16/CCITT-FALSE and COBS: catalogue check value, continuation, encoding edge cases."""
from _check import Rng, raises

from protocol import cobs
from protocol.crc import CHECK_VALUE, crc16
from protocol.errors import RemoteProtocolError


def test_crc_check_value():
    assert CHECK_VALUE == 0x29B1
    assert crc16(b"123456789") == 0x29B1


def test_crc_empty_is_init():
    assert crc16(b"") == 0xFFFF


def test_crc_continues_across_chunks():
    data = b"cunbox locker bus"
    assert crc16(data[7:], crc16(data[:7])) == crc16(data)


def test_crc_accepts_bytearray_and_memoryview():
    data = bytearray(b"123456789")
    assert crc16(data) == 0x29B1
    assert crc16(memoryview(data)[0:9]) == 0x29B1


def test_crc_detects_every_single_bit_flip():
    data = bytearray(b"\x01\x03\x00\x05\x10\x07\x01\x00\x00\x04\xd2")
    good = crc16(data)
    for i in range(len(data)):
        for bit in range(8):
            data[i] ^= 1 << bit
            assert crc16(data) != good
            data[i] ^= 1 << bit


def test_cobs_known_encodings():
    # Examples from Cheshire & Baker / the Wikipedia COBS article.
    assert cobs.encode(b"") == b"\x01"
    assert cobs.encode(b"\x00") == b"\x01\x01"
    assert cobs.encode(b"\x00\x00") == b"\x01\x01\x01"
    assert cobs.encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs.encode(b"\x11\x22\x33\x44") == b"\x05\x11\x22\x33\x44"
    assert cobs.encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"


def test_cobs_long_runs_without_zero():
    for n in (253, 254, 255, 256, 508, 509):
        data = bytes([(i % 255) + 1 for i in range(n)])
        enc = cobs.encode(data)
        assert 0 not in enc
        assert len(enc) <= cobs.max_encoded_len(n)
        assert cobs.decode(enc) == data
    assert cobs.encode(bytes([1]) * 254) == b"\xff" + bytes([1]) * 254


def test_cobs_round_trip_random():
    rng = Rng(7)
    for n in range(0, 300, 7):
        data = bytes([b if rng.below(4) else 0 for b in rng.randbytes(n)])
        enc = cobs.encode(data)
        assert 0 not in enc
        assert cobs.decode(enc) == data


def test_cobs_decode_rejects_malformed():
    raises(RemoteProtocolError, cobs.decode, b"\x05\x11\x22")      # block past the end
    raises(RemoteProtocolError, cobs.decode, b"\x03\x11\x00")      # zero inside
    raises(RemoteProtocolError, cobs.decode, b"\x00")
