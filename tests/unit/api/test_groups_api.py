"""Group endpoints: wa-server's list and the MCP group tools as resources — each asks the device's
runner for the engine operation the port names (method and arguments checked), renders its answer,
and answers every documented error. ``Engine`` plays the runner, answering by method name."""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError, connection

from tests.factories import RunnerSide, connected_device, make_device
from tests.support.device_calls import call_of
from tests.unit.api.conftest import error_of
from whatsapp.engine.base import GroupInfo, GroupParticipant
from whatsapp.errors import ErrorCode
from whatsapp.models import Chat, CommandState, DeviceCommand
from whatsapp.runtime.runner import to_jsonable

GROUP = "120363041234567890@g.us"
OTHER_GROUP = "120363099999999999@g.us"
OWN = "15550001111@s.whatsapp.net"
PHONE = "15551234567@s.whatsapp.net"
LID = "118207457280017@lid"
CODE = "Fam1lyInv1teC0deAbCdEf"


class Engine(RunnerSide):
    """The runner side for requests that make one or more engine calls: each ``call`` command is
    answered from ``answers`` by method name — a value to return, an ``ErrorCode`` to fail with, or
    a callable taking the command — until ``expect`` commands were handled. ``calls`` lists
    ``(method, args)`` in the order they were asked."""

    def __init__(self, device_id: Any, answers: dict[str, Any], expect: int = 1) -> None:
        self.answers, self.expect = answers, expect
        self.calls: list[tuple[str, dict]] = []
        super().__init__(device_id, self._answer)

    def _answer(self, command: DeviceCommand) -> None:
        method, args = call_of(command)
        self.calls.append((method, args))
        answer = self.answers[method]
        if isinstance(answer, ErrorCode):
            command.fail(answer, details={"iq_error": answer.status})
        elif callable(answer):
            answer(command)
        else:
            command.succeed({"value": answer})

    def _work(self) -> None:
        """RunnerSide's loop until ``expect`` commands are handled — but it claims (writes) only once a
        command is pending, and reads without table locks meanwhile: the request writes between its
        calls, and the in-memory SQLite database fails a write that meets another thread's lock."""
        try:
            self._dirty_reads(True)
            time.sleep(self.delay_s)
            give_up_at = time.monotonic() + self.give_up_s
            pending = DeviceCommand.objects.filter(device_id=self.device_id, state=CommandState.PENDING)
            while len(self.handled) < self.expect and time.monotonic() < give_up_at:
                claimed: list[DeviceCommand] = []
                if pending.exists():
                    # A dirty read may see the request's insert before it commits: then claim again.
                    with contextlib.suppress(OperationalError):
                        claimed = DeviceCommand.claim(self.device_id)
                for command in claimed:
                    self.answer(command)
                    self.handled.append(command)
                time.sleep(0.01)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()


def info(jid: str = GROUP, name: str = "Team", **fields: Any) -> dict:
    """A ``GroupInfo`` as the runner returns it."""
    fields.setdefault("participants", (GroupParticipant(jid=OWN, is_admin=True, is_super_admin=True),
                                       GroupParticipant(jid=LID, phone_jid=PHONE, lid=LID)))
    return to_jsonable(GroupInfo(jid=jid, name=name, topic=fields.pop("topic", "Plans"), owner_jid=OWN,
                                 created_at=datetime(2026, 1, 2, tzinfo=UTC), **fields))


def base(device) -> str:
    return f"/devices/{device.pk}/groups"


# Every group endpoint: (method, path under /devices/{id}/groups, body, the engine method it calls first).
ENDPOINTS = [
    ("get", "", None, "joined_groups"),
    ("post", "", {"name": "Team", "participants": [PHONE]}, "create_group"),
    ("post", "/join", {"link": CODE}, "join_group"),
    ("get", f"/{GROUP}", None, "group_info"),
    ("patch", f"/{GROUP}", {"name": "New"}, "set_group_name"),
    ("get", f"/{GROUP}/invite-link", None, "group_invite_link"),
    ("post", f"/{GROUP}/invite-link/reset", None, "group_invite_link"),
    ("post", f"/{GROUP}/leave", None, "leave_group"),
    ("post", f"/{GROUP}/participants", {"action": "add", "participants": [PHONE]}, "update_participants"),
]
ROUTES = [endpoint[:3] for endpoint in ENDPOINTS]
ROUTE_IDS = [f"{m.upper()} {p or '/'}" for m, p, *_ in ENDPOINTS]


