"""JIDs: phone ``<digits>@s.whatsapp.net``, LID ``<digits>@lid``, group ``<id>@g.us``; device suffix stripped."""

from __future__ import annotations

import pytest

from whatsapp import jids

PHONE = "15551234567@s.whatsapp.net"
LID = "123456789012345@lid"
GROUP = "120363012345678901@g.us"
OLD_GROUP = "15551234567-1600000000@g.us"

INVALID = [
    "15551234567@c.us",  # the old server name is not routed
    "@s.whatsapp.net",  # empty user
    "@lid",
    "@g.us",
    "abc@s.whatsapp.net",  # letters in a phone JID
    "1555abc@lid",  # letters in a LID
    "+15551234567@s.whatsapp.net",
    "1555 1234567@s.whatsapp.net",
    "15551234567",  # a bare number is not a JID
    "15551234567@",
    "",
    "   ",
    "15551234567@s.whatsapp.net@lid",
    "15551234567@broadcast",
    "status@broadcast",
    "15551234567:@s.whatsapp.net",
    "15551234567:a@s.whatsapp.net",
]


@pytest.mark.parametrize(("jid", "expected"), [
    (PHONE, ("15551234567", "s.whatsapp.net")),
    (LID, ("123456789012345", "lid")),
    (GROUP, ("120363012345678901", "g.us")),
    (OLD_GROUP, ("15551234567-1600000000", "g.us")),
])
def test_split_returns_user_and_server(jid: str, expected: tuple[str, str]) -> None:
    assert jids.split(jid) == expected


@pytest.mark.parametrize(("jid", "expected"), [
    ("15551234567:12@s.whatsapp.net", PHONE),
    ("123456789012345:3@lid", LID),
    ("  15551234567@s.whatsapp.net\n", PHONE),
    (PHONE, PHONE),
    (GROUP, GROUP),
])
def test_normalize_strips_device_suffix_and_blanks(jid: str, expected: str) -> None:
    assert jids.normalize(jid) == expected


def test_device_suffix_does_not_change_identity() -> None:
    assert jids.normalize("15551234567:5@s.whatsapp.net") == jids.normalize("15551234567:0@s.whatsapp.net")


@pytest.mark.parametrize("jid", INVALID)
def test_invalid_jids_are_refused(jid: str) -> None:
    assert not jids.is_valid(jid)
    with pytest.raises(ValueError, match="not a WhatsApp JID"):
        jids.split(jid)
    with pytest.raises(ValueError, match="not a WhatsApp JID"):
        jids.normalize(jid)


@pytest.mark.parametrize("jid", INVALID)
def test_invalid_jids_are_no_kind(jid: str) -> None:
    assert not jids.is_phone(jid)
    assert not jids.is_lid(jid)
    assert not jids.is_group(jid)


@pytest.mark.parametrize(("jid", "kind"), [
    (PHONE, "phone"), ("15551234567:2@s.whatsapp.net", "phone"),
    (LID, "lid"), ("123456789012345:9@lid", "lid"),
    (GROUP, "group"), (OLD_GROUP, "group"),
])
def test_each_jid_has_exactly_one_kind(jid: str, kind: str) -> None:
    assert jids.is_phone(jid) is (kind == "phone")
    assert jids.is_lid(jid) is (kind == "lid")
    assert jids.is_group(jid) is (kind == "group")


def test_device_suffix_must_be_ascii_digits() -> None:
    assert not jids.is_valid("15551234567:\u0663@s.whatsapp.net")


def test_server_of() -> None:
    assert jids.server_of(PHONE) == jids.PHONE_SERVER
    assert jids.server_of(LID) == jids.LID_SERVER
    assert jids.server_of(GROUP) == jids.GROUP_SERVER


def test_phone_jid_from_digits() -> None:
    assert jids.phone_jid("15551234567") == PHONE


@pytest.mark.parametrize("digits", ["", "+15551234567", "1555 1234567", "1555-123", "abc", PHONE])
def test_phone_jid_refuses_anything_but_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="phone digits expected"):
        jids.phone_jid(digits)


@pytest.mark.parametrize("digits", ["\u0661\u0662\u0663\u0664\u0665", "\u00b9\u00b2\u00b3", "\uff11\uff12\uff13"],
                         ids=["arabic-indic", "superscript", "fullwidth"])
def test_phone_jid_refuses_non_ascii_digits(digits: str) -> None:
    """``str.isdigit`` accepts these, but the result would be a JID that ``split`` itself refuses."""
    with pytest.raises(ValueError, match="phone digits expected"):
        jids.phone_jid(digits)


def test_phone_jid_output_is_a_phone_jid() -> None:
    assert jids.is_phone(jids.phone_jid("4915112345678"))
