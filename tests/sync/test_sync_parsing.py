"""CSV/XLSX exports: encodings, Chinese and English headers, and every bad row reported."""
import datetime as dt
import io

import openpyxl

from server.station_sync.parsing import decode_text, parse_file

TODAY = dt.date(2026, 11, 29)
HEADER_ZH = "账户编号,姓名,手机号,住址,同意柜递,同意日期,同意方式,代取人,无障碍\n"
ROWS_ZH = ("A001,张三,+86 138-1234-5678,东村3组12号,是,2024年3月5日,纸质同意书,李四:139 0000 0000,低位\n"
           "A002,王五,0086 13912345678,西村1组,否,,,,\n")


def test_gbk_csv_with_chinese_headers():
    data = (HEADER_ZH + ROWS_ZH).encode("gbk")
    r = parse_file(data, "book.csv", today=TODAY)
    assert r.ok, r.text()
    assert r.encoding == "gb18030"
    recs = dict((rec["id"], rec) for _, rec in r.records)
    a = recs["A001"]["values"]
    assert a["name"] == "张三" and a["phones"] == ["13812345678"] and a["household"] == "东村3组12号"
    assert a["consent"] == {"given": True, "date": "2024-03-05", "source": "纸质同意书"}
    assert a["proxies"] == [{"name": "李四", "phone": "13900000000"}]
    assert a["accessibility"] == "low"
    assert recs["A002"]["values"]["consent"]["given"] is False
    assert recs["A002"]["values"]["accessibility"] == "none"


def test_utf8_with_and_without_bom_give_the_same_records():
    text = HEADER_ZH + ROWS_ZH
    with_bom = parse_file(b"\xef\xbb\xbf" + text.encode("utf-8"), today=TODAY)
    without = parse_file(text.encode("utf-8"), today=TODAY)
    gbk = parse_file(text.encode("gb18030"), today=TODAY)
    assert with_bom.encoding == "utf-8-sig" and without.encoding == "utf-8"
    assert with_bom.records == without.records == gbk.records


def test_undecodable_bytes_rejected_as_a_file_error():
    r = parse_file(b"id,name,phone,consent\n\x81\x30\xff\xff,x,13812345678,yes\n")
    assert not r.ok and r.errors[0].row is None and "neither UTF-8 nor GBK" in r.errors[0].message
    assert r.errors[0].reason.key == "file.not_text" and r.errors[0].reason.params == {"offset": 22}
    assert r.records == []


def test_missing_columns_listed_and_nothing_accepted():
    r = parse_file("账户编号,姓名\nA1,张三\n".encode("utf-8"))
    assert not r.ok and r.records == []
    assert r.errors[0].reason.key == "file.missing_columns"
    assert r.errors[0].reason.params == {"fields": ["phones", "consent"]}
    assert r.errors[0].message == "missing required column(s): phone, consent"


def test_every_bad_row_is_reported_with_its_row_number():
    data = ("id,name,phone,consent,consent_date,accessibility\n"
            "A1,Zhang,13812345678,yes,2024-01-02,\n"
            "A2,Wang,12345,yes,2024-01-02,\n"        # invalid phone
            "A3,Li,13812345679,maybe,,\n"             # bad consent value
            "A4,Zhao,13812345670,yes,2024-02-30,\n"   # bad date
            "A5,Qian,13812345671,yes,2099-01-01,\n"   # future date
            "A1,Sun,13812345672,no,,\n"               # duplicate id (also rejects row 2)
            "A6,Zhou,13812345673,yes,,\n"             # consent without date
            "A7,,13812345674,no,,sideways\n")         # empty name, bad accessibility
    r = parse_file(data.encode("utf-8"), today=TODAY)
    assert not r.ok
    by_row = {}
    for e in r.errors:
        by_row.setdefault(e.row, []).append((e.column, e.reason.key, e.reason.params))
    assert sorted(by_row) == [2, 3, 4, 5, 6, 7, 8, 9]
    # Each problem is a key with its parameters (the pages word it), not a sentence.
    assert by_row[3] == [("phones", "phone.not_11_digits", {"value": "12345", "count": 5})]
    assert by_row[4] == [("consent", "bool.bad", {"field": "consent", "value": "maybe"})]
    assert by_row[5] == [("consent", "date.bad", {"field": "consent_date", "value": "2024-02-30"})]
    assert by_row[6] == [("consent", "date.future", {"field": "consent_date", "value": "2099-01-01"})]
    dup = ("id", "row.duplicate_id", {"id": "A1", "first": 2, "second": 7})
    assert by_row[2] == [dup] and by_row[7] == [dup]
    assert by_row[8] == [("consent", "consent.no_date", {})]
    assert by_row[9] == [("name", "field.empty", {"field": "name"}),
                         ("accessibility", "accessibility.bad", {"value": "sideways"})]
    assert r.records == []
    # The CLI's report stays English, from the same keys.
    text = r.text()
    assert "row 3 [phone]: phone number 12345 does not have 11 digits (it has 5)" in text
    assert "row 4 [consent]: consent maybe is not yes or no" in text and "account id A1 appears in rows 2 and 7" in text
    d = r.as_dict()["errors"][0]
    assert set(d) == {"row", "column", "message", "reason_key", "params"}