def call(api, device, method: str, path: str, body: Any):
    if method == "get":
        return api.get(base(device) + path)
    return api.request(method, base(device) + path, body)


# --- list (wa-server) -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_list_is_wa_servers_body(api, app) -> None:
    device = connected_device(app)
    groups = [info(), info(OTHER_GROUP, "", topic="", participants=(), is_announce=True, is_locked=True,
                           is_ephemeral=True, is_join_approval_required=True)]
    with Engine(device.pk, {"joined_groups": groups}) as engine:
        response = api.get(base(device))
    assert response.status_code == 200, response.content
    assert engine.calls == [("joined_groups", {})]
    assert response.json() == {"data": {"count": 2, "groups": [
        {"jid": GROUP, "name": "Team", "subject": "Team", "description": "Plans", "participant_count": 2,
         "is_announce": False, "is_locked": False, "is_ephemeral": False, "is_join_approval_required": False},
        {"jid": OTHER_GROUP, "name": None, "subject": None, "description": None, "participant_count": None,
         "is_announce": True, "is_locked": True, "is_ephemeral": True, "is_join_approval_required": True},
    ]}}


@pytest.mark.django_db(transaction=True)
def test_an_empty_list_is_a_success(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"joined_groups": []}):
        response = api.get(base(device))
    assert response.json() == {"data": {"groups": [], "count": 0}}


# --- create, read --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_create_returns_the_group_and_whom_whatsapp_refused(api, app) -> None:
    device = connected_device(app)
    created = info(name="Launch", participants=(GroupParticipant(jid=OWN, is_admin=True, is_super_admin=True),
                                                GroupParticipant(jid=PHONE),
                                                GroupParticipant(jid="15559990000@s.whatsapp.net", error=403)))
    with Engine(device.pk, {"create_group": created}) as engine:
        response = api.post(base(device), {"name": " Launch ", "participants": ["+1 555 123 4567",
                                                                                 "15559990000@s.whatsapp.net"]})
    assert response.status_code == 201, response.content
    assert engine.calls == [("create_group", {"name": "Launch", "participants": [PHONE,
                                                                               "15559990000@s.whatsapp.net"]})]
    group = response.json()["data"]
    assert (group["jid"], group["name"], group["owner"], group["participant_count"]) == (GROUP, "Launch", OWN, 2)
    assert group["created_at"] == "2026-01-02T00:00:00Z"
    assert [p["jid"] for p in group["participants"]] == [OWN, PHONE]
    assert group["participants"][0] == {"jid": OWN, "phone_jid": None, "lid": None, "is_admin": True,
                                        "is_super_admin": True}
    assert group["refused"] == [{"jid": "15559990000@s.whatsapp.net", "phone_jid": None, "lid": None,
                                 "is_admin": False, "is_super_admin": False, "ok": False, "error": 403,
                                 "reason": group["refused"][0]["reason"]}]
    assert "privacy" in group["refused"][0]["reason"]
    assert Chat.objects.get(device=device, jid=GROUP).name == "Launch"


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"), ({"name": "Team"}, "participants"), ({"name": "Team", "participants": []}, "participants"),
    ({"name": "   ", "participants": [PHONE]}, "name"), ({"name": "x" * 26, "participants": [PHONE]}, "name"),
    ({"name": "Team", "participants": ["not a number"]}, "participants"),
    ({"name": "Team", "participants": [GROUP]}, "participants"),
    ({"name": "Team", "participants": PHONE}, "participants"),
    ({"name": "Team", "participants": [PHONE], "topic": "x"}, "topic"),
])
def test_create_refuses_a_bad_body(api, app, body: dict, field: str) -> None:
    response = api.post(base(connected_device(app)), body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"].split(".")[0] == field
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_read_a_group_with_its_participants(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"group_info": info()}) as engine:
        response = api.get(f"{base(device)}/{GROUP}")
    assert response.status_code == 200, response.content
    assert engine.calls == [("group_info", {"group_jid": GROUP})]
    group = response.json()["data"]
    assert group["description"] == "Plans"
    assert group["participants"][1] == {"jid": LID, "phone_jid": PHONE, "lid": LID, "is_admin": False,
                                        "is_super_admin": False}


