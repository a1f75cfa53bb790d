"""The people tools over MCP (reference/mcp-tools.md §2.28 to §2.32): get_user_info, is_on_whatsapp,
get_profile_picture, sync_contact_names (live) and set_contact_name (offline). Every target passes the
whitelist before WhatsApp is asked; names resolve by the one resolver; learnt names fill only unnamed
direct chats (unless forced) and never touch custom names; a custom name applies to the twins."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from audit.models import AuditLog
from tests.factories import RunnerSide, connected_device, make_chat, make_contact, make_device
from tests.support.device_calls import call_of
from tests.support.mcp import ok, refused
from whatsapp.engine.base import OnWhatsApp, ProfilePicture, UserInfo
from whatsapp.errors import ErrorCode
from whatsapp.mcp.tooling import REGISTRY
from whatsapp.mcp.tools import people as people_tools
from whatsapp.mcp.tools.info import COMMON
from whatsapp.models import Chat, Contact, Device, DeviceCommand, ThrottleHit
from whatsapp.runtime.runner import to_jsonable
from whatsapp.services import names
from whatsapp.services.directory import display_name

E = ErrorCode
PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
OTHER = "15559990000@s.whatsapp.net"
THIRD = "15557770000@s.whatsapp.net"
GROUP = "120363041234567890@g.us"
OWN = "15550001111@s.whatsapp.net"
LIVE = ("get_user_info", "is_on_whatsapp", "get_profile_picture", "sync_contact_names")
TOOLS = (*LIVE, "set_contact_name")
ARGS: dict[str, dict] = {
    "get_user_info": {"phones": [PHONE]},
    "is_on_whatsapp": {"phones": ["+15551234567"]},
    "get_profile_picture": {"target": PHONE},
    "sync_contact_names": {"contacts": [PHONE]},
    "set_contact_name": {"jid": PHONE, "name": "Mom"},
}


@pytest.fixture(autouse=True)
def defaults(settings, monkeypatch):
    settings.RATE_LIMIT_PER_MIN = 60
    settings.ALLOWED_CONTACTS = []
    settings.DISABLED_TOOLS = []
    monkeypatch.setattr(names, "SYNC_INTERVAL_S", 0.0)




class Serving(RunnerSide):
    """A runner answering every ``call`` command until the block ends (a sync asks once per target)."""

    def __init__(self, device_id, answer, **kwargs) -> None:
        super().__init__(device_id, answer, **kwargs)
        self.stop = threading.Event()

    def _work(self) -> None:
        try:
            while not self.stop.is_set():
                if not self._queued():
                    time.sleep(0.01)
                    continue
                with contextlib.suppress(OperationalError):
                    for command in DeviceCommand.claim(self.device_id):
                        self.answer(command)
                        self.handled.append(command)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        super().__exit__(*exc_info)

    @property
    def calls(self) -> list[tuple[str, dict]]:
        return [call_of(command) for command in self.handled]


def answering(**by_method: Any) -> Callable[[DeviceCommand], None]:
    """Answers per engine method: a value, a function of the call's arguments, or an ErrorCode (a failure)."""
    def answer(command: DeviceCommand) -> None:
        method, arguments = call_of(command)
        result = by_method[method]
        if isinstance(result, ErrorCode):
            command.fail(result, "WhatsApp said no")
            return
        command.succeed({"value": to_jsonable(result(**arguments) if callable(result) else result)})
    return answer


def users(*infos: UserInfo) -> Callable[..., list[UserInfo]]:
    """A user_info answer: the infos of the JIDs asked about."""
    return lambda jids: [i for i in infos if {i.jid, i.phone_jid, i.lid} & set(jids)]


def tokens(device: Device) -> int:
    return ThrottleHit.objects.filter(key__startswith="outbound:").count()


def nothing_happened(device: Device) -> None:
    assert not DeviceCommand.objects.filter(device=device).exists(), "a refused call queues nothing"
    assert tokens(device) == 0


