"""The one catalogue of texts (server/texts): whole, in gettext form, the only place person-read
Chinese is written, and a county's own wording taking the place of ours without touching code."""
import ast
import re
import subprocess
import sys

from babel.messages.pofile import read_po
from support import ROOT

from server import texts

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_catalogue_is_whole_and_says_so():
    assert texts.problems() == []
    out = subprocess.run([sys.executable, "-m", "server.texts"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "the catalogue is whole" in out.stdout


def test_the_files_are_gettext_catalogues_with_chinese_as_the_source():
    with open(ROOT / "server/texts/messages.pot", "rb") as f:
        pot = read_po(f)
    with open(ROOT / "server/texts/en.po", "rb") as f:
        en = read_po(f)
    entries = [m for m in pot if m.id]
    assert len(entries) == len(texts.CATALOGUES["zh"]) > 500
    assert all(m.context and not m.string for m in entries)                 # a template: no translations
    assert sum(1 for m in entries if CJK.search(m.id)) > 0.95 * len(entries)  # the source text is Chinese
    for m in entries:
        assert ("python-brace-format" in m.flags) == ("{" in m.id), m.context
    assert {m.context for m in en if m.id} == {m.context for m in entries}
    assert all(m.string for m in en if m.id)


def test_texts_fill_placeholders_and_fall_back_to_chinese_then_the_key():
    assert texts.text("err.too_long", limit=40) == "内容太长：最多40个字。"
    assert texts.text("err.too_long", "en", limit=40) == "Too long: at most 40 characters."
    assert texts.text("err.too_long", "fr", limit=40) == "内容太长：最多40个字。"
    assert texts.text("no.such.key") == "no.such.key"


def _county_file(folder, lang, entries):
    lines = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=utf-8\\n"', ""]
    for key, wording in entries.items():
        lines += ['msgctxt "%s"' % key, 'msgid "%s"' % texts.CATALOGUES["zh"][key], 'msgstr "%s"' % wording, ""]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("%s.po" % lang)).write_text("\n".join(lines), encoding="utf-8")


def test_a_countys_own_wording_replaces_ours_in_pages_and_sms(monkeypatch, tmp_path):
    from sqlalchemy import select
    from support.web_world import built_copy, make_app

    from server.models import Notification
    from server.services import sends
    (tmp_path / "site").mkdir()
    db, world = built_copy(tmp_path / "site")   # (the shared county is built with the shipped wording)
    monkeypatch.setenv("CUNBOX_TEXTS_DIR", str(tmp_path / "texts"))
    _county_file(tmp_path / "texts", "zh_CN", {"send.title": "农产品寄出预约",
                                               "sms.dropoff": "【县邮柜】投递码{code}，{deadline}前到{locker}。"})
    assert texts.text("send.title") == "农产品寄出预约" and texts.text("send.title", "en") == "Book a send"
    page = make_app(db).test_client().get("/send").get_data(as_text=True)
    assert "农产品寄出预约" in page and "预约寄件" not in page
    from server.models import Account
    with db.reading() as s:
        account_id = s.scalar(select(Account.id).where(Account.phone == world.consenting_phone,
                                                       Account.station_id == world.station_id))
    out = sends.book_send(db, world.operator, account_id, world.locker_id, world.carrier_id, "S")
    with db.reading() as s:
        body = s.scalars(select(Notification.body).where(Notification.parcel_id == out["parcel"]["id"])).one()
    assert body.startswith("【县邮柜】投递码%s，" % out["dropoff_code"])


def test_a_broken_county_file_is_reported_and_ours_is_used(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("CUNBOX_TEXTS_DIR", str(tmp_path))
    (tmp_path / "zh_CN.po").write_bytes(b'msgctxt "send.title"\nmsgid "\xff\xfe broken')
    assert texts.text("send.title") == "预约寄件"
    assert "cannot be read" in caplog.text


def _cjk_constants(path):
    """String constants with Chinese in a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            docs.add(id(node.body[0].value))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs and CJK.search(n.value)]


def test_no_text_a_person_reads_is_written_in_code_or_templates():
    # Chinese that is data, not wording: the demo county's names, and the words station books use in
    # their column headers and cells (read, never shown)
    data = {"server/seed.py", "server/station_sync/parsing.py", "server/station_sync/fields.py",
            "server/station_sync/english.py"}   # the last: the CLI's English, quoting the cells' Chinese values
    found = {}
    for p in (ROOT / "server").rglob("*.py"):
        rel = str(p.relative_to(ROOT))
        if rel in data or rel.startswith(("server/demo/", "server/texts/", "server/migrations/")):
            continue
        hits = _cjk_constants(p)
        if hits:
            found[rel] = hits
    for p in (ROOT / "server/web/templates").rglob("*.html"):
        # the language switch names Chinese in Chinese on the English pages
        body = p.read_text(encoding="utf-8").replace('hreflang="zh">中文<', "")
        body = re.sub(r"{#.*?#}", "", body, flags=re.S)
        if CJK.search(body):
            found[str(p.relative_to(ROOT))] = CJK.findall(body)[:5]
    assert found == {}
