"""Protocol and board fuzzing, the short run (seconds): the saved corpus replayed through every
target, hypothesis on the same targets, a few seconds of the real atheris engine, and proof that
the targets' oracles do catch a board that accepts forged or replayed frames.

The long run is `make fuzz` (bench/fuzz.py); targets and their invariants: harness/fuzz_targets.py.
"""
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ROOT

from harness import fuzz_targets
from harness.fuzz_rig import ADDRESS, KEY, FuzzBoard
from protocol import messages as m
from protocol.frame import encode_frame

CORPUS = ROOT / "tests" / "fuzz_corpus"
QUICK = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _corpus(name):
    d = CORPUS / name
    return sorted(d.iterdir()) if d.is_dir() else []


@pytest.mark.parametrize("name", sorted(fuzz_targets.TARGETS))
def test_saved_corpus_replays_clean(name):
    files = _corpus(name)
    assert len(files) >= 20, "the saved corpus for %s is missing (python -m bench.fuzz --merge %s)" % (name, name)
    target = fuzz_targets.TARGETS[name]
    for path in files:
        target(path.read_bytes())


@QUICK
@given(st.binary(max_size=600))
def test_decoder_hypothesis(data):
    fuzz_targets.target_decoder(data)


@QUICK
@given(st.binary(max_size=300))
def test_payloads_hypothesis(data):
    fuzz_targets.target_payloads(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_board_hypothesis(data):
    fuzz_targets.target_board(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_host_hypothesis(data):
    fuzz_targets.target_host(data)


def test_atheris_engine_runs_briefly(tmp_path):
    pytest.importorskip("atheris", reason="atheris (libFuzzer for Python) is not installed")
    out = subprocess.run([sys.executable, "-m", "bench.fuzz", "--seconds", "2", "decoder"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "DONE" in out.stderr and "no findings" in out.stdout


# ---- the oracles catch what they claim to catch ------------------------------------------------------

def _op(op, type_index, payload=b"", extra=b""):
    """Input bytes for target_board: one operation with a raw payload (see target_board's Reader use);
    `extra` feeds the operation's own draws (op 1: the counter step)."""
    return bytes((op, type_index, 0, len(payload))) + payload + bytes((1,)) + extra


def _type_index(t):
    return fuzz_targets.REQUEST_TYPES.index(t)


class _NoTagCheckBoard(FuzzBoard):
    """A board whose session forgot to check tags (what a broken build would do)."""

    def __init__(self):
        super().__init__()
        import protocol.session as session_mod
        self._real_equal = session_mod.equal

    def receive(self, wire, handler):
        import protocol.session as session_mod
        session_mod.equal = lambda a, b: True
        try:
            return super().receive(wire, handler)
        finally:
            session_mod.equal = self._real_equal


class _NoCounterBoard(FuzzBoard):
    """A board that forgets its counter between frames (replays get through)."""

    def receive(self, wire, handler):
        self.session.last_counter = 0
        self.session._cache = [None] * len(self.session._cache)
        return super().receive(wire, handler)


def test_board_oracle_catches_a_board_that_skips_the_tag_check():
    data = _op(3, _type_index(m.TIME_SET), b"\x00\x00\x00\x07")   # forged with the wrong key
    fuzz_targets.target_board(data)                                  # the real board: fine
    with pytest.raises(AssertionError, match="executed"):
        fuzz_targets.target_board(data, board_factory=_NoTagCheckBoard)


def test_board_oracle_catches_a_board_that_executes_replays():
    one = _op(1, _type_index(m.TIME_SET), b"\x00\x00\x00\x07", extra=b"\x00")
    data = one + bytes((5, 0))                                        # then replay it
    fuzz_targets.target_board(data)
    with pytest.raises(AssertionError):
        fuzz_targets.target_board(data, board_factory=_NoCounterBoard)


def test_rig_board_opens_once_per_authentic_open_and_never_for_a_replay():
    from protocol.auth import Hmac
    board = FuzzBoard()
    wire = encode_frame(ADDRESS, 1, m.OPEN, bytes((2, 1, 0, 0, 0, 9)), 0, 1, Hmac(KEY))
    ran = []

    def handler(t, f):
        ran.append(t)
        return board.server._handle(t, f)

    first = board.receive(wire, handler)
    assert ran == [m.OPEN] and board.lock_pins[1].pulses == 1
    again = board.receive(wire, handler)
    assert again == first and ran == [m.OPEN] and board.lock_pins[1].pulses == 1