def allow_only(device: Device, *entries: str) -> None:
    device.allowed_contacts = ",".join(entries)
    device.save(update_fields=["allowed_contacts"])


# --- registration --------------------------------------------------------------------------------


def test_the_people_tools_are_annotated() -> None:
    specs = {name: REGISTRY[name] for name in TOOLS}
    assert {n for n, s in specs.items() if s.live} == set(LIVE)
    assert {n for n, s in specs.items() if s.read_only} == {"is_on_whatsapp", "get_profile_picture"}
    assert not any(s.destructive or s.rate for s in specs.values())
    assert specs["set_contact_name"].annotations()["openWorldHint"] is False
    schema = {n: s.input_schema()["properties"] for n, s in specs.items()}
    assert (schema["get_user_info"]["phones"]["maxItems"], schema["is_on_whatsapp"]["phones"]["maxItems"]) == (20, 50)
    assert schema["sync_contact_names"]["contacts"]["maxItems"] == 50
    assert schema["set_contact_name"]["name"]["maxLength"] == 100
    assert "contacts" not in specs["sync_contact_names"].input_schema().get("required", [])


# --- get_user_info -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_user_info_shows_name_about_business_flag_and_records_twins() -> None:
    device = connected_device(phone_jid=OWN)
    acme = UserInfo(jid=PHONE, status="Open 9-5", verified_name="Acme Ltd", lid=LID, phone_jid=PHONE)
    with Serving(device.pk, answering(user_info=users(acme))) as runner:
        outcome = ok(device, "get_user_info", phones=["+1 555 123 4567", OTHER])
    assert runner.calls == [("user_info", {"jids": [PHONE, OTHER]})]  # one lookup for all
    text = outcome.text
    assert "Users: 2" in text
    assert f"1. JID: {PHONE}\n   Name: Acme Ltd (verified name)\n   About: Open 9-5\n   Business account: yes" in text
    assert f"LID: {LID}" in text
    assert f"2. JID: {OTHER}\n   No public info available" in text
    first, second = outcome.data["users"]
    assert (first["jid"], first["name"], first["about"], first["is_business"], first["lid"]) == (
        PHONE, "Acme Ltd", "Open 9-5", True, LID)
    assert (second["found"], second["name"]) == (False, None)
    assert Contact.objects.get(device=device, phone_jid=PHONE).lid == LID
    assert tokens(device) == 0


@pytest.mark.django_db(transaction=True)
def test_without_a_verified_name_the_contact_stores_push_name_is_shown() -> None:
    device = connected_device()
    make_contact(device, phone_jid=PHONE, push_name="ally")
    with Serving(device.pk, answering(user_info=users(UserInfo(jid=PHONE, status="Hey there")))):
        outcome = ok(device, "get_user_info", phones=[PHONE])
    assert "Name: ally (push name)" in outcome.text
    assert "Business account: no" in outcome.text


@pytest.mark.django_db(transaction=True)
def test_an_entirely_empty_answer_is_a_success() -> None:
    device = connected_device()
    with Serving(device.pk, answering(user_info=[])):
        outcome = ok(device, "get_user_info", phones=[PHONE])
    assert "No public info available" in outcome.text


