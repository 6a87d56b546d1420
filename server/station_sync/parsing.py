"""CSV/XLSX exports of a station's resident book -> validated records and a row-by-row report.

Pure: bytes in, ParseReport out. Encodings: UTF-8 with or without BOM, UTF-16 with BOM, and GBK /
GB18030 (what Excel on a Chinese Windows writes). Headers may be English or Chinese. Nothing is
applied from a file with errors unless the caller explicitly asks to apply the valid rows.
"""
import codecs
import csv
import io
import re

from server.station_sync.reasons import Reason, ReasonError
from server.station_sync.records import record_from_flat

COLUMN_ALIASES = {
    "id": ("station_account_id", "account_id", "id", "账户编号", "账号", "编号", "居民编号", "用户编号", "账户id"),
    "name": ("name", "姓名", "名字", "户主姓名"),
    "phones": ("phone", "phones", "mobile", "手机", "手机号", "手机号码", "电话", "联系电话", "电话号码"),
    "household": ("household", "address", "住址", "地址", "家庭住址", "户籍地址", "门牌", "门牌号"),
    "consent": ("consent", "同意", "同意柜递", "同意入柜", "同意快递柜投递", "柜递同意", "是否同意"),
    "consent_date": ("consent_date", "同意日期", "签署日期", "同意时间"),
    "consent_source": ("consent_source", "同意方式", "同意来源"),
    "proxies": ("proxies", "proxy", "代取人", "代收人", "委托代取人"),
    "accessibility": ("accessibility", "无障碍", "取件偏好", "柜格偏好", "无障碍需求"),
    "version": ("version", "版本"),
    "updated_at": ("updated_at", "更新时间", "修改时间"),
    "deleted": ("deleted", "已删除", "删除", "注销"),
    "station": ("station", "station_id", "站点", "服务站", "站点编号"),
}
REQUIRED_COLUMNS = ("id", "name", "phones", "consent")
_ALIAS_INDEX = {}
for _key, _names in COLUMN_ALIASES.items():
    for _n in _names:
        _ALIAS_INDEX[re.sub(r"[\s_\-]", "", _n.lower())] = _key

MAX_ROWS = 200000


class RowError:
    """A problem of one row (row None: of the whole file), as a Reason; ``message`` is its English."""
    __slots__ = ("row", "column", "reason")

    def __init__(self, row, column, reason):
        self.row, self.column, self.reason = row, column, reason

    @property
    def message(self):
        return self.reason.english()

    def as_dict(self):
        d = self.reason.as_dict()
        return {"row": self.row, "column": self.column, "message": self.message, "reason_key": d["key"],
                "params": d["params"]}

    def __repr__(self):
        return "RowError(%r, %r, %r)" % (self.row, self.column, self.reason)


class ParseReport:
    """What a file held: accepted records (with their row numbers) and every problem found."""

    def __init__(self, source):
        self.source = source
        self.format = None
        self.encoding = None
        self.columns = {}          # canonical key -> header text as written in the file
        self.ignored_columns = []
        self.rows_read = 0
        self.records = []          # (row number, record) for rows without errors
        self.errors = []           # RowError; row None = the whole file
        self.rejected_rows = set()
        self.ends_mid_row = False  # a CSV whose last byte is no line break: its last row may be cut off

    @property
    def ok(self):
        return not self.errors

    def file_error(self, key, **params):
        reason = key if isinstance(key, Reason) else Reason(key, **params)
        self.errors.append(RowError(None, None, reason))

    def row_error(self, row, column, reason):
        self.errors.append(RowError(row, column, reason))
        self.rejected_rows.add(row)

    def as_dict(self):
        return {"source": self.source, "format": self.format, "encoding": self.encoding,
                "rows_read": self.rows_read, "rows_accepted": len(self.records),
                "rows_rejected": len(self.rejected_rows), "ignored_columns": self.ignored_columns,
                "errors": [e.as_dict() for e in self.errors]}

    def text(self):
        lines = ["%s: %s%s, %d rows read, %d accepted, %d rejected" % (
            self.source, self.format or "?", " (%s)" % self.encoding if self.encoding else "", self.rows_read,
            len(self.records), len(self.rejected_rows))]
        if self.ignored_columns:
            lines.append("  ignored columns: %s" % ", ".join(self.ignored_columns))
        for e in sorted(self.errors, key=lambda e: -1 if e.row is None else e.row):
            where = "file" if e.row is None else "row %d" % e.row
            col = " [%s]" % self.columns.get(e.column, e.column) if e.column else ""
            lines.append("  %s%s: %s" % (where, col, e.message))
        return "\n".join(lines)


