from _firmware_fakes import tmpdir

from firmware.flash import Flash
from firmware.journal import Journal


def _j(path, **kw):
    return Journal(Flash(path), **kw)


def test_append_read_ack_survive_reopen():
    d = tmpdir()
    j = _j(d)
    for i in range(5):
        assert j.append(b"ev%d" % i) == i + 1
    got = j.read(0, 10)
    assert [s for s, _ in got] == [1, 2, 3, 4, 5]
    assert got[2][1] == b"ev2"
    j.ack(3)
    j2 = _j(d)
    assert j2.acked == 3
    assert [s for s, _ in j2.read(0, 10)] == [4, 5]
    assert j2.append(b"x") == 6


def test_ack_beyond_last_is_refused_and_changes_nothing():
    d = tmpdir()
    j = _j(d)
    j.append(b"a")
    try:
        j.ack(5)
        raise AssertionError("ack beyond last accepted")
    except ValueError:
        pass
    assert j.acked == 0
    assert _j(d).acked == 0


def test_power_cut_at_every_byte_of_a_record_keeps_everything_before():
    d = tmpdir()
    j = _j(d)
    for i in range(3):
        j.append(b"keep%d" % i)
    name = [n for n in Flash(d).listdir() if n.endswith(".log")][0]
    path = d + "/" + name
    with open(path, "rb") as f:
        good = f.read()
    j.append(b"torn-record")
    with open(path, "rb") as f:
        full = f.read()
    for cut in range(len(good), len(full)):
        with open(path, "wb") as f:
            f.write(full[:cut])
        j2 = _j(d)
        assert [p for _, p in j2.read(0, 10)] == [b"keep0", b"keep1", b"keep2"], cut
        assert j2.repaired == (1 if cut > len(good) else 0)
        assert j2.next_seq == 4
    # once repaired, new records append cleanly after the good prefix
    assert j2.append(b"next") == 4
    assert [p for _, p in _j(d).read(0, 10)][-1] == b"next"


def test_bounded_drops_oldest_acknowledged_never_unacknowledged():
    d = tmpdir()
    j = _j(d, segment_bytes=64, max_segments=3)
    payload = b"0123456789abcdef"  # 26 bytes a record: 2 per segment
    seqs = [j.append(payload) for _ in range(6)]
    assert seqs == [1, 2, 3, 4, 5, 6]
    # full of unacknowledged records: a normal event is refused, a critical one uses the reserve
    assert j.append(payload) == 0
    assert j.full and j.dropped == 1
    assert j.append(payload, critical=True) == 7
    assert [s for s, _ in j.read(0, 16)] == [1, 2, 3, 4, 5, 6, 7]
    # acknowledging frees the oldest segments for new records
    j.ack(4)
    assert not j.full
    assert j.append(payload) == 8
    assert j.append(payload) == 9
    left = [s for s, _ in _j(d, segment_bytes=64, max_segments=3).read(0, 16)]
    assert left == [5, 6, 7, 8, 9]


def test_sequence_never_goes_back_after_everything_is_dropped():
    d = tmpdir()
    j = _j(d, segment_bytes=40, max_segments=2)
    for _ in range(6):
        s = j.append(b"0123456789")
        j.ack(s)
    j2 = _j(d, segment_bytes=40, max_segments=2)
    assert j2.append(b"z") == 7


def test_atomic_state_file_survives_a_cut_temp_file():
    d = tmpdir()
    f = Flash(d)
    f.write_atomic("state", b"one")
    with open(d + "/state.tmp", "wb") as fh:
        fh.write(b"tw")  # a cut while writing the next version
    assert f.read_atomic("state") == b"one"
    f.write_atomic("state", b"two")
    assert f.read_atomic("state") == b"two"