@pytest.mark.django_db(transaction=True)
def test_save_names_fills_only_unnamed_chats_and_never_custom_names() -> None:
    device = connected_device()
    make_chat(device, PHONE, name=PHONE)  # the name is its JID: filled
    make_chat(device, OTHER, name="Bob")  # a real name: kept
    custom = make_contact(device, phone_jid=THIRD, custom_name="Boss")
    make_chat(device, THIRD, name="", contact=custom)  # a custom name: left alone
    infos = users(UserInfo(jid=PHONE, verified_name="Acme Ltd"), UserInfo(jid=OTHER, verified_name="Bobco"),
                  UserInfo(jid=THIRD, verified_name="Big Corp"))
    with Serving(device.pk, answering(user_info=infos)):
        outcome = ok(device, "get_user_info", phones=[PHONE, OTHER, THIRD], save_names=True)
    assert Chat.objects.get(jid=PHONE).name == "Acme Ltd"
    assert Chat.objects.get(jid=OTHER).name == "Bob"
    assert Chat.objects.get(jid=THIRD).name == ""
    assert Contact.objects.get(phone_jid=THIRD).custom_name == "Boss"
    assert f"Names stored: {PHONE} → Acme Ltd" in outcome.text
    assert [s["jid"] for s in outcome.data["names_stored"]] == [PHONE, OTHER]  # Bobco: the business name
    assert Contact.objects.get(phone_jid=OTHER).business_name == "Bobco"


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ["Alice", GROUP, "123@c.us", "0555 123 4567", "+1 555 CALL"])
def test_user_info_entries_are_phone_numbers_or_person_jids(entry: str) -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Alice")
    outcome = refused(device, "get_user_info", E.VALIDATION_ERROR, phones=[PHONE, entry])
    assert outcome.details["field"] == "phones"
    nothing_happened(device)


# --- is_on_whatsapp ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_is_on_whatsapp_answers_per_number_as_given() -> None:
    device = connected_device()
    answer = [OnWhatsApp(query="+15551234567", jid=PHONE, is_on_whatsapp=True, verified_name="Acme Ltd"),
              OnWhatsApp(query="+15559990000", jid=OTHER, is_on_whatsapp=False)]
    with Serving(device.pk, answering(is_on_whatsapp=answer)) as runner:
        outcome = ok(device, "is_on_whatsapp", phones=["+1 (555) 123-4567", OTHER])
    assert runner.calls == [("is_on_whatsapp", {"phones": ["+15551234567", "+15559990000"]})]
    text = outcome.text
    assert "Checked: 2" in text
    assert "Registered: 1" in text
    assert f"1. Number: +1 (555) 123-4567\n   Registered: yes\n   JID: {PHONE}\n   Name: Acme Ltd" in text
    assert f"2. Number: {OTHER}\n   Registered: no" in text
    assert outcome.data["results"][0] == {"query": "+1 (555) 123-4567", "phone": "+15551234567",
                                          "is_on_whatsapp": True, "jid": PHONE, "name": "Acme Ltd"}
    assert outcome.data["results"][1]["is_on_whatsapp"] is False


@pytest.mark.django_db
@pytest.mark.parametrize(("entry", "needle"), [("0044 20 7946 0958", "+"), ("+1 555 CALL", "not a phone number"),
                                               ("+0 555 123 4567", "country code"), (LID, "phone")])
def test_is_on_whatsapp_validates_each_number(entry: str, needle: str) -> None:
    device = connected_device()
    outcome = refused(device, "is_on_whatsapp", E.VALIDATION_ERROR, phones=["+15551234567", entry])
    assert needle in outcome.text.lower() or needle in outcome.text
    nothing_happened(device)


# --- get_profile_picture -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_profile_picture_by_fuzzy_name() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="John", last_message_at=timezone.now())
    picture = ProfilePicture(jid=PHONE, url="https://pps.whatsapp.net/v/abc.jpg", picture_id="123")
    with Serving(device.pk, answering(profile_picture=picture)) as runner:
        outcome = ok(device, "get_profile_picture", target="Jon")
    assert runner.calls == [("profile_picture", {"jid": PHONE})]
    assert "Name: John" in outcome.text
    assert f"JID: {PHONE}" in outcome.text
    assert "Picture URL: https://pps.whatsapp.net/v/abc.jpg" in outcome.text
    assert outcome.data == {"jid": PHONE, "name": "John", "has_picture": True,
                            "url": "https://pps.whatsapp.net/v/abc.jpg", "picture_id": "123"}