def decode_text(data):
    """Bytes of a text export -> (text, encoding name). Raises ReasonError when it is no text we read."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise ReasonError("file.not_text", offset=e.start) from None
    return text, "gb18030"


def parse_file(data, source="upload", station_keys=(), today=None, sheet=None):
    """Parse a CSV or XLSX export. ``station_keys``: the values a station column may hold for this
    station (its id and code); a row naming another station is refused."""
    report = ParseReport(source)
    if data.startswith(b"PK\x03\x04"):
        report.format = "xlsx"
        rows = _xlsx_rows(data, report, sheet)
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        report.format = "xls"
        report.file_error("file.xls")
        return report
    else:
        report.format = "csv"
        rows = _csv_rows(data, report)
    if rows is None:
        return report
    _validate_rows(rows, report, {str(k) for k in station_keys}, today)
    return report


def _csv_rows(data, report):
    try:
        text, report.encoding = decode_text(data)
    except ReasonError as e:
        report.file_error(e.reason)
        return None
    if "\x00" in text:
        report.file_error("file.nul")
        return None
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    report.ends_mid_row = bool(text) and not text.endswith(("\n", "\r"))
    try:
        return list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as e:
        report.file_error("file.csv_malformed", detail=str(e))
        return None


def _xlsx_rows(data, report, sheet):
    import openpyxl
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a damaged zip
        report.file_error("file.xlsx_unreadable", detail=str(e))
        return None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            report.file_error("file.no_sheet", sheet=sheet, sheets=wb.sheetnames)
            return None
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        report.encoding = "sheet %s" % ws.title
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _blank(cell):
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _validate_rows(rows, report, station_keys, today):
    # The header is the first non-empty row; row numbers are the spreadsheet's (1-based).
    start = 0
    while start < len(rows) and all(_blank(c) for c in rows[start]):
        start += 1
    if start == len(rows):
        report.file_error("file.empty")
        return
    header = rows[start]
    index = {}
    for i, cell in enumerate(header):
        name = "" if cell is None else str(cell).strip()
        key = _ALIAS_INDEX.get(re.sub(r"[\s_\-]", "", name.lower()))
        if key is None:
            if name:
                report.ignored_columns.append(name)
            continue
        if key in index:
            report.file_error("file.duplicate_column", first=report.columns[key], second=name, field=key)
            continue
        index[key] = i
        report.columns[key] = name
    missing = [k for k in REQUIRED_COLUMNS if k not in index]
    if missing:
        # The field words a page shows for them are header names the file may use.
        report.file_error("file.missing_columns", fields=missing)
    if report.errors:
        return
    seen = {}
    body = rows[start + 1:]
    if len(body) > MAX_ROWS:
        report.file_error("file.too_many_rows", rows=len(body), max=MAX_ROWS)
        return
    width = len(header)
    last = max((i for i, row in enumerate(body) if not all(_blank(c) for c in row)), default=None)
    for offset, row in enumerate(body):
        rownum = start + 2 + offset
        if all(_blank(c) for c in row):
            continue
        report.rows_read += 1
        if offset == last and report.ends_mid_row:
            # An export cut short (a failed copy, a full disk) ends inside its last row: "2024-05-1" is
            # then a shorter date, "1380000" a shorter phone. A whole export ends with a line break.
            report.row_error(rownum, None, Reason("row.cut_off"))
            continue
        if len(row) > width and not all(_blank(c) for c in row[width:]):
            report.row_error(rownum, None, Reason("row.too_many_cells", cells=len(row), columns=width))
            continue
        if len(row) < width:
            report.row_error(rownum, None, Reason("row.too_few_cells", cells=len(row), columns=width))
            continue
        flat = {k: (row[i] if i < len(row) else None) for k, i in index.items()}
        station = flat.pop("station", None)
        if isinstance(station, float) and station == int(station):
            station = int(station)           # a spreadsheet number cell: 12.0 is station 12
        if not _blank(station) and station_keys and str(station).strip() not in station_keys:
            report.row_error(rownum, "station", Reason("row.other_station", station=str(station)))
            continue
        rec, errors = record_from_flat(flat, today=today)
        for key, reason in errors:
            report.row_error(rownum, key, reason)
        if rec["id"] is not None:
            if rec["id"] in seen:
                first = seen[rec["id"]]
                why = Reason("row.duplicate_id", id=rec["id"], first=first, second=rownum)
                report.row_error(rownum, "id", why)
                if first not in report.rejected_rows:
                    report.row_error(first, "id", why)
            else:
                seen[rec["id"]] = rownum
        if not errors:
            report.records.append((rownum, rec))
    report.records = [(n, r) for n, r in report.records if n not in report.rejected_rows]
    if report.rows_read == 0:
        report.file_error("file.no_rows")
