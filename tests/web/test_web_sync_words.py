"""The resident book's import report, its conflicts and its consent sources read in Chinese (issue 15):
every refused row names its row and says why in words, with the value the keeper typed; a conflict
says what both sides hold and why it was not decided; how consent was recorded is a word, not
`seed` or `station_book`. Through Flask's test client on a fresh copy of the test county."""
import html as htmllib
import re
from io import BytesIO

import pytest
from sqlalchemy import select
from support.page_words import english_words
from support.web_world import built_copy, client_as, make_app

from server.models import Account
from server.services.accounts import set_consent

HEADER = "账户编号,姓名,手机号,同意柜递,同意日期,同意方式,代取人,无障碍,站点编号\n"
# (row, line, the Chinese reason the page must show for it). Row 1 is the header.
BAD_ROWS = [
    (3, "DC-103,王芳,1380013800,否,,,,,", "手机号不是11位（1380013800，共10位）"),
    (4, "DC-104,李强,13800000104,不知道,,,,,", "同意柜递应填“是”或“否”，不能填“不知道”"),
    (5, "DC-105,周敏,13800000105,是,2024-02-30,,,,", "同意日期不是日期（2024-02-30），请写成 2024-03-05 这样的格式"),
    (6, "DC-106,吴刚,13800000106,是,2099-01-01,,,,", "同意日期是将来的日期（2099-01-01）"),
    (7, "DC-101,孙丽,13800000107,否,,,,,", "账户编号 DC-101 在第 2 行和第 7 行重复"),
    (8, "DC-108,郑洁,13800000108,是,,,,,", "已同意柜递，但没有填同意日期"),
    (9, "DC-109,,13800000109,否,,,,侧面,", "姓名为空"),
    (9, None, "无障碍需求应填 无、低位、中位 或 高位，不能填“侧面”"),
    (10, "DC-110,冯军,010-12345678,否,,,,,", "没有手机号（只有 010-12345678）：取件码要用短信发送"),
    (11, "DC-111,陈静,13800000111,否,,,王五:1234567,,", "代取人王五：手机号不是11位（1234567，共7位）"),
    (12, "DC-112,褚红,13800000112,否,,,,,{other}", "这一行属于另一个站点（{other}），不能导入本站"),
]
GOOD = "DC-101,钱多,13800000101,是,2024-03-05,纸质同意书,,,"
LAST = "DC-120,卫兰,13800000120,是,2024-03-05,纸质同意书,,低位,"     # row 13, good


@pytest.fixture
def site(tmp_path):
    db, world = built_copy(tmp_path)
    app = make_app(db)
    yield app, world, db
    db.dispose()


def upload(c, text, lang=None, **extra):
    path = "/station/residents" + ("?lang=%s" % lang if lang else "")
    return c.post(path, data=dict(extra, csrf_token=c.csrf, file=(BytesIO(text.encode("utf-8")), "book.csv")),
                  content_type="multipart/form-data")


def rejected_rows(page):
    """[(row, where, reason)] of the import report's refused rows, as the page shows them."""
    found = re.findall(r'<tr class="rejected"(?: data-row="(\d+)")? data-reason="[^"]*">'
                       r'<td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td></tr>', page)
    return [(int(n) if n else None, htmllib.unescape(w), htmllib.unescape(r)) for n, w, r in found]


def bad_book(world):
    lines = [GOOD] + [line.format(other=world.other_station_id) for _, line, _ in BAD_ROWS if line] + [LAST]
    return HEADER + "\n".join(lines) + "\n"