@pytest.mark.django_db(transaction=True)
def test_no_picture_is_a_success() -> None:
    device = connected_device()
    with Serving(device.pk, answering(profile_picture=None)):
        outcome = ok(device, "get_profile_picture", target="+1 555 123 4567")
    assert "Picture: none (not set, or hidden by privacy settings)" in outcome.text
    assert outcome.data["has_picture"] is False
    assert outcome.data["url"] is None


@pytest.mark.django_db(transaction=True)
def test_a_group_picture_needs_the_group_listed() -> None:
    device = connected_device()
    allow_only(device, "+15551234567")
    refused(device, "get_profile_picture", E.PERMISSION_CONTACT_NOT_WHITELISTED, target=GROUP)
    nothing_happened(device)
    allow_only(device, GROUP)
    with Serving(device.pk, answering(profile_picture=None)):
        ok(device, "get_profile_picture", target=GROUP)


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "code"), [("Sarah", E.MESSAGE_AMBIGUOUS_RECIPIENT),
                                              ("Zebediah", E.MESSAGE_RECIPIENT_NOT_FOUND),
                                              ("15551234567@c.us", E.VALIDATION_ERROR)])
def test_the_target_is_resolved_by_the_one_resolver(target: str, code: ErrorCode) -> None:
    device = connected_device()
    make_chat(device, PHONE, name="Sarah Connor")
    make_chat(device, OTHER, name="Sarah McLachlan")
    refused(device, "get_profile_picture", code, target=target)
    nothing_happened(device)


# --- sync_contact_names --------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_empty_contacts_list_syncs_nothing() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="")
    outcome = ok(device, "sync_contact_names", contacts=[])
    assert "Nothing to sync" in outcome.text
    assert "Processed: 0" in outcome.text
    assert outcome.data["processed"] == 0
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sync_fills_unnamed_direct_chats_from_whatsapp_or_the_contact_store() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="", last_message_at=timezone.now())  # WhatsApp knows a verified name
    pushed = make_contact(device, phone_jid=THIRD, push_name="ally")
    make_chat(device, THIRD, name=THIRD, contact=pushed)  # the contact store knows a push name
    make_chat(device, "15554440000@s.whatsapp.net", name="")  # nobody knows a name
    make_chat(device, OTHER, name="Bob")  # already named: not a target
    custom = make_contact(device, phone_jid="15553330000@s.whatsapp.net", custom_name="Boss")
    make_chat(device, "15553330000@s.whatsapp.net", name="", contact=custom)  # custom name: not a target
    make_chat(device, GROUP, name="")  # groups never
    with Serving(device.pk, answering(user_info=users(UserInfo(jid=PHONE, verified_name="Acme Ltd")))) as runner:
        outcome = ok(device, "sync_contact_names")
    assert sorted(args["jids"][0] for _, args in runner.calls) == sorted(
        [PHONE, THIRD, "15554440000@s.whatsapp.net"])
    assert Chat.objects.get(jid=PHONE).name == "Acme Ltd"
    assert Chat.objects.get(jid=THIRD).name == "ally"
    assert Chat.objects.get(jid=OTHER).name == "Bob"
    assert Chat.objects.get(jid=GROUP).name == ""
    text = outcome.text
    assert "Processed: 3" in text
    assert "Names updated: 2" in text
    assert "No profile name: 1" in text
    assert "Errors: 0" in text
    assert f"- {PHONE} → Acme Ltd" in text
    assert f"- {THIRD} → ally" in text
    assert outcome.data["updated"] == 2
    assert outcome.data["no_name"] == 1