def test_row_for_another_station_is_refused():
    data = "id,name,phone,consent,station\nA1,Zhang,13812345678,no,S1\nA2,Wang,13812345679,no,S2\n"
    r = parse_file(data.encode("utf-8"), station_keys={"S1", "1"})
    assert [n for n, _ in r.records] == [2]
    assert r.errors[0].row == 3 and r.errors[0].reason.key == "row.other_station"
    assert r.errors[0].reason.params == {"station": "S2"} and "S2" in r.errors[0].message


def test_xlsx_with_numeric_phone_and_date_cells():
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["编号", "姓名", "电话", "是否同意", "同意日期", "版本"])
    ws.append(["B1", "赵六", 13812345678, "同意", dt.datetime(2025, 6, 1), 3])
    ws.append([1002, "钱七", "138 1234 5679", False, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    r = parse_file(buf.getvalue(), "book.xlsx", today=TODAY)
    assert r.ok, r.text()
    assert r.format == "xlsx"
    (n1, b1), (n2, b2) = r.records
    assert b1["values"]["phones"] == ["13812345678"] and b1["values"]["consent"]["date"] == "2025-06-01"
    assert b1["version"] == 3
    assert b2["id"] == "1002" and b2["values"]["consent"]["given"] is False


def test_old_xls_and_empty_files_are_refused():
    assert ".xlsx or CSV" in parse_file(b"\xd0\xcf\x11\xe0rest").errors[0].message
    assert parse_file(b"").errors[0].reason.key == "file.empty"
    assert parse_file(b"id,name,phone,consent\n").errors[0].reason.key == "file.no_rows"


def test_tab_separated_and_deleted_rows():
    data = "id\tname\tphone\tconsent\tdeleted\nA1\tZhang\t13812345678\tyes\t是\n"
    r = parse_file(data.encode("utf-8"))
    assert r.ok, r.text()
    assert r.records[0][1]["deleted"] is True


def test_decode_text_prefers_utf8():
    assert decode_text("张三".encode("utf-8")) == ("张三", "utf-8")
    assert decode_text("张三".encode("gbk")) == ("张三", "gb18030")


def test_a_last_row_cut_off_by_a_short_export_is_reported_not_read_short():
    """The file stops inside its last row ("2024-05-1" of 2024-05-17): that row is refused for being cut
    off, not read as 1 May; the rows before it are fine. The same file whole reads all three rows."""
    whole = HEADER_ZH + ROWS_ZH + "A003,赵六,137 1234 5678,东村5组,是,2024-05-17,电话,,\n"
    cut = whole[:whole.index("2024-05-17") + len("2024-05-1")]
    r = parse_file(cut.encode("utf-8"), "book.csv", today=TODAY)
    assert [(e.row, e.reason.key) for e in r.errors] == [(4, "row.cut_off")]
    assert "may be cut off" in r.errors[0].message
    assert sorted(rec["id"] for _, rec in r.records) == ["A001", "A002"]
    r = parse_file(whole.encode("utf-8"), "book.csv", today=TODAY)
    assert r.ok and len(r.records) == 3, r.text()
    assert parse_file(whole.rstrip("\n").encode("utf-8"), "book.csv", today=TODAY).errors[0].reason.key == "row.cut_off"


def test_a_row_with_too_few_cells_is_reported_as_such():
    data = (HEADER_ZH + "A001,张三,13812345678,东村3组,是\n" + ROWS_ZH.split("\n")[1] + "\n").encode("utf-8")
    r = parse_file(data, "book.csv", today=TODAY)
    assert [(e.row, e.reason.key, e.reason.params) for e in r.errors] == [
        (2, "row.too_few_cells", {"cells": 5, "columns": 9})]
    assert "5 cells but the header has 9 columns" in r.errors[0].message
    assert [rec["id"] for _, rec in r.records] == ["A002"]
