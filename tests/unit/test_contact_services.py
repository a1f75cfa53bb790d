"""Looking people up: numbers validated before anything is queued, one ``call`` command per lookup,
answers in the order asked, and LID↔phone twins from the answers recorded (known twins are answered
from the store without a round trip)."""

from __future__ import annotations

import pytest

from tests.factories import RunnerSide, connected_device, make_contact, make_device
from tests.support.device_calls import call_of, refused, returning
from whatsapp.engine.base import OnWhatsApp, ProfilePicture, UserInfo
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.models import Chat, Contact, DeviceCommand
from whatsapp.runtime.runner import to_jsonable
from whatsapp.services import commands
from whatsapp.services.contacts import (
    MAX_ON_WHATSAPP,
    MAX_USER_INFO,
    is_on_whatsapp,
    lid_for_phone,
    phone_for_lid,
    profile_picture,
    user_info,
)
from whatsapp.services.ingest import chat_for

PHONE = "15145550101@s.whatsapp.net"
LID = "118207457280017@lid"
LANDLINE = "15145550107@s.whatsapp.net"
GROUP = "120363041234567890@g.us"


# --- validation -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("phones", [[], "+15145550101", ["+1 514 555 0101", "call me"], ["0514 555 0101"],
                                    ["+12345"], [LID], [GROUP], ["123@c.us"],
                                    [f"+1514555{n:04d}" for n in range(MAX_ON_WHATSAPP + 1)]])
def test_is_on_whatsapp_takes_1_to_50_valid_numbers(phones) -> None:
    error = refused(is_on_whatsapp, connected_device(), phones)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "phones")


@pytest.mark.django_db
@pytest.mark.parametrize("entries", [[], PHONE, ["nobody"], [GROUP], ["1@c.us"],
                                     [f"+1514555{n:04d}" for n in range(MAX_USER_INFO + 1)]])
def test_user_info_takes_1_to_20_people(entries) -> None:
    error = refused(user_info, connected_device(), entries)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "jids")


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["", "nobody", "1@c.us"])
def test_a_profile_picture_needs_a_phone_or_jid(target: str) -> None:
    error = refused(profile_picture, connected_device(), target)
    assert (error.code, error.details["field"]) == (ErrorCode.VALIDATION_ERROR, "jid")


@pytest.mark.django_db
@pytest.mark.parametrize(("call", "value"), [(lid_for_phone, "nope"), (lid_for_phone, LID),
                                             (phone_for_lid, PHONE), (phone_for_lid, ""), (phone_for_lid, GROUP)])
def test_twin_lookups_need_the_right_kind_of_address(call, value: str) -> None:
    assert refused(call, connected_device(), value).code is ErrorCode.VALIDATION_ERROR


@pytest.mark.django_db
@pytest.mark.parametrize("call", [
    lambda d: is_on_whatsapp(d, ["+15145550101"]), lambda d: user_info(d, [PHONE]),
    lambda d: profile_picture(d, PHONE), lambda d: lid_for_phone(d, PHONE), lambda d: phone_for_lid(d, LID),
])
def test_lookups_need_a_connected_device(call) -> None:
    assert refused(call, make_device()).code is ErrorCode.MESSAGE_NOT_CONNECTED


# --- through the runner -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_is_on_whatsapp_answers_each_number_as_given() -> None:
    device = connected_device()
    answer = to_jsonable([OnWhatsApp(query="+15145550101", jid=PHONE, is_on_whatsapp=True, verified_name=""),
                          OnWhatsApp(query="+15145550107", jid=LANDLINE, is_on_whatsapp=False)])
    with RunnerSide(device.pk, returning(answer)) as runner:
        result = is_on_whatsapp(device, [" +1 (514) 555-0101 ", LANDLINE])
    assert call_of(runner.handled[0]) == ("is_on_whatsapp", {"phones": ["+15145550101", "+15145550107"]})
    assert result == [
        {"query": "+1 (514) 555-0101", "phone": "+15145550101", "jid": PHONE, "is_on_whatsapp": True,
         "verified_name": ""},
        {"query": LANDLINE, "phone": "+15145550107", "jid": LANDLINE, "is_on_whatsapp": False, "verified_name": ""},
    ]