@pytest.mark.django_db(transaction=True)
def test_force_overwrites_direct_chat_names_but_never_custom_names_or_groups() -> None:
    device = connected_device()
    make_chat(device, OTHER, name="Bob")
    custom = make_contact(device, phone_jid=PHONE, custom_name="Mom")
    make_chat(device, PHONE, name="", contact=custom)
    make_chat(device, GROUP, name="Family")
    infos = users(UserInfo(jid=OTHER, verified_name="Bobco"), UserInfo(jid=PHONE, verified_name="Acme"))
    with Serving(device.pk, answering(user_info=infos)) as runner:
        outcome = ok(device, "sync_contact_names", force=True)
    assert [args["jids"] for _, args in runner.calls] == [[OTHER]]
    assert Chat.objects.get(jid=OTHER).name == "Bobco"
    assert Chat.objects.get(jid=PHONE).name == ""
    assert Contact.objects.get(pk=custom.pk).custom_name == "Mom"
    assert Chat.objects.get(jid=GROUP).name == "Family"
    assert outcome.data["updated"] == 1


@pytest.mark.django_db(transaction=True)
def test_listed_entries_report_invalid_refused_and_skipped_ones() -> None:
    device = connected_device()
    allow_only(device, "+15551234567", "+15559990000")
    make_chat(device, OTHER, name="Bob")
    with Serving(device.pk, answering(user_info=users(UserInfo(jid=PHONE, verified_name="Acme")))) as runner:
        outcome = ok(device, "sync_contact_names", contacts=["+1 555 123 4567", "not a number", THIRD, OTHER])
    assert runner.calls == [("user_info", {"jids": [PHONE]})]  # only the allowed, unnamed one is asked about
    errors = {row["jid"]: row["reason"] for row in outcome.data["errors"]}
    assert set(errors) == {"not a number", THIRD}
    assert "allowed contacts" in errors[THIRD]
    assert outcome.data["skipped"] == [{"jid": OTHER, "reason": "already named"}]
    assert "Errors: 2" in outcome.text
    assert f"- {THIRD}: not in the allowed contacts" in outcome.text
    assert outcome.data["updates"] == [{"jid": PHONE, "name": "Acme"}]


