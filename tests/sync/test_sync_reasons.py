"""Reasons are keys with parameters (issue 15): every key the sync code uses has English words and
Chinese ones, the stored form reads back (old English sentences too), and one reason words the same
in both languages with its parameters."""
import re

from support import ROOT

from server.station_sync.english import WORDS, word
from server.station_sync.reasons import LEGACY, Reason, as_reason, encode, render
from server.texts import CATALOGUES

STATIONS = ROOT / "server" / "station_sync"
USES = re.compile(r'(?:Reason|FieldError|PhoneError|ReasonError|file_error)\(\s*"([a-z_0-9.]+)"')


def zh(key, **params):
    text = CATALOGUES["zh"].get(key)
    return None if text is None else text.format(**params)


def test_every_reason_the_sync_code_gives_has_english_and_chinese_words():
    used = set()
    for path in STATIONS.glob("*.py"):
        used |= set(USES.findall(path.read_text(encoding="utf-8")))
    used |= {"conflict.same_time", "conflict.no_time"}        # chosen by a conditional in merge.py
    assert len(used) > 40
    missing = sorted(k for k in used if "sync." + k not in WORDS or "sync." + k not in CATALOGUES["zh"])
    assert missing == []
    assert set(LEGACY.values()) <= used


def test_a_reason_is_worded_with_its_parameters_in_either_language():
    why = Reason("proxy.phone", name="王五", reason=Reason("phone.not_11_digits", value="1234567", count=7))
    assert render(why, zh) == "代取人王五：手机号不是11位（1234567，共7位）"
    assert str(why) == "proxy 王五: phone number 1234567 does not have 11 digits (it has 7)"
    cols = Reason("file.missing_columns", fields=["phones", "consent"])
    assert render(cols, zh) == "缺少必需的列：手机号、同意柜递"
    assert render(Reason("bool.bad", field="deleted", value="也许"), zh) == "已删除应填“是”或“否”，不能填“也许”"
    assert render(Reason("run.would_push", id="A1", field="accessibility", value="low"), zh) == \
        "柜机这边对 A1 的无障碍需求修改（低位）将推送给站点"
    assert render(Reason("run.would_push", id="A1", field="accessibility", value="low"), word) == \
        "locker-side edit of A1 accessibility -> low would be pushed"


def test_the_stored_form_reads_back_and_old_sentences_still_read():
    why = Reason("row.duplicate_id", id="A1", first=2, second=7)
    stored = encode(why)
    assert stored.startswith("{") and len(stored) <= 200
    assert as_reason(stored) == why and as_reason(why.as_dict()) == why
    assert as_reason({"reason_key": "file.empty", "params": {}, "message": "x"}) == Reason("file.empty")
    # A reason stored before keys: the known sentences read as their key, anything else as written.
    old = "account deleted at the station while edited at the locker"
    assert as_reason(old) == Reason("conflict.deleted")
    assert render(old, zh) == "站点已删除这位居民，而柜机这边改过这一项"
    assert render("重复登记，待核实", zh) == "重复登记，待核实" and render("{broken", zh) == "{broken"
    # Parameters too long for the column are dropped, never cut into broken JSON.
    long = encode(Reason("conflict.same_time", note="x" * 300))
    assert as_reason(long) == Reason("conflict.same_time")