@pytest.mark.django_db
@pytest.mark.parametrize("jid", ["Family", PHONE, LID, "123@c.us", "15551234567", "x@g.us@g.us"])
@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("get", "", None), ("patch", "", {"name": "New"}), ("get", "/invite-link", None),
    ("post", "/invite-link/reset", None), ("post", "/leave", None),
    ("post", "/participants", {"action": "add", "participants": [PHONE]}),
])
def test_a_path_that_is_not_a_group_jid_is_refused(api, app, jid: str, method: str, suffix: str, body) -> None:
    response = call(api, connected_device(app), method, f"/{jid}{suffix}", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == "group_jid"
    assert not DeviceCommand.objects.exists()


# --- invite links, join, leave ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "suffix", "reset"), [("get", "/invite-link", False),
                                                         ("post", "/invite-link/reset", True)])
def test_invite_link(api, app, method: str, suffix: str, reset: bool) -> None:
    device = connected_device(app)
    Chat.objects.create(device=device, jid=GROUP, kind="group", name="Team")
    with Engine(device.pk, {"group_invite_link": CODE}) as engine:  # a bare code gets the prefix
        response = call(api, device, method, f"/{GROUP}{suffix}", None)
    assert response.status_code == 200, response.content
    assert engine.calls == [("group_invite_link", {"group_jid": GROUP, "reset": reset})]
    assert response.json()["data"] == {"jid": GROUP, "name": "Team", "link": f"https://chat.whatsapp.com/{CODE}",
                                       "code": CODE, "reset": reset}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("link", [CODE, f"https://chat.whatsapp.com/{CODE}", f"chat.whatsapp.com/{CODE}/"])
def test_join_by_link_or_code(api, app, link: str) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"join_group": GROUP, "group_info": info()}, expect=2) as engine:
        response = api.post(f"{base(device)}/join", {"link": link})
    assert response.status_code == 200, response.content
    assert engine.calls == [("join_group", {"invite_code": CODE}), ("group_info", {"group_jid": GROUP})]
    assert response.json()["data"] == {"jid": GROUP, "name": "Team", "code": CODE}
    assert Chat.objects.filter(device=device, jid=GROUP).exists()


@pytest.mark.django_db(transaction=True)
def test_join_succeeds_when_the_name_lookup_fails(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"join_group": GROUP, "group_info": ErrorCode.PROVIDER_ERROR}, expect=2):
        response = api.post(f"{base(device)}/join", {"link": CODE})
    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"jid": GROUP, "name": None, "code": CODE}


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"link": ""}, {"link": "https://evil.example/abc"}, {"link": "no spaces!"},
                                  {"link": 5}, {"link": "x" * 301}, {"link": CODE, "code": CODE}])
def test_join_refuses_a_bad_link(api, app, body: dict) -> None:
    response = api.post(f"{base(connected_device(app))}/join", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] in ("link", "code")
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_join_a_revoked_link_is_not_found(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"join_group": ErrorCode.NOT_FOUND}):
        response = api.post(f"{base(device)}/join", {"link": CODE})
    assert response.status_code == 404
    assert error_of(response) == "not_found"


