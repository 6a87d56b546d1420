# A power cut at every byte of a busy stretch of flash writes (codes, counter, journal, ack):
# after each cut the board's state files load cleanly, hold the old or the new version of every
# atomic file, and the journal holds every record whose write had finished.
import os
import shutil
import tempfile

from firmware.codes import CodeStore, code_hash
from firmware.flash import Flash
from firmware.journal import Journal
from hardware_sim.flash import SimFlash
from hardware_sim.machine import PowerLoss


def _workload(flash, log):
    """Writes that a busy minute of a board makes; `log` learns what completed."""
    j = Journal(flash, segment_bytes=128, max_segments=3)
    codes = CodeStore(flash, 4)
    for i in range(12):
        seq = j.append(b"event-%02d" % i, critical=i % 3 == 0)
        log.append(("event", seq, b"event-%02d" % i))
        if i % 4 == 3:
            codes.set(i % 4, b"salt%04d" % i, code_hash(b"salt%04d" % i, b"%08d" % i), 0)
            log.append(("code", i % 4, i))
            j.ack(seq - 1)
            log.append(("ack", seq - 1))


def test_power_cut_at_every_byte_keeps_every_finished_write():
    ref = tempfile.mkdtemp(prefix="cunbox_pc_ref_")
    full = SimFlash(ref)
    _workload(full, [])
    total = full.bytes_written
    assert total > 400
    for budget in range(total + 1):
        d = tempfile.mkdtemp(prefix="cunbox_pc_")
        flash = SimFlash(d)
        flash.arm(budget)
        log = []
        try:
            _workload(flash, log)
        except PowerLoss:
            pass
        j = Journal(Flash(d), segment_bytes=128, max_segments=3)
        got = dict(j.read(0, 100, 10000))
        acked = max([e[1] for e in log if e[0] == "ack"] or [0])
        assert j.acked >= acked, budget
        for e in log:
            if e[0] == "event" and e[1] > j.acked:
                assert got.get(e[1]) == e[2], (budget, e)
        codes = CodeStore(Flash(d), 4)
        for e in log:
            if e[0] == "code":
                assert codes.match(b"%08d" % e[2], 0)[0] == e[1] or any(
                    x[0] == "code" and x[1] == e[1] and x[2] > e[2] for x in log), (budget, e)
        for name in os.listdir(d):
            assert not name.endswith(".log.tmp"), name
        shutil.rmtree(d)
    shutil.rmtree(ref)
