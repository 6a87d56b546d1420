"""The committed protocol/test_vectors.json is exactly what tools/gen_protocol_vectors.py produces
from the current code: a wire-format change cannot slip in without regenerating (and reviewing) it."""
import subprocess
import sys

from support import ROOT


def test_vectors_file_is_current(tmp_path):
    out = tmp_path / "vectors.json"
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_protocol_vectors.py"), str(out)], check=True,
                   cwd=ROOT, capture_output=True)
    assert out.read_text() == (ROOT / "protocol" / "test_vectors.json").read_text(), (
        "protocol/test_vectors.json is stale: run python tools/gen_protocol_vectors.py and review the diff")
