"""HMAC-SHA256 against RFC 4231 vectors, tags, constant-time compare, code hashes."""
from _check import h, raises

from protocol.auth import Hmac, code_hash, equal, hmac_sha256, make_tag, verify
from protocol.errors import LocalProtocolError


def test_rfc4231_case_1():
    assert hmac_sha256(b"\x0b" * 20, b"Hi There") == h(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")


def test_rfc4231_case_2_short_key():
    assert hmac_sha256(b"Jefe", b"what do ya want for nothing?") == h(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_rfc4231_case_6_long_key():
    msg = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert hmac_sha256(b"\xaa" * 131, msg) == h("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")


def test_tag_is_truncated_hmac_over_body_and_counter():
    key = b"k" * 32
    body = b"\x01\x03\x02\x07\x10\x07\x01\x00\x00\x04\xd2"
    tag = make_tag(key, body, 0x01020304)
    assert tag == hmac_sha256(key, body + b"\x01\x02\x03\x04")[:8]
    assert make_tag(Hmac(key), body, 0x01020304) == tag
    assert verify(key, body, 0x01020304, tag)
    assert not verify(key, body, 0x01020305, tag)
    assert not verify(key, body + b"\x00", 0x01020304, tag)


def test_equal():
    assert equal(b"abcdefgh", b"abcdefgh")
    assert not equal(b"abcdefgh", b"abcdefgX")
    assert not equal(b"Xbcdefgh", b"abcdefgh")
    assert not equal(b"abc", b"abcd")


def test_short_key_refused_for_sessions():
    raises(LocalProtocolError, Hmac, b"short")
    raises(LocalProtocolError, Hmac, "a string key of some length")


def test_code_hash():
    salt = h("a1b2c3d4e5f60718")
    assert len(code_hash(salt, "48213597")) == 16
    assert code_hash(salt, "48213597") == code_hash(salt, b"48213597")
    assert code_hash(salt, "48213597") != code_hash(salt, "48213598")
    assert code_hash(h("a1b2c3d4e5f60719"), "48213597") != code_hash(salt, "48213597")
