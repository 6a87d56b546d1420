import hashlib

from _firmware_fakes import tmpdir

from firmware.codes import CodeStore, code_hash
from firmware.flash import Flash
from firmware.qrpayload import luhn_digit, make_payload, parse_payload
from firmware.throttle import Throttle
from hardware_sim.fakes import Clock


def test_code_hash_is_sha256_of_salt_and_code():
    salt = b"\x01\x02\x03\x04\x05\x06\x07\x08"
    assert code_hash(salt, b"12345678") == hashlib.sha256(salt + b"12345678").digest()[:16]


def test_codes_match_expire_clear_and_persist_without_cleartext():
    d = tmpdir()
    cs = CodeStore(Flash(d), 4)
    salt = b"saltsalt"
    cs.set(2, salt, code_hash(salt, b"87654321"), 2000)
    cs.set(0, b"othersal", code_hash(b"othersal", b"11112222"), 0, kind=2)
    assert cs.match(b"87654321", 1500) == (2, False)
    assert cs.match(b"87654321", 2001) == (2, True)
    assert cs.match(b"87654321", 0) == (2, False)  # no wall time yet: cannot judge expiry
    assert cs.match(b"11112222", 10 ** 9) == (0, False)
    assert cs.match(b"00000000", 1500) == (-1, False)
    assert cs.kind(0) == 2 and cs.installed() == 2
    raw = Flash(d).read("codes")
    assert b"87654321" not in raw and b"11112222" not in raw
    cs2 = CodeStore(Flash(d), 4)
    assert cs2.match(b"87654321", 1500) == (2, False)
    cs2.clear(2)
    assert CodeStore(Flash(d), 4).match(b"87654321", 1500) == (-1, False)


def test_bad_code_input_changes_nothing():
    d = tmpdir()
    cs = CodeStore(Flash(d), 2)
    for args in ((5, b"saltsalt", b"h" * 16, 0), (0, b"short", b"h" * 16, 0), (0, b"saltsalt", b"h" * 3, 0)):
        try:
            cs.set(*args)
            raise AssertionError("accepted %r" % (args,))
        except ValueError:
            pass
    assert cs.installed() == 0
    assert Flash(d).read("codes") is None


def test_throttle_grows_and_survives_reboot():
    d = tmpdir()
    clock = Clock()
    t = Throttle(Flash(d), clock.ms(), free=2, base_ms=1000, max_ms=5000)
    assert t.failure(clock.ms()) == 0
    assert t.failure(clock.ms()) == 0
    assert t.failure(clock.ms()) == 1000
    assert t.locked(clock.ms())
    clock.advance(1001)
    assert not t.locked(clock.ms())
    assert t.failure(clock.ms()) == 2000
    # pull the power: a new throttle on the same flash at a new boot time is locked again
    clock.advance(500)
    t2 = Throttle(Flash(d), clock.ms(), free=2, base_ms=1000, max_ms=5000)
    assert t2.locked(clock.ms()) and t2.remaining_ms(clock.ms()) == 2000
    clock.advance(2000)
    assert t2.failure(clock.ms()) == 4000
    clock.advance(4000)
    assert t2.failure(clock.ms()) == 5000  # capped
    clock.advance(5000)
    t2.poll(clock.ms())  # the lock-out ran out while powered: a reboot now does not bring it back
    t3 = Throttle(Flash(d), clock.ms(), free=2, base_ms=1000, max_ms=5000)
    assert not t3.locked(clock.ms()) and t3.fails == 6
    t3.success()
    assert Throttle(Flash(d), clock.ms()).fails == 0


def test_throttle_forgives_after_a_quiet_hour():
    d = tmpdir()
    clock = Clock()
    t = Throttle(Flash(d), clock.ms(), free=1, base_ms=1000, quiet_ms=60000)
    t.failure(clock.ms())
    assert t.failure(clock.ms()) == 1000
    clock.advance(60001)
    t.poll(clock.ms())
    assert t.fails == 0 and t.level == 0
    assert t.failure(clock.ms()) == 0


def test_qr_payload_round_trip_and_check_digit():
    p = make_payload("LK-7", "12345678")
    assert p == "CBX1:LK-7:12345678" + luhn_digit("12345678")
    assert luhn_digit("7992739871") == "3"  # the classic Luhn example 79927398713
    assert parse_payload(p + "\r\n") == ("LK-7", "12345678")
    bad = p[:-1] + str((int(p[-1]) + 1) % 10)
    for wrong in (bad, "CBX2:LK-7:123456789", "CBX1:LK-7:1234", "hello"):
        try:
            parse_payload(wrong)
            raise AssertionError("accepted " + wrong)
        except ValueError:
            pass