@pytest.mark.django_db(transaction=True)
def test_lids_are_looked_up_through_their_phone_twin() -> None:
    device = connected_device()
    twin = make_contact(device, phone_jid=PHONE, lid=LID)
    make_chat(device, LID, name="", contact=twin)
    lonely = "227318568391128@lid"
    make_chat(device, lonely, name="")
    answers = answering(user_info=users(UserInfo(jid=PHONE, verified_name="Acme"),
                                        UserInfo(jid=OTHER, verified_name="Other Co")),
                        phone_for_lid=lambda lid: OTHER if lid == lonely else "")
    with Serving(device.pk, answers) as runner:
        outcome = ok(device, "sync_contact_names")
    assert ("user_info", {"jids": [PHONE]}) in runner.calls  # the known twin: no lookup needed
    assert ("phone_for_lid", {"lid": lonely}) in runner.calls
    assert ("user_info", {"jids": [OTHER]}) in runner.calls
    assert Chat.objects.get(jid=LID).name == "Acme"
    assert Chat.objects.get(jid=lonely).name == "Other Co"
    assert outcome.data["updated"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_failed_lookup_is_an_error_row_and_the_sync_goes_on() -> None:
    device = connected_device()
    make_chat(device, PHONE, name="")
    make_chat(device, OTHER, name="")

    def answer(command: DeviceCommand) -> None:
        _, arguments = call_of(command)
        if arguments["jids"] == [PHONE]:
            command.fail(E.CONNECTION_TIMEOUT, "info query timed out")
        else:
            command.succeed({"value": to_jsonable([UserInfo(jid=OTHER, verified_name="Bobco")])})

    with Serving(device.pk, answer):
        outcome = ok(device, "sync_contact_names")
    assert outcome.data["errors"] == [{"jid": PHONE, "reason": "CONNECTION_TIMEOUT: info query timed out"}]
    assert outcome.data["updated"] == 1
    assert Chat.objects.get(jid=OTHER).name == "Bobco"


@pytest.mark.django_db(transaction=True)
def test_at_most_ten_updates_are_listed() -> None:
    device = connected_device()
    people = [f"1555000{n:04d}@s.whatsapp.net" for n in range(12)]
    for jid in people:
        make_chat(device, jid, name="")
    named = answering(user_info=lambda jids: [UserInfo(jid=jids[0], verified_name="N" + jids[0][7:11])])
    with Serving(device.pk, named):
        outcome = ok(device, "sync_contact_names")
    assert outcome.data["updated"] == 12
    assert outcome.text.count(" → ") == 10
    assert "and 2 more" in outcome.text


@pytest.mark.django_db(transaction=True)
def test_targets_are_looked_up_at_least_500_ms_apart(monkeypatch) -> None:
    monkeypatch.setattr(names, "SYNC_INTERVAL_S", 0.5)
    device = connected_device()
    make_chat(device, PHONE, name="")
    make_chat(device, OTHER, name="")
    with Serving(device.pk, answering(user_info=[])) as runner:
        ok(device, "sync_contact_names")
    first, second = sorted(command.created_at for command in runner.handled)
    # The pacing runs on the monotonic clock, the commands are stamped by the wall clock: allow the
    # two clocks a couple of milliseconds of disagreement.
    assert (second - first).total_seconds() >= 0.498


# --- set_contact_name ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_custom_name_is_set_offline_and_applies_to_the_twins() -> None:
    device = make_device()  # never connected: the tool is offline
    contact = make_contact(device, phone_jid=PHONE, lid=LID, push_name="ally")
    make_chat(device, LID, name="ally", contact=contact)
    outcome = ok(device, "set_contact_name", jid="+1 555 123 4567", name="  Mom  ")
    assert f"JID: {PHONE}" in outcome.text
    assert "Custom name set: Mom" in outcome.text
    assert outcome.data == {"jid": PHONE, "name": "Mom", "cleared": False, "display_name": "Mom"}
    assert Contact.objects.get(pk=contact.pk).custom_name == "Mom"
    assert display_name(device, LID) == display_name(device, PHONE) == "Mom"
    assert not DeviceCommand.objects.exists()  # never sent to WhatsApp


@pytest.mark.django_db
def test_a_custom_name_for_an_unknown_person_creates_their_contact() -> None:
    device = make_device()
    ok(device, "set_contact_name", jid=OTHER, name="Bob")
    assert Contact.objects.get(device=device, phone_jid=OTHER).custom_name == "Bob"
    assert display_name(device, OTHER) == "Bob"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_clears_it_and_says_what_now_shows(name: str) -> None:
    device = make_device()
    contact = make_contact(device, phone_jid=PHONE, lid=LID, custom_name="Mom")
    make_chat(device, PHONE, name="Alice", contact=contact)
    outcome = ok(device, "set_contact_name", jid=LID, name=name)
    assert "Custom name: cleared" in outcome.text
    assert "Now showing: Alice" in outcome.text
    assert outcome.data == {"jid": LID, "name": None, "cleared": True, "display_name": "Alice"}
    assert Contact.objects.get(pk=contact.pk).custom_name == ""


@pytest.mark.django_db
def test_clearing_an_unknown_person_creates_nothing() -> None:
    device = make_device()
    outcome = ok(device, "set_contact_name", jid=OTHER, name="")
    assert f"Now showing: {OTHER}" in outcome.text
    assert not Contact.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("jid", "name", "field"), [(GROUP, "Family", "jid"), ("Alice", "Al", "jid"),
                                                    ("123@c.us", "x", "jid"), ("+0 555 123 4567", "x", "jid"),
                                                    (PHONE, "n" * 101, "name")])
def test_set_contact_name_is_validated(jid: str, name: str, field: str) -> None:
    device = make_device()
    outcome = refused(device, "set_contact_name", E.VALIDATION_ERROR, jid=jid, name=name)
    assert outcome.details["field"] == field
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_set_contact_name_checks_the_whitelist() -> None:
    device = make_device()
    allow_only(device, "+15559990000")
    outcome = refused(device, "set_contact_name", E.PERMISSION_CONTACT_NOT_WHITELISTED, jid=PHONE, name="Mom")
    assert outcome.details["jid"] == PHONE
    assert not Contact.objects.exists()