@pytest.mark.django_db(transaction=True)
def test_leave(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"leave_group": None}) as engine:
        response = api.post(f"{base(device)}/{GROUP}/leave")
    assert response.status_code == 200, response.content
    assert engine.calls == [("leave_group", {"group_jid": GROUP})]
    assert response.json()["data"] == {"jid": GROUP, "name": None, "left": True}


# --- participants ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_participants_change_lists_each_outcome(api, app) -> None:
    device = connected_device(app)
    answer = to_jsonable([GroupParticipant(jid=PHONE, is_admin=True),
                          GroupParticipant(jid="15559990000@s.whatsapp.net", error=404)])
    with Engine(device.pk, {"update_participants": answer}) as engine:
        response = api.post(f"{base(device)}/{GROUP}/participants",
                            {"action": "promote", "participants": ["+15551234567", "15559990000@s.whatsapp.net"]})
    assert response.status_code == 200, response.content
    assert engine.calls == [("update_participants", {"group_jid": GROUP, "action": "promote",
                                                     "jids": [PHONE, "15559990000@s.whatsapp.net"]})]
    data = response.json()["data"]
    assert (data["jid"], data["action"], data["succeeded"], data["failed"]) == (GROUP, "promote", 1, 1)
    assert data["participants"][0] == {"jid": PHONE, "phone_jid": None, "lid": None, "is_admin": True,
                                       "is_super_admin": False, "ok": True, "error": None, "reason": None}
    assert data["participants"][1]["ok"] is False
    assert data["participants"][1]["error"] == 404
    assert "not on WhatsApp" in data["participants"][1]["reason"]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"participants": [PHONE]}, "action"), ({"action": "ban", "participants": [PHONE]}, "action"),
    ({"action": "add"}, "participants"), ({"action": "add", "participants": []}, "participants"),
    ({"action": "add", "participants": [f"+1555000{n:04d}" for n in range(51)]}, "participants"),
    ({"action": "add", "participants": ["0044 20 7946 0000"]}, "participants"),
])
def test_participants_change_refuses_a_bad_body(api, app, body: dict, field: str) -> None:
    response = api.post(f"{base(connected_device(app))}/{GROUP}/participants", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"].split(".")[0] == field
    assert not DeviceCommand.objects.exists()


# --- name and description ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("body", "calls", "result"), [
    ({"name": " New "}, [("set_group_name", {"group_jid": GROUP, "name": "New"})],
     {"name": "New", "description": None, "changed": ["name"]}),
    ({"description": "Plans"}, [("set_group_topic", {"group_jid": GROUP, "topic": "Plans"})],
     {"name": None, "description": "Plans", "changed": ["description"]}),
    ({"topic": ""}, [("set_group_topic", {"group_jid": GROUP, "topic": ""})],
     {"name": None, "description": "", "changed": ["description"]}),
    ({"name": "New", "description": "Plans"}, [("set_group_name", {"group_jid": GROUP, "name": "New"}),
                                               ("set_group_topic", {"group_jid": GROUP, "topic": "Plans"})],
     {"name": "New", "description": "Plans", "changed": ["name", "description"]}),
])
def test_update_name_and_description(api, app, body: dict, calls: list, result: dict) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"set_group_name": None, "set_group_topic": None}, expect=len(calls)) as engine:
        response = api.patch(f"{base(device)}/{GROUP}", body)
    assert response.status_code == 200, response.content
    assert engine.calls == calls
    assert response.json()["data"] == {"jid": GROUP, **result}


@pytest.mark.django_db(transaction=True)
def test_update_says_the_name_changed_when_the_description_fails(api, app) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"set_group_name": None, "set_group_topic": ErrorCode.FORBIDDEN}, expect=2):
        response = api.patch(f"{base(device)}/{GROUP}", {"name": "New", "description": "Plans"})
    assert response.status_code == 403
    assert error_of(response) == "forbidden"
    assert response.json()["error"]["details"]["changed"] == ["name"]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 26}, "name"), ({"name": 5}, "name"),
    ({"description": "x" * 513}, "description"), ({"description": "a", "topic": "b"}, "topic"),
    ({"name": "   ", "description": "ok"}, "name"), ({"subject": "New"}, "subject"),
])
def test_update_refuses_a_bad_body(api, app, body: dict, field: str) -> None:
    response = api.patch(f"{base(connected_device(app))}/{GROUP}", body)
    assert response.status_code == 400, response.content
    assert error_of(response) == "validation_error"
    assert response.json()["error"]["details"]["field"] == field
    assert not DeviceCommand.objects.exists()


