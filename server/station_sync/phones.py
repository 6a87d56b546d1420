"""Chinese phone numbers: normalise what station keepers type, reject what cannot be a number.

Mobile numbers are the only ones a pickup code can be sent to, so they are the canonical form:
11 digits ``1[3-9]xxxxxxxxx`` with country prefixes (+86, 0086, 86), spaces, dashes, dots and
brackets removed. Landlines (area code 0xx/0xxx + 7-8 digits) are accepted where the caller allows
them and normalised to ``0AREA-NUMBER``; they never receive an SMS.
"""
import re

from server.station_sync.reasons import ReasonError

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
# Area codes: 010 and 02x are 3 digits, every other one is 4 (0xxx); local numbers 7 or 8 digits.
_LANDLINE = re.compile(r"^(0(?:10|2\d|[3-9]\d{2}))(\d{7,8})$")
_STRIP = re.compile(r"[\s\-\.\(\)（）\u3000]")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")


class PhoneError(ReasonError):
    """The text is not a phone number we can use; its reason says why, for the station keeper."""


def normalise_phone(text, allow_landline=False):
    """Return the canonical form of ``text`` or raise PhoneError.

    >>> normalise_phone("+86 138-1234-5678")
    '13812345678'
    """
    if text is None:
        raise PhoneError("phone.empty")
    if isinstance(text, bool):
        raise PhoneError("phone.not_text", value=text)
    if isinstance(text, int):
        text = str(text)
    elif isinstance(text, float):
        # Spreadsheet cells hold numbers as floats; an 11-digit mobile survives exactly.
        if text != int(text):
            raise PhoneError("phone.not_whole", value=text)
        text = str(int(text))
    raw = str(text).strip()
    if not raw:
        raise PhoneError("phone.empty")
    if _SCIENTIFIC.match(raw):
        raise PhoneError("phone.scientific", value=raw)
    digits = _STRIP.sub("", raw)
    had_country = True
    if digits.startswith("+"):
        if not digits.startswith("+86"):
            raise PhoneError("phone.not_chinese", value=raw)
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    else:
        had_country = False
    if not digits.isdigit():
        raise PhoneError("phone.not_digits", value=raw)
    if _MOBILE.match(digits):
        return digits
    # After a country code a landline loses its trunk 0: +86 10 1234 5678 is 010-12345678.
    m = _LANDLINE.match("0" + digits if had_country and not digits.startswith("0") else digits)
    if m:
        if allow_landline:
            return "%s-%s" % (m.group(1), m.group(2))
        raise PhoneError("phone.landline", value=raw)
    if len(digits) == 11 and digits.startswith("1"):
        raise PhoneError("phone.second_digit", value=raw)
    if len(digits) != 11:
        raise PhoneError("phone.not_11_digits", value=raw, count=len(digits))
    raise PhoneError("phone.not_mobile", value=raw)


def split_phones(text):
    """Split a cell holding several numbers ("138..., 139..." or with 、；/ separators) into raw parts."""
    if text is None:
        return []
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return [text]
    parts = re.split(r"[,;，；、/|\n]+", str(text))
    return [p for p in (x.strip() for x in parts) if p]
