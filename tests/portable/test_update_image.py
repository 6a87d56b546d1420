# Firmware image verifier (firmware/update_image.py): runs on CPython and MicroPython.
from _update_util import FAMILY, OTHER_KEY, OTHER_PUBKEY, PUBKEY, make_hmac_image, make_image, verify_bytes

from firmware import ed25519, update_image


def _code(data, keys=None):
    try:
        verify_bytes(data, keys)
    except update_image.ImageError as exc:
        assert exc.message, "a refusal names its fault"
        return exc.code
    return None


def test_update_good_image_verifies():
    m = verify_bytes(make_image("1.2.3"))
    assert m["version"] == "1.2.3" and m["family"] == FAMILY and len(m["files"]) == 3


def test_update_layout_is_format_2_with_key_id_and_ed25519_signature():
    data = make_image("1.2.3")
    mlen = int.from_bytes(data[8:12], "big")
    assert data[0:5] == b"CBFW\x02" and data[16:24] == update_image.key_id(PUBKEY)
    head = data[:update_image.HEADER_SIZE + mlen]
    sig = data[len(head):len(head) + 64]
    assert ed25519.verify(PUBKEY, update_image.signed_digest(head), sig)


def test_update_every_single_byte_change_is_refused():
    data = make_image("1.0.1", files=[("firmware/a.mpy", b"abc" * 5), ("protocol/b.mpy", b"xyz" * 4)])
    codes = {}
    for pos in range(len(data)):
        for mask in ((0x01, 0x80) if pos < update_image.HEADER_SIZE else (0x01,)):
            bad = bytearray(data)
            bad[pos] ^= mask
            code = _code(bytes(bad))
            assert code is not None, "flip at byte %d (mask %d) was accepted" % (pos, mask)
            codes[code] = codes.get(code, 0) + 1
    # Header, manifest/signature and payload changes are each named for what they are.
    for expected in ("magic", "format", "header", "length", "untrusted", "signature", "hash"):
        assert expected in codes, (expected, codes)


def _code_by_digest(data, keys=None):
    """The checks as the board's updater runs them (Updater.commit_steps): the signature over a digest
    of the manifest read by blocks, then the manifest read again against that digest, then the files."""
    try:
        signed = update_image.read_signed_digest(update_image.BytesReader(data), len(data), keys or [PUBKEY])
        for _ in signed.signature_steps():
            pass
        f = update_image.BytesReader(data)
        manifest = signed.read_manifest(f)
        for _entry, _chunk in update_image.iter_file_chunks(f, manifest):
            pass
    except update_image.ImageError as exc:
        assert exc.message, "a refusal names its fault"
        return exc.code
    assert manifest == verify_bytes(data, keys)
    return None


def test_update_checks_by_digest_refuse_what_the_image_checks_refuse():
    data = make_image("1.0.1", files=[("firmware/a.mpy", b"abc" * 5), ("protocol/b.mpy", b"xyz" * 4)])
    assert _code_by_digest(data) is None
    for pos in list(range(update_image.HEADER_SIZE)) + list(range(update_image.HEADER_SIZE, len(data), 7)):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        assert _code_by_digest(bytes(bad)) == _code(bytes(bad)), pos
    assert _code_by_digest(make_image(key=OTHER_KEY)) == "untrusted"


def test_update_manifest_read_again_must_be_the_signed_one():
    data = make_image("1.0.1")
    signed = update_image.read_signed_digest(update_image.BytesReader(data), len(data), [PUBKEY])
    end = update_image.HEADER_SIZE + signed.manifest_len  # header, manifest, then the signature
    for pos in (0, 9, update_image.HEADER_SIZE, end - 1, end, end + 63):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        for read in (signed.read_manifest, signed.skip_to_payload):
            try:
                read(update_image.BytesReader(bytes(bad)))
            except update_image.ImageError as exc:
                assert exc.code == "flash", (pos, exc)
            else:
                raise AssertionError("changed byte %d read back as the signed manifest" % pos)
    f = update_image.BytesReader(data)
    signed.skip_to_payload(f)
    assert f.pos == update_image.HEADER_SIZE + signed.manifest_len + update_image.SIG_SIZE


def test_update_payload_flip_names_the_file():
    data = bytearray(make_image("1.0.1", files=[("firmware/a.mpy", b"a" * 30), ("protocol/b.mpy", b"b" * 30)]))
    data[-1] ^= 0x10
    try:
        verify_bytes(bytes(data))
    except update_image.ImageError as exc:
        assert exc.code == "hash" and "protocol/b.mpy" in exc.message
    else:
        raise AssertionError("corrupted payload accepted")


