"""Phone numbers as the MCP reference (§1.12) validates them: the first failing rule wins, each with
its own explanation, and a valid number becomes its digits (its JID is ``<digits>@s.whatsapp.net``).
Pure functions, no Django."""

from __future__ import annotations

import re

from whatsapp.errors import ErrorCode, WhatsAppError

_ALLOWED = re.compile(r"^\+?[0-9 \-.()]*$", re.ASCII)
MIN_DIGITS, MAX_DIGITS = 7, 15


def _invalid(reason: str, field: str) -> WhatsAppError:
    return WhatsAppError(ErrorCode.VALIDATION_ERROR, reason, details={"field": field})


def normalize_phone(raw: str | None, field: str = "phone") -> str:
    """Digits of a valid international number, or ``VALIDATION_ERROR`` saying what is wrong."""
    text = (raw or "").strip()
    if not text:
        raise _invalid("A phone number is required.", field)
    if not _ALLOWED.match(text) or text.count("+") > 1:
        raise _invalid(f"{text!r} is not a phone number: use digits with an optional leading +, "
                       "spaces, dashes, dots or parentheses.", field)
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        raise _invalid(f"{text!r} contains no digits.", field)
    if digits.startswith("00"):
        raise _invalid(f"Replace the leading 00 with +: +{digits[2:]}.", field)
    if digits.startswith("0") and not text.startswith("+"):
        raise _invalid(f"{text!r} looks like a local number: add the country code, e.g. +44{digits[1:]} "
                       "for a UK number.", field)
    if digits.startswith("0"):
        raise _invalid(f"{text!r} has an invalid country code (country codes never start with 0).", field)
    if len(digits) < MIN_DIGITS:
        raise _invalid(f"{text!r} is too short: {len(digits)} digits, at least {MIN_DIGITS} needed.", field)
    if len(digits) > MAX_DIGITS:
        raise _invalid(f"{text!r} is too long: {len(digits)} digits, at most {MAX_DIGITS} allowed.", field)
    return digits
