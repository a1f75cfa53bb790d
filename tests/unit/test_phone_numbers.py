"""Phone numbers (MCP reference §1.12): the first failing rule wins and says what is wrong; a valid
number becomes its digits."""

from __future__ import annotations

import pytest

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.phones import normalize_phone


def rejection(raw: str | None, field: str = "phone") -> WhatsAppError:
    with pytest.raises(WhatsAppError) as excinfo:
        normalize_phone(raw, field)
    assert excinfo.value.code is ErrorCode.VALIDATION_ERROR
    return excinfo.value


@pytest.mark.parametrize(("raw", "digits"), [
    ("15551234567", "15551234567"),
    ("+15551234567", "15551234567"),
    ("+1 (555) 123-4567", "15551234567"),
    ("+44 20.7946.0958", "442079460958"),
    ("  +49 30 1234567  ", "49301234567"),
])
def test_a_valid_number_becomes_its_digits(raw: str, digits: str) -> None:
    assert normalize_phone(raw) == digits


def test_seven_and_fifteen_digits_are_the_limits() -> None:
    assert normalize_phone("1234567") == "1234567"
    assert normalize_phone("+123456789012345") == "123456789012345"


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_a_missing_number_is_required(raw: str | None) -> None:
    assert "required" in rejection(raw).message


@pytest.mark.parametrize("raw", ["+1 555 CALL NOW", "1555123456x", "+1/555/1234567", "1+5551234567",
                                 "++15551234567", "+1\t5551234567"])
def test_other_characters_are_invalid_not_dropped(raw: str) -> None:
    assert "is not a phone number" in rejection(raw).message


def in_other_digits(zero: int, number: str = "15551234567") -> str:
    return "".join(chr(zero + int(d)) for d in number)


@pytest.mark.parametrize("raw", [in_other_digits(0x0660), in_other_digits(0xFF10)])  # Arabic-Indic, fullwidth
def test_non_ascii_digits_are_not_digits(raw: str) -> None:
    assert "is not a phone number" in rejection(raw).message


@pytest.mark.parametrize("raw", ["+", "( )", "+ - . ()"])
def test_punctuation_alone_contains_no_digits(raw: str) -> None:
    assert "contains no digits" in rejection(raw).message


@pytest.mark.parametrize("raw", ["0044 20 7946 0958", "+0044 20 7946 0958"])
def test_a_leading_00_must_be_replaced_by_plus(raw: str) -> None:
    message = rejection(raw).message
    assert "00" in message
    assert "+442079460958" in message


def test_a_leading_zero_without_plus_looks_local() -> None:
    message = rejection("020 7946 0958").message
    assert "local number" in message
    assert "country code" in message
    assert "+442079460958" in message


def test_a_leading_zero_after_plus_is_an_invalid_country_code() -> None:
    assert "invalid country code" in rejection("+0 555 123 4567").message


def test_too_short_gives_the_count_and_minimum() -> None:
    message = rejection("+1 234 56").message
    assert "too short" in message
    assert "6 digits" in message
    assert "7" in message


def test_too_long_gives_the_count_and_maximum() -> None:
    message = rejection("+1234567890123456").message
    assert "too long" in message
    assert "16 digits" in message
    assert "15" in message


@pytest.mark.parametrize(("raw", "says"), [
    ("abc", "is not a phone number"),  # rule 2 before 3 (no digits either)
    ("0012", "Replace the leading 00"),  # rule 4 before 7 (too short)
    ("012", "local number"),  # rule 5 before 7
    ("+012", "invalid country code"),  # rule 6 before 7
    ("+0" + "1" * 20, "invalid country code"),  # rule 6 before 8
])
def test_the_first_failing_rule_wins(raw: str, says: str) -> None:
    assert says in rejection(raw).message


def test_the_error_names_the_field() -> None:
    assert rejection("", "to").details["field"] == "to"
    assert rejection("abc").details["field"] == "phone"
