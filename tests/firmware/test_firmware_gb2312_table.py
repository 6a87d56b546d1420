"""The committed firmware/gb2312_table.py holds exactly the characters of firmware/prompts.py, with
CPython's GB2312 bytes for each: a prompt changed without regenerating the table fails here (the board
would show "?" on its screen and say it aloud). Regenerate: .venv/bin/python tools/gen_gb2312_table.py"""
import importlib.util
import subprocess
import sys

import pytest
from support import ROOT

from firmware import gb2312, gb2312_table, prompts
from firmware import prompt_keys as K

REGENERATE = "firmware/gb2312_table.py is stale: run .venv/bin/python tools/gen_gb2312_table.py and review the diff"


def _table():
    codes, gb = gb2312_table.CODES, gb2312_table.GB
    assert len(codes) == len(gb) and len(codes) % 2 == 0
    return [(chr(int.from_bytes(codes[i:i + 2], "big")), gb[i:i + 2]) for i in range(0, len(codes), 2)]


def test_table_file_is_what_the_tool_writes(tmp_path):
    out = tmp_path / "gb2312_table.py"
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_gb2312_table.py"), str(out)], check=True,
                   cwd=ROOT, capture_output=True)
    assert out.read_text(encoding="utf-8") == (ROOT / "firmware" / "gb2312_table.py").read_text(
        encoding="utf-8"), REGENERATE


def test_table_has_exactly_the_prompts_characters_with_their_gb2312_bytes():
    table = _table()
    chars = [c for c, _ in table]
    assert chars == sorted(set(chars)), "CODES must be ascending and distinct (gb2312.py searches it)"
    used = {c for text in prompts.texts() for c in text if ord(c) >= 0x80}
    assert set(chars) == used, REGENERATE
    for c, gb in table:
        assert gb == c.encode("gb2312"), (c, gb)


def test_every_prompt_encodes_as_cpython_does():
    for key in range(K.COUNT):
        for args in ((1, 3), (247, 128)) if key != K.WAIT else ((30,), (3600,)):
            for text in (prompts.screen(key, args), prompts.spoken(key, args)):
                assert gb2312.encode(text) == text.encode("gb2312"), (key, text)


def _tool():
    spec = importlib.util.spec_from_file_location("gen_gb2312_table", ROOT / "tools" / "gen_gb2312_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_new_character_in_a_prompt_makes_the_table_stale(monkeypatch):
    tool = _tool()
    committed = (ROOT / "firmware" / "gb2312_table.py").read_text(encoding="utf-8")
    assert tool.render() == committed
    monkeypatch.setattr(prompts, "_T", prompts._T[:-1] + (("X", "新字：鑫"),))
    assert tool.render() != committed  # what test_table_file_is_what_the_tool_writes reports
    assert gb2312.encode("鑫") == b"?"  # and what the board would show until the table is regenerated


def test_the_tool_refuses_a_character_gb2312_lacks(monkeypatch):
    monkeypatch.setattr(prompts, "_T", prompts._T + (("X", "价格\u20ac"),))  # the euro sign
    with pytest.raises(SystemExit, match="not in GB2312"):
        _tool().render()
