"""Phone normalisation: what station keepers type -> canonical numbers; the rest refused with a reason."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.station_sync.phones import PhoneError, normalise_phone, split_phones


@pytest.mark.parametrize("raw", [
    "13812345678", "+86 138 1234 5678", "+86-138-1234-5678", "0086 13812345678", "8613812345678",
    "138-1234-5678", " 138 1234 5678 ", "(+86)13812345678", "138.1234.5678", 13812345678, 13812345678.0,
    "＋86 13812345678".replace("＋", "+"), "138\u30001234\u30005678",
])
def test_mobile_forms_normalise(raw):
    assert normalise_phone(raw) == "13812345678"


@pytest.mark.parametrize("raw, why", [
    ("12812345678", "second digit"), ("1381234567", "11 digits"), ("138123456789", "11 digits"),
    ("+1 415 555 0100", "not a Chinese"), ("1.38123E+10", "scientific"), ("", "empty"), (None, "empty"),
    ("138-1234-567x", "not digits"), (True, "not text"), (13812345678.5, "whole"),
])
def test_invalid_numbers_say_why(raw, why):
    with pytest.raises(PhoneError) as e:
        normalise_phone(raw)
    assert why in str(e.value)


def test_landlines_only_when_allowed():
    with pytest.raises(PhoneError, match="landline"):
        normalise_phone("010-12345678")
    assert normalise_phone("010-12345678", allow_landline=True) == "010-12345678"
    assert normalise_phone("0731 8888 1234", allow_landline=True) == "0731-88881234"
    assert normalise_phone("+86 10 1234 5678", allow_landline=True) == "010-12345678"


def test_split_phones_cells():
    assert split_phones("13812345678，13912345678、 13712345678") == ["13812345678", "13912345678", "13712345678"]
    assert split_phones(None) == []
    assert split_phones(13812345678) == [13812345678]


@settings(max_examples=60)
@given(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9),
       st.sampled_from(["", "+86", "0086", "86", "+86 "]), st.sampled_from(["", " ", "-"]))
def test_any_decorated_mobile_round_trips(second, rest, prefix, sep):
    number = "1" + second + rest
    decorated = prefix + sep.join([number[:3], number[3:7], number[7:]])
    assert normalise_phone(decorated) == number
    assert normalise_phone(normalise_phone(decorated)) == number