def test_update_truncated_and_extended_images_refused():
    data = make_image()
    for cut in (0, 3, 15, 16, 40, len(data) - 1):
        assert _code(data[:cut]) == "length", cut
    assert _code(data + b"\x00") == "length"


def test_update_wrong_key_refused():
    assert _code(make_image(key=OTHER_KEY)) == "untrusted"
    assert _code(make_image(key=OTHER_KEY), keys=[PUBKEY, OTHER_PUBKEY]) is None  # rotation: current + next
    assert _code(make_image(), keys=[OTHER_PUBKEY, PUBKEY]) is None
    assert _code(make_image(), keys=[]) == "untrusted"


def test_update_foreign_signature_under_a_trusted_key_id_refused():
    data = bytearray(make_image(key=OTHER_KEY))
    data[16:24] = update_image.key_id(PUBKEY)  # claims the trusted signer, but the signature is another key's
    assert _code(bytes(data)) == "signature"


def test_update_tampered_manifest_payload_signature_refused():
    data = make_image("1.3.0", files=[("firmware/a.mpy", b"a" * 50)])
    mlen = int.from_bytes(data[8:12], "big")
    sig_at = update_image.HEADER_SIZE + mlen
    for pos, code in ((update_image.HEADER_SIZE + 12, "signature"), (sig_at, "signature"), (sig_at + 63, "signature"),
                      (sig_at + 64, "hash"), (len(data) - 1, "hash")):
        bad = bytearray(data)
        bad[pos] ^= 0x04
        assert _code(bytes(bad)) == code, (pos, code)


def test_update_format_1_hmac_image_refused_with_format():
    for key in (PUBKEY, OTHER_KEY):  # whatever key the old scheme used, even the very bytes a board holds
        data = make_hmac_image(key=key)
        try:
            verify_bytes(data)
        except update_image.ImageError as exc:
            assert exc.code == "format" and "HMAC" in exc.message and "format 2" in exc.message, exc
        else:
            raise AssertionError("format 1 accepted")
    data = bytearray(make_image())
    data[4] = 3
    assert _code(bytes(data)) == "format"


def test_update_signed_but_malformed_manifests_refused():
    bad_path = make_image(files=[("../main.mpy", b"x")])
    assert _code(bad_path) == "manifest"
    assert _code(make_image(version="1.2")) == "manifest"
    assert _code(make_image(version="01.2.3")) == "manifest"
    assert _code(make_image(min_protocol=0)) == "manifest"
    dup = make_image(files=[("firmware/a.mpy", b"1"), ("firmware/a.mpy", b"2")])
    assert _code(dup) == "manifest"


def test_update_policy_family_protocol_downgrade():
    m = verify_bytes(make_image("1.4.0", min_protocol=2))
    update_image.check_policy(m, family=FAMILY, current_version="1.3.9", protocol_version=2)
    cases = [({"family": "other-board"}, "family"), ({"protocol_version": 1}, "protocol"),
             ({"current_version": "1.4.0"}, "downgrade"), ({"current_version": "1.10.0"}, "downgrade")]
    for kwargs, code in cases:
        try:
            update_image.check_policy(m, **kwargs)
        except update_image.ImageError as exc:
            assert exc.code == code, (kwargs, exc.code)
        else:
            raise AssertionError(kwargs)
    update_image.check_policy(m, current_version="1.4.0", allow_downgrade=True)
    update_image.check_policy(m, current_version="2.0.0", allow_downgrade=True)


def test_update_mpy_abi_checked_when_present():
    m = verify_bytes(make_image(extra={"mpy": 6}))
    update_image.check_policy(m, mpy_version=774 | (3 << 10))  # arch bits are ignored: bytecode only
    try:
        update_image.check_policy(m, mpy_version=5)
    except update_image.ImageError as exc:
        assert exc.code == "mpy" and "v6" in exc.message and "v5" in exc.message
    else:
        raise AssertionError()


def test_update_version_order_is_numeric():
    assert update_image.parse_version("1.10.0") > update_image.parse_version("1.9.9")
    assert update_image.parse_version("0.0.0") == (0, 0, 0)


def test_update_parse_key():
    assert update_image.parse_key(update_image.hexlify(PUBKEY) + "\n") == PUBKEY
    not_a_point = update_image.hexlify((2).to_bytes(32, "little"))  # y = 2: x^2 has no root
    for bad in ("abc", "zz" * 32, not_a_point):
        try:
            update_image.parse_key(bad)
        except update_image.ImageError as exc:
            assert exc.code == "key"
        else:
            raise AssertionError(bad)