# --- the errors every endpoint documents ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_a_device_that_is_not_connected_is_refused(api, app, method: str, path: str, body) -> None:
    response = call(api, make_device(app), method, path, body)
    assert response.status_code == 409, response.content
    assert error_of(response) == "device_not_connected"
    assert not DeviceCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_a_destroyed_device_is_gone(api, app, method: str, path: str, body) -> None:
    device = connected_device(app)
    device.destroy()
    response = call(api, device, method, path, body)
    assert response.status_code == 410, response.content
    assert error_of(response) == "device_destroyed"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_an_unknown_device_is_not_found(api, method: str, path: str, body) -> None:
    response = call(api, SimpleNamespace(pk=uuid.uuid4()), method, path, body)
    assert response.status_code == 404, response.content
    assert error_of(response) == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
def test_no_answer_from_the_runner_is_an_upstream_timeout(api, app, monkeypatch, method: str, path: str,
                                                          body) -> None:
    monkeypatch.setattr("whatsapp.services.commands.CALL_TIMEOUT_S", 0.05)
    response = call(api, connected_device(app), method, path, body)
    assert response.status_code == 504, response.content
    assert error_of(response) == "upstream_timeout"


FAILURES = [(ErrorCode.FORBIDDEN, 403, "forbidden"), (ErrorCode.GROUP_POSTING_RESTRICTED, 403,
                                                      "group_posting_restricted"),
            (ErrorCode.NOT_FOUND, 404, "not_found"), (ErrorCode.PROVIDER_RATE_LIMITED, 429, "provider_rate_limit"),
            (ErrorCode.PROVIDER_ERROR, 502, "provider_error"), (ErrorCode.WHATSAPP_ERROR, 502, "whatsapp_error"),
            (ErrorCode.CONNECTION_LOST, 503, "whatsapp_connection_lost"),
            (ErrorCode.MESSAGE_NOT_CONNECTED, 409, "device_not_connected"),
            (ErrorCode.CONNECTION_TIMEOUT, 504, "upstream_timeout")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "body", "engine_method"), ENDPOINTS, ids=ROUTE_IDS)
def test_whatsapps_refusal_is_relayed_by_every_endpoint(api, app, method: str, path: str, body,
                                                        engine_method: str) -> None:
    """Not an admin, or not in the group: the runner fails the command with ``FORBIDDEN``."""
    device = connected_device(app)
    with Engine(device.pk, {engine_method: ErrorCode.FORBIDDEN}):
        response = call(api, device, method, path, body)
    assert response.status_code == 403, response.content
    assert error_of(response) == "forbidden"
    assert response.json()["error"]["details"] == {"iq_error": 403}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("code", "status", "api_code"), FAILURES, ids=[f[2] for f in FAILURES])
def test_each_runner_failure_keeps_its_code(api, app, code: ErrorCode, status: int, api_code: str) -> None:
    device = connected_device(app)
    with Engine(device.pk, {"group_info": code}):
        response = api.get(f"{base(device)}/{GROUP}")
    assert response.status_code == status, response.content
    assert error_of(response) == api_code


def test_every_status_answered_here_is_documented() -> None:
    from whatsapp.api.site import api as ninja_api

    paths = ninja_api.get_openapi_schema()["paths"]
    for method, path, _ in ROUTES:
        documented = paths["/devices/{device_id}/groups" + path.replace(GROUP, "{group_jid}")][method]["responses"]
        for status in (400, 401, 403, 404, 409, 410, 429, 502, 503, 504):
            assert str(status) in {str(s) for s in documented}, (method, path, status)