def test_each_bad_row_says_its_row_and_why_in_chinese(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    r = upload(c, bad_book(world))
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    shown = rejected_rows(page)
    for row, _, reason in BAD_ROWS:
        reason = reason.format(other=world.other_station_id)
        assert (row, "第 %d 行" % row, reason) in shown, (row, reason, shown)
    # The first of the two rows with the same id is refused as well, and says so.
    assert (2, "第 2 行", "账户编号 DC-101 在第 2 行和第 7 行重复") in shown
    assert len(shown) == len(BAD_ROWS) + 1
    words, _ = english_words(page)
    assert words == [], words
    text = re.sub(r"<[^>]+>", " ", page)
    for raw in ("phone number", "refused", "is empty", "phones", "consent_date"):
        assert raw not in text
    # The machine-readable key stays on the row for scripts and tests.
    assert 'data-row="3" data-reason="phone.not_11_digits"' in page


def test_a_whole_file_problem_says_so_in_chinese(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    page = upload(c, "账户编号,姓名\nDC-1,王芳\n").get_data(as_text=True)
    assert rejected_rows(page) == [(None, "整个文件", "缺少必需的列：手机号、同意柜递")]
    old = c.post("/station/residents", data={"csrf_token": c.csrf, "file": (BytesIO(b"\xd0\xcf\x11\xe0x"), "a.xls")},
                 content_type="multipart/form-data").get_data(as_text=True)
    assert rejected_rows(old) == [(None, "整个文件", "这是旧版 Excel 文件（XLS）：请另存为 XLSX 或 CSV 后再上传")]
    assert english_words(old)[0] == []


def test_the_english_page_gives_the_same_reasons_in_english(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    shown = rejected_rows(upload(c, bad_book(world), lang="en").get_data(as_text=True))
    assert (3, "row 3", "phone number 1380013800 does not have 11 digits (it has 10)") in shown
    assert (8, "row 8", "consent is given but its date is missing") in shown


def test_skipped_rows_and_changes_are_reported_in_chinese(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    r = upload(c, bad_book(world), apply_valid_rows="on")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "新增 DC-120" in text and "新增 DC-101" not in text   # DC-101's two rows are both refused
    assert "按要求跳过了11行有问题的数据" in text
    assert english_words(page)[0] == []
    changed = HEADER + LAST.replace("卫兰", "卫岚").replace("低位", "高位") + "\n"
    page = upload(c, changed).get_data(as_text=True)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "更新 DC-120；姓名：卫兰 → 卫岚；无障碍需求：低位 → 高位" in text
    assert english_words(page)[0] == []


def _conflict(c, db):
    """A consent withdrawn at the locker while the station book (without times) gives it again."""
    book = HEADER + "DC-001,陈梅,13800000001,是,2024-03-05,纸质同意书,,,\n"
    assert upload(c, book).status_code == 200

    def withdraw_at_locker(s):
        a = s.scalar(select(Account).where(Account.station_account_id == "DC-001"))
        set_consent(s, a, False, "locker")
    db.run(withdraw_at_locker)
    return upload(c, book.replace("2024-03-05,纸质同意书", "2024-03-06,paper form"))


def test_a_conflict_is_listed_with_both_sides_and_its_reason_in_chinese(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    report = _conflict(c, db).get_data(as_text=True)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", report))
    assert ("冲突 同意柜递：柜机这边 未同意 / 站点 已同意（2024-03-06，纸质同意书）"
            "（站点和柜机都改了这一项，站点没有给出修改时间）") in text
    page = c.get("/station/residents").get_data(as_text=True)
    row = re.search(r'<tr class="conflict".*?</tr>', page, re.S).group(0)
    cells = [htmllib.unescape(re.sub(r"<[^>]+>", "", x)).strip() for x in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[:5] == ["陈梅 DC-001", "同意柜递", "未同意", "已同意（2024-03-06，纸质同意书）",
                         "站点和柜机都改了这一项，站点没有给出修改时间"]
    assert 'data-reason="conflict.no_time"' in row
    assert english_words(page)[0] == []
    # The keeper takes the station book's value: the conflict is gone and consent is given again.
    cid = re.search(r'data-conflict="(\d+)"', row).group(1)
    r = c.post("/station/residents/conflicts/%s/station" % cid, data={"csrf_token": c.csrf})
    after = c.get(r.location).get_data(as_text=True)
    assert "已采用站点名册的同意柜递。" in after and 'class="conflict"' not in after
    with db.reading() as s:
        assert s.scalar(select(Account.consent_locker).where(Account.station_account_id == "DC-001")) is True
    again = c.post("/station/residents/conflicts/%s/local" % cid, data={"csrf_token": c.csrf})
    assert "这个冲突已经处理过了。" in c.get(again.location).get_data(as_text=True)


def test_another_stations_operator_cannot_settle_a_conflict(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    _conflict(c, db)
    cid = re.search(r'data-conflict="(\d+)"', c.get("/station/residents").get_data(as_text=True)).group(1)
    other = client_as(app, "op-xicun")
    r = other.post("/station/residents/conflicts/%s/local" % cid, data={"csrf_token": other.csrf})
    assert "这个冲突已经处理过了。" in other.get(r.location).get_data(as_text=True)
    assert 'data-conflict="%s"' % cid in c.get("/station/residents").get_data(as_text=True)


def test_a_conflict_stored_with_an_old_english_reason_still_reads(site):
    from server.models.station_sync import StationSyncConflict
    app, world, db = site
    c = client_as(app, "op-dongcun")
    _conflict(c, db)

    def old_reasons(s):
        row = s.scalars(select(StationSyncConflict)).one()
        row.reason = "changed at the station and at the locker at nearly the same time"
    db.run(old_reasons)
    page = c.get("/station/residents").get_data(as_text=True)
    assert "站点和柜机几乎同时改了这一项，分不出先后" in page and "nearly" not in page

    def free_text(s):
        s.scalars(select(StationSyncConflict)).one().reason = "重复登记，待核实"
    db.run(free_text)
    assert "重复登记，待核实" in c.get("/station/residents").get_data(as_text=True)


def test_how_consent_was_recorded_is_shown_in_words(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    page = c.get("/station/residents").get_data(as_text=True)
    assert '<span data-source="seed">演示数据</span>' in page
    book = HEADER + ("DC-201,韩梅,13800000201,是,2024-03-05,纸质同意书,,,\n"
                     "DC-202,魏东,13800000202,是,2024-03-05,,,低位,\n"
                     "DC-203,蒋涛,13800000203,是,2024-03-05,paper form,,,\n")
    assert upload(c, book).status_code == 200
    page = c.get("/station/residents").get_data(as_text=True)
    assert '<span data-source="纸质同意书">纸质同意书</span>' in page       # the station's own words, as written
    assert '<span data-source="station_book">站点名册</span>' in page     # no source given: from the book
    assert '<span data-source="paper form">纸质同意书</span>' in page
    for raw in ("· seed", "· station_book", "· paper form"):
        assert raw not in page
    assert english_words(page)[0] == []


def test_a_phone_on_two_accounts_is_listed_with_what_to_do_and_no_side_to_take(site):
    app, world, db = site
    c = client_as(app, "op-dongcun")
    book = HEADER + "DC-001,陈梅,13800000001,是,2024-03-05,纸质同意书,,,\nDC-150,陈小梅,13800000001,否,,,,,\n"
    assert upload(c, book).status_code == 200
    page = c.get("/station/residents").get_data(as_text=True)
    rows = re.findall(r'<tr class="conflict"[^>]*data-field="phone".*?</tr>', page, re.S)
    assert len(rows) == 2
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", rows[0]))
    assert "手机号13800000001登记在2个账户名下（另有DC-150）" in text
    assert "请在站点名册里改成只属于一人" in text and "/conflicts/" not in rows[0]     # no buttons to take a side
    assert english_words(page)[0] == []
