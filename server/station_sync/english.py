"""The station sync's English words: reasons (``sync.*``), field names (``sfield.*``), values
(``sval.*``), run actions (``sact.*``) and consent sources (``csource.*``).

The CLI and the API's readable strings use them directly; the catalogue's English side
(server/texts/en.po) carries the same words, and its Chinese source the same keys with the same
placeholders (tests/sync/test_sync_reasons.py and tests/web/test_web_units.py check them).
"""
WORDS = {
    # Separators a sentence made of parts uses.
    "sync.list_sep": ", ",
    "sync.part_sep": "; ",
    "sync.row": "row {row}",
    "sync.whole_file": "whole file",
    "sync.record": "account {id}",
    # Phone numbers.
    "sync.phone.empty": "phone number is empty",
    "sync.phone.not_text": "phone number is not text: {value}",
    "sync.phone.not_whole": "phone number {value} is not a whole number",
    "sync.phone.scientific": "phone number {value} was turned into scientific notation by a spreadsheet; digits are "
                             "lost",
    "sync.phone.not_chinese": "phone number {value} is not a Chinese number (+86)",
    "sync.phone.not_digits": "phone number {value} contains characters that are not digits",
    "sync.phone.landline": "phone number {value} is a landline; a mobile number (1[3-9] + 9 digits) is needed",
    "sync.phone.second_digit": "phone number {value} is not a Chinese mobile number (second digit must be 3-9)",
    "sync.phone.not_11_digits": "phone number {value} does not have 11 digits (it has {count})",
    "sync.phone.not_mobile": "phone number {value} is not a Chinese mobile number (11 digits starting 13-19)",
    "sync.phones.none": "no phone number",
    "sync.phones.no_mobile": "no mobile number among {numbers}; pickup codes go by SMS",
    # Field values.
    "sync.field.empty": "{field} is empty",
    "sync.field.too_long": "{field} is longer than {max} characters",
    "sync.date.bad": "{field} {value} is not a date (use YYYY-MM-DD)",
    "sync.date.future": "{field} {value} is in the future",
    "sync.date.too_old": "{field} {value} is implausibly old",
    "sync.time.bad": "{field} {value} is not a timestamp (use ISO 8601, e.g. 2026-03-05T10:00:00+08:00)",
    "sync.bool.empty": "{field} is empty; write yes or no (是/否)",
    "sync.bool.bad": "{field} {value} is not yes or no (是/否)",
    "sync.consent.no_date": "consent is given but its date is missing",
    "sync.consent.without": "consent date or source given without the consent itself",
    "sync.accessibility.bad": "accessibility {value} is not one of none/low/middle/high (无/低位/中位/高位)",
    "sync.proxy.not_object": "proxy {value} is not an object with name and phone",
    "sync.proxy.bad_format": "proxy {value} is not 'name:phone'",
    "sync.proxy.phone": "proxy {name}: {reason}",
    "sync.id.bad": "station account id {value} must be at most {max} characters without spaces",
    "sync.version.not_whole": "version {value} is not a whole number",
    "sync.version.negative": "version {value} is negative",
    # A whole file, a row of it.
    "sync.file.not_text": "the file is neither UTF-8 nor GBK/GB18030 text (undecodable byte at offset {offset})",
    "sync.file.xls": "this is an old Excel .xls file; save it as .xlsx or CSV and upload again",
    "sync.file.nul": "the file contains NUL bytes; it is not a CSV text export",
    "sync.file.csv_malformed": "the CSV is malformed and cannot be read",
    "sync.file.xlsx_unreadable": "the XLSX workbook cannot be read (damaged, or not a workbook)",
    "sync.file.no_sheet": "the workbook has no sheet named {sheet} (sheets: {sheets})",
    "sync.file.empty": "the file is empty: no header row",
    "sync.file.duplicate_column": "columns {first} and {second} both mean {field}",
    "sync.file.missing_columns": "missing required column(s): {fields}",
    "sync.file.too_many_rows": "the file has {rows} rows; at most {max} per import",
    "sync.file.no_rows": "the file has a header but no account rows",
    "sync.row.too_many_cells": "row has {cells} cells but the header has {columns} columns",
    "sync.row.too_few_cells": "row has {cells} cells but the header has {columns} columns: a cell is missing",
    "sync.row.cut_off": ("the file ends inside this row, with no line break after it: the row may be cut off; "
                         "export the file again"),
    "sync.conflict.shared_phone": ("phone {phone} is on {count} accounts (also {accounts}): no deposit for it until "
                                   "the station's book gives it to one"),
    "sync.row.other_station": "row belongs to station {station}, not this one; refused",
    "sync.row.duplicate_id": "account id {id} appears in rows {first} and {second}",
    # A record of the station system's HTTP feed.
    "sync.record.not_object": "account entry is not a JSON object",
    "sync.record.other_station": "record belongs to station {station}; refused",
    "sync.record.missing": "{field} is missing",
    "sync.record.not_integer": "{field} must be an integer",
    "sync.record.not_bool": "{field} must be true or false",
    "sync.record.not_list": "{field} must be a list",
    "sync.record.not_map": "{field} must be an object",
    "sync.record.consent_shape": "consent must be an object with a boolean 'given'",
    "sync.record.unknown_field": "unknown field {value}",
    "sync.record.same_version": "two different records with the same id and version {version} in one page",
    # Conflicts the merge leaves to the keeper.
    "sync.conflict.deleted": "account deleted at the station while edited at the locker",
    "sync.conflict.same_time": "changed at the station and at the locker at nearly the same time",
    "sync.conflict.no_time": "changed at the station and at the locker and the station gave no time for its change",
    # Lines of a run's report.
    "sync.detail_head": "{action} {id}",
    "sync.detail_change": "{field}: {old} -> {new}",
    "sync.detail_superseded": "local edit of {field} ({value}) superseded by a later station edit",
    "sync.detail_conflict": "CONFLICT {field}: locker {local} / station {station} ({reason})",
    "sync.detail_withdrawn": "consent withdrawn: no new locker deliveries",
    "sync.run.rows_skipped": "{count} row(s) with problems were skipped at the keeper's request",
    "sync.run.would_push": "locker-side edit of {id} {field} -> {value} would be pushed",
    "sync.run.file_rejected": "the file has {problems} problem(s); nothing was applied",
    "sact.create": "create",
    "sact.update": "update",
    "sact.delete": "delete",
    "sact.restore": "restore",
    "sact.unchanged": "unchanged",
    "sact.stale": "stale",
    "sact.ignored": "ignored",
    # Account fields, as the book's columns are called.
    "sfield.id": "account id",
    "sfield.name": "name",
    "sfield.phones": "phone",
    "sfield.phone": "phone (deposits go by it)",
    "sfield.household": "household",
    "sfield.consent": "consent",
    "sfield.consent_date": "consent date",
    "sfield.consent_source": "consent source",
    "sfield.proxies": "proxies",
    "sfield.proxy_name": "proxy name",
    "sfield.accessibility": "accessibility",
    "sfield.version": "version",
    "sfield.updated_at": "updated_at",
    "sfield.deleted": "deleted",
    "sfield.station": "station",
    "sfield.station_id": "station_id",
    "sfield.field_updated_at": "field_updated_at",
    "sfield.record": "record",
    "sfield.date": "date",
    # Values.
    "sval.consent_yes": "agreed ({date}, {source})",
    "sval.consent_no": "not agreed",
    "sval.acc_none": "any height",
    "sval.acc_low": "low",
    "sval.acc_middle": "middle",
    "sval.acc_high": "high",
    "sval.yes": "yes",
    "sval.no": "no",
    "sval.none": "none",
    "sval.empty": "(empty)",
    # How consent was recorded: cunbox's own sources, and the usual English ones a station system sends.
    "csource.seed": "demo data",
    "csource.station_book": "station book",
    "csource.villager": "by the villager",
    "csource.operator": "by the station keeper",
    "csource.locker": "at the locker",
    "csource.paper_form": "paper form",
    "csource.paper": "paper form",
    "csource.phone": "by phone",
    "csource.sms": "by SMS",
    "csource.in_person": "in person",
}


def word(key, **params):
    text = WORDS.get(key)
    if text is None:
        return None
    return text.format(**params) if params else text
