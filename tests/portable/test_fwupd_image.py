# Firmware image verifier (firmware/fwimage.py): runs on CPython and MicroPython.
import hashlib

from _fwupd_util import FAMILY, KEY, OTHER_KEY, make_image, verify_bytes

from firmware import fwimage


def _code(data, keys=None):
    try:
        verify_bytes(data, keys)
    except fwimage.ImageError as exc:
        assert exc.message, "a refusal names its fault"
        return exc.code
    return None


def test_fwupd_hmac_matches_rfc4231_case_2():
    tag = fwimage.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert fwimage.hexlify(tag) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_fwupd_hmac_long_key_rfc4231_case_6():
    tag = fwimage.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert fwimage.hexlify(tag) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def test_fwupd_good_image_verifies():
    m = verify_bytes(make_image("1.2.3"))
    assert m["version"] == "1.2.3" and m["family"] == FAMILY and len(m["files"]) == 3


def test_fwupd_every_single_byte_change_is_refused():
    data = make_image("1.0.1", files=[("firmware/a.mpy", b"abc" * 5), ("protocol/b.mpy", b"xyz" * 4)])
    codes = {}
    for pos in range(len(data)):
        for mask in (0x01, 0x80):
            bad = bytearray(data)
            bad[pos] ^= mask
            code = _code(bytes(bad))
            assert code is not None, "flip at byte %d (mask %d) was accepted" % (pos, mask)
            codes[code] = codes.get(code, 0) + 1
    # Header, manifest/signature and payload changes are each named for what they are.
    for expected in ("magic", "format", "header", "length", "signature", "hash"):
        assert expected in codes, (expected, codes)


def test_fwupd_payload_flip_names_the_file():
    data = bytearray(make_image("1.0.1", files=[("firmware/a.mpy", b"a" * 30), ("protocol/b.mpy", b"b" * 30)]))
    data[-1] ^= 0x10
    try:
        verify_bytes(bytes(data))
    except fwimage.ImageError as exc:
        assert exc.code == "hash" and "protocol/b.mpy" in exc.message
    else:
        raise AssertionError("corrupted payload accepted")


def test_fwupd_truncated_and_extended_images_refused():
    data = make_image()
    for cut in (0, 3, 15, 16, 40, len(data) - 1):
        assert _code(data[:cut]) == "length", cut
    assert _code(data + b"\x00") == "length"


def test_fwupd_wrong_key_refused():
    assert _code(make_image(key=OTHER_KEY)) == "signature"
    assert _code(make_image(key=OTHER_KEY), keys=[KEY, OTHER_KEY]) is None
    assert _code(make_image(), keys=[]) == "signature"


def test_fwupd_signed_but_malformed_manifests_refused():
    bad_path = make_image(files=[("../main.mpy", b"x")])
    assert _code(bad_path) == "manifest"
    assert _code(make_image(version="1.2")) == "manifest"
    assert _code(make_image(version="01.2.3")) == "manifest"
    assert _code(make_image(min_protocol=0)) == "manifest"
    dup = make_image(files=[("firmware/a.mpy", b"1"), ("firmware/a.mpy", b"2")])
    assert _code(dup) == "manifest"


def test_fwupd_policy_family_protocol_downgrade():
    m = verify_bytes(make_image("1.4.0", min_protocol=2))
    fwimage.check_policy(m, family=FAMILY, current_version="1.3.9", protocol_version=2)
    cases = [({"family": "other-board"}, "family"), ({"protocol_version": 1}, "protocol"),
             ({"current_version": "1.4.0"}, "downgrade"), ({"current_version": "1.10.0"}, "downgrade")]
    for kwargs, code in cases:
        try:
            fwimage.check_policy(m, **kwargs)
        except fwimage.ImageError as exc:
            assert exc.code == code, (kwargs, exc.code)
        else:
            raise AssertionError(kwargs)
    fwimage.check_policy(m, current_version="1.4.0", allow_downgrade=True)
    fwimage.check_policy(m, current_version="2.0.0", allow_downgrade=True)


def test_fwupd_mpy_abi_checked_when_present():
    m = verify_bytes(make_image(extra={"mpy": 6}))
    fwimage.check_policy(m, mpy_version=774 | (3 << 10))  # arch bits are ignored: bytecode only
    try:
        fwimage.check_policy(m, mpy_version=5)
    except fwimage.ImageError as exc:
        assert exc.code == "mpy" and "v6" in exc.message and "v5" in exc.message
    else:
        raise AssertionError()


def test_fwupd_version_order_is_numeric():
    assert fwimage.parse_version("1.10.0") > fwimage.parse_version("1.9.9")
    assert fwimage.parse_version("0.0.0") == (0, 0, 0)


def test_fwupd_parse_key():
    key = fwimage.parse_key(fwimage.hexlify(hashlib.sha256(b"k").digest()) + "\n")
    assert len(key) == 32
    for bad in ("abc", "zz" * 32):
        try:
            fwimage.parse_key(bad)
        except fwimage.ImageError as exc:
            assert exc.code == "key"
        else:
            raise AssertionError(bad)
    assert KEY