# --- whitelist, connection and disabled checks ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("tool", ["get_user_info", "is_on_whatsapp", "get_profile_picture"])
def test_every_lookup_target_must_be_allowed(tool: str) -> None:
    device = connected_device()
    allow_only(device, "+15559990000")
    arguments = {"get_profile_picture": {"target": PHONE}}.get(tool, {"phones": [OTHER, "+15551234567"]})
    outcome = refused(device, tool, E.PERMISSION_CONTACT_NOT_WHITELISTED, **arguments)
    assert outcome.details["jid"] == PHONE
    nothing_happened(device)
    assert AuditLog.objects.get(action=tool).error_code == "PERMISSION_CONTACT_NOT_WHITELISTED"


@pytest.mark.django_db
@pytest.mark.parametrize("tool", LIVE)
def test_the_live_people_tools_need_a_connection(tool: str) -> None:
    device = make_device()
    refused(device, tool, E.MESSAGE_NOT_CONNECTED, **ARGS[tool])
    nothing_happened(device)


@pytest.mark.django_db
@pytest.mark.parametrize("tool", TOOLS)
def test_a_disabled_people_tool_is_refused(tool: str) -> None:
    device = connected_device()
    device.disabled_tools = f"{tool},send_reaction"
    device.save(update_fields=["disabled_tools"])
    refused(device, tool, E.PERMISSION_TOOL_DISABLED, **ARGS[tool])
    nothing_happened(device)
    assert not Contact.objects.exists()


# --- every documented error, and only those ------------------------------------------------------


UPSTREAM = (E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.CONNECTION_LOST, E.CONNECTION_TIMEOUT, E.WHATSAPP_ERROR)
METHOD = {"get_user_info": "user_info", "is_on_whatsapp": "is_on_whatsapp", "get_profile_picture": "profile_picture"}
OBSERVED: dict[str, tuple[ErrorCode, ...]] = {
    "get_user_info": (E.PERMISSION_CONTACT_NOT_WHITELISTED, *UPSTREAM),
    "is_on_whatsapp": (E.PERMISSION_CONTACT_NOT_WHITELISTED, *UPSTREAM),
    "get_profile_picture": (E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_AMBIGUOUS_RECIPIENT,
                            E.PERMISSION_CONTACT_NOT_WHITELISTED, *UPSTREAM),
    "sync_contact_names": (),  # refused targets and failed lookups are error rows of a successful result
    "set_contact_name": (E.PERMISSION_CONTACT_NOT_WHITELISTED,),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("tool", "code"), [(t, c) for t, codes in OBSERVED.items() for c in codes if c in UPSTREAM])
def test_whatsapps_failures_come_back_as_the_enums_members(tool: str, code: ErrorCode) -> None:
    device = connected_device()
    with Serving(device.pk, answering(**{METHOD[tool]: code})):
        outcome = refused(device, tool, code, **ARGS[tool])
    assert outcome.data["error"]["retryable"] is code.retryable
    assert tokens(device) == 0  # lookups take no token


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("code", UPSTREAM)
def test_sync_reports_whatsapps_failures_as_error_rows(code: ErrorCode) -> None:
    device = connected_device()
    with Serving(device.pk, answering(user_info=code)):
        outcome = ok(device, "sync_contact_names", contacts=[PHONE])
    assert outcome.data["errors"][0]["reason"].startswith(code.code)


@pytest.mark.parametrize("tool", TOOLS)
def test_each_people_tool_documents_exactly_the_errors_it_returns(tool: str) -> None:
    spec = REGISTRY[tool]
    live = {E.MESSAGE_NOT_CONNECTED} if spec.live else set()
    assert set(spec.errors) | set(COMMON) | live == set(OBSERVED[tool]) | set(COMMON) | live
    assert set(people_tools.UPSTREAM) == set(UPSTREAM)