@pytest.mark.django_db(transaction=True)
def test_a_number_missing_from_the_answer_is_not_on_whatsapp() -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning([])):
        [result] = is_on_whatsapp(device, ["+15145550101"])
    assert (result["jid"], result["is_on_whatsapp"]) == (PHONE, False)


@pytest.mark.django_db(transaction=True)
def test_user_info_records_the_twins_it_reveals() -> None:
    device = connected_device()
    chat_for(device, PHONE)  # two chats, two contacts until WhatsApp says they are one person
    chat_for(device, LID)
    answer = to_jsonable([UserInfo(jid=PHONE, status="Available", picture_id="1729384756", lid=LID,
                                   phone_jid=PHONE)])
    with RunnerSide(device.pk, returning(answer)) as runner:
        result = user_info(device, ["+1 514 555 0101", PHONE, "14155550188@s.whatsapp.net"])
    assert call_of(runner.handled[0]) == ("user_info", {"jids": [PHONE, "14155550188@s.whatsapp.net"]})
    assert result == answer
    contact = Contact.objects.get(device=device)
    assert (contact.phone_jid, contact.lid) == (PHONE, LID)
    assert set(Chat.objects.filter(device=device).values_list("contact", flat=True)) == {contact.pk}


@pytest.mark.django_db(transaction=True)
def test_an_empty_user_info_answer_is_a_success() -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning([])):
        assert user_info(device, [LANDLINE]) == []
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_profile_picture_or_none() -> None:
    device = connected_device()
    picture = to_jsonable(ProfilePicture(jid=PHONE, url="https://pps.whatsapp.net/x.jpg", picture_id="1"))
    with RunnerSide(device.pk, returning(picture)) as runner:
        assert profile_picture(device, "+15145550101") == picture
    assert call_of(runner.handled[0]) == ("profile_picture", {"jid": PHONE})
    DeviceCommand.objects.all().delete()
    with RunnerSide(device.pk, returning(None)):
        assert profile_picture(device, GROUP) is None


@pytest.mark.django_db(transaction=True)
def test_lid_for_phone_asks_whatsapp_and_remembers() -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning(LID)) as runner:
        assert lid_for_phone(device, "+1 514 555 0101") == LID
    assert call_of(runner.handled[0]) == ("lid_for_phone", {"phone_jid": PHONE})
    assert Contact.objects.filter(device=device, phone_jid=PHONE, lid=LID).exists()


@pytest.mark.django_db(transaction=True)
def test_phone_for_lid_asks_whatsapp_and_remembers() -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning(PHONE)) as runner:
        assert phone_for_lid(device, LID) == PHONE
    assert call_of(runner.handled[0]) == ("phone_for_lid", {"lid": LID})
    assert Contact.objects.filter(device=device, phone_jid=PHONE, lid=LID).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("call", [lambda d: lid_for_phone(d, PHONE), lambda d: phone_for_lid(d, LID)])
def test_an_unknown_twin_is_empty(call) -> None:
    device = connected_device()
    with RunnerSide(device.pk, returning("")):
        assert call(device) == ""
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_known_twins_need_no_round_trip_even_offline() -> None:
    device = make_device()
    make_contact(device, phone_jid=PHONE, lid=LID)
    assert lid_for_phone(device, PHONE) == LID
    assert phone_for_lid(device, LID) == PHONE
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_lookup_is_raised_as_its_member() -> None:
    device = connected_device()
    with RunnerSide(device.pk, lambda c: c.fail(ErrorCode.PROVIDER_RATE_LIMITED)), \
            pytest.raises(WhatsAppError) as excinfo:
        is_on_whatsapp(device, ["+15145550101"])
    assert excinfo.value.code is ErrorCode.PROVIDER_RATE_LIMITED


@pytest.mark.django_db(transaction=True)
def test_no_answer_is_a_connection_timeout(monkeypatch) -> None:
    monkeypatch.setattr(commands, "CALL_TIMEOUT_S", 0.2)
    device = connected_device()
    with pytest.raises(WhatsAppError) as excinfo:
        user_info(device, [PHONE])
    assert excinfo.value.code is ErrorCode.CONNECTION_TIMEOUT
