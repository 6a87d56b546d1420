"""Timing helpers, and the timing table in PROTOCOL.md stays equal to what the code computes."""
import sys

from _check import repo_path

from protocol import messages as m
from protocol import timing


def test_char_time_and_gap():
    assert abs(timing.char_time_us(9600) - 1041.67) < 0.01
    assert abs(timing.inter_frame_gap_us(9600) - 3645.83) < 0.01
    assert abs(timing.inter_frame_gap_us(19200) - 1822.92) < 0.01
    assert timing.inter_frame_gap_us(115200) == 1750.0


def test_wire_times():
    assert abs(timing.wire_time_s(96, 9600) - 0.1) < 1e-9
    assert abs(timing.max_frame_time_s(9600) - 0.2708) < 0.0001   # 0x00 + 259 bytes


def test_timeouts_grow_with_work():
    for baud in (9600, 19200, 115200):
        ro = timing.reply_timeout_s(m.STATUS, baud)
        assert ro < timing.reply_timeout_s(m.SET_CODE, baud) < timing.reply_timeout_s(m.OPEN, baud)
        assert timing.reply_timeout_s(m.OPEN, baud) < timing.reply_timeout_s(m.FW_COMMIT, baud)
        assert ro > timing.max_frame_time_s(baud)


def _row(baud):
    t = timing
    ms = [int(t.reply_timeout_s(x, baud) * 1000 + 0.5) for x in (m.STATUS, m.SET_CODE, m.OPEN, m.FW_COMMIT)]
    gap = t.inter_frame_gap_us(baud)
    gap_s = ("%.1f" % gap) if gap != int(gap) else "%d" % int(gap)
    return "| %d | %.1f µs | %s µs | %.1f ms | %d ms | %d ms | %d ms | %d ms |" % (
        baud, t.char_time_us(baud), gap_s, t.max_frame_time_s(baud) * 1000, ms[0], ms[1], ms[2], ms[3])


def test_spec_table_matches_code():
    if sys.implementation.name == "micropython":
        return  # the MicroPython runner copies only .py/.json files; CPython runs this check
    with open(repo_path("protocol/PROTOCOL.md")) as f:
        spec = f.read()
    for baud in (9600, 19200, 115200):
        assert _row(baud) in spec, _row(baud)


def test_authenticated_reads_get_the_flash_budget():
    assert timing.processing_ms(m.EVENTS) == timing.PROCESS_DEFAULT_MS
    assert timing.processing_ms(m.EVENTS, True) == timing.PROCESS_FLASH_MS
    assert timing.reply_timeout_s(m.EVENTS, 9600, True) > timing.reply_timeout_s(m.EVENTS, 9600)
    assert timing.processing_ms(m.OPEN) == timing.PROCESS_OPEN_MS
