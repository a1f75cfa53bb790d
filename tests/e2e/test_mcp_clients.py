"""The MCP server driven by the official ``mcp`` client over stdio (``manage.py mcp``) and streamable
HTTP (``/mcp``), against ``serve`` on embedded defaults with the simulator playing the phone: the
tool list, linking by pairing code, sending, the approval round trip, notifications arriving in the
client, ``wait_for_message`` filters, policies, and every one of the 34 tools working once."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension, NotificationBinding
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel, ConfigDict

from tests.support.processes import PROJECT_ROOT, PYTHON, ProcessGroup, clean_env, free_port, wait_until
from whatsapp.mcp.tooling import ORDER

pytestmark = pytest.mark.slow

OWNER = "+15145550100"
ALICE = "+15145550101"
ALICE_JID = "15145550101@s.whatsapp.net"
BOB_JID = "15145550102@s.whatsapp.net"
FALCON = "120363052345678901@g.us"  # the account is an admin there


class AnyParams(BaseModel):
    model_config = ConfigDict(extra="allow")


@dataclass
class Notifications(ClientExtension):
    """Collects the gateway's custom notifications (the SDK hands unknown methods to extensions)."""

    identifier = "dev.gateway/whatsapp-notifications"
    received: list[tuple[str, dict]] = field(default_factory=list)

    def notifications(self) -> list[NotificationBinding[Any]]:
        def collect(method: str) -> Any:
            async def handler(params: AnyParams) -> None:
                self.received.append((method, params.model_dump()))
            return handler
        return [NotificationBinding(method=m, params_type=AnyParams, handler=collect(m)) for m in (
            "notifications/message_received", "notifications/disconnected", "notifications/approval_resolved")]

    def of(self, method: str) -> list[dict]:
        return [params for m, params in self.received if m == method]


@dataclass
class Stack:
    env: dict[str, str]
    base: str
    token: str
    device_id: str
    other_device_id: str

    def manage(self, *args: str) -> str:
        done = subprocess.run([PYTHON, "manage.py", *args], cwd=PROJECT_ROOT, env=self.env, capture_output=True,
                              text=True, timeout=90)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done.stdout.strip()

    def stdio(self, extension: ClientExtension | None = None, mode: str = "legacy") -> Client:
        params = StdioServerParameters(command=PYTHON, args=["manage.py", "mcp", "--device", self.device_id],
                                       cwd=str(PROJECT_ROOT), env=self.env)
        return Client(params, mode=mode, extensions=[extension] if extension else None, read_timeout_seconds=60)

    def http(self, extension: ClientExtension | None = None, mode: str = "legacy", *, token: str | None = None,
             device_id: str | None = None) -> Client:
        headers = {"Authorization": f"Bearer {token or self.token}", "X-Device-Id": device_id or self.device_id}
        transport = streamable_http_client(f"{self.base}/mcp", http_client=httpx.AsyncClient(headers=headers,
                                                                                           timeout=60))
        return Client(transport, mode=mode, extensions=[extension] if extension else None, read_timeout_seconds=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("mcp")
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp / "data"), WHATSAPP_ENGINE="simulator", SIMULATOR_TIME_SCALE="0.2",
                    SEND_READ_RECEIPTS="true")
    serve = ProcessGroup([PYTHON, "manage.py", "serve", "--port", str(port)], env, tmp / "serve.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/health", timeout=2).status_code == 200, 60, what="serve up")
        probe = Stack(env, base, "", "", "")
        jwt = probe.manage("issue_jwt", "--tenant", "acme", "--create", "Acme")
        apps = [httpx.post(f"{base}/apps", headers={"Authorization": f"Bearer {jwt}"}, json={"name": name})
                for name in ("agents", "other")]
        tokens = [app.json()["data"]["app_token"] for app in apps]
        devices = [httpx.post(f"{base}/devices", headers={"Authorization": f"Bearer {t}"},
                              json={"device_name": f"phone-{i}"}, timeout=60).json()["data"]["device_id"]
                   for i, t in enumerate(tokens)]
        yield Stack(env, base, tokens[0], devices[0], devices[1])
    finally:
        assert serve.stop() == 0, serve.log()[-4000:]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def ok(client: Client, name: str, /, **arguments: Any) -> Any:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, f"{name}: {text_of(result)}"
    return result


async def refused(client: Client, name: str, code: str, /, **arguments: Any) -> Any:
    result = await client.call_tool(name, arguments)
    assert result.is_error, f"{name} should fail with {code}: {text_of(result)}"
    assert result.structured_content["error"]["code"] == code, text_of(result)
    assert text_of(result).startswith(code), text_of(result)
    return result


async def until(predicate: Any, timeout: float = 20, what: str = "") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def linked(stack: Stack) -> Stack:
    """The device linked through the authenticate tool and a pairing code typed on the phone."""

    async def link() -> None:
        async with stack.stdio() as client:
            await refused(client, "send_message", "MESSAGE_NOT_CONNECTED", to=ALICE, message="too early")
            result = await ok(client, "authenticate", phoneNumber=OWNER)
            code = result.structured_content["pairing_code"]
            assert "Pairing code: " + code in text_of(result)
            await asyncio.to_thread(stack.manage, "simulate", "enter-code", stack.device_id, code)
            for _ in range(100):
                status = await ok(client, "get_connection_status")
                if status.structured_content["connected"]:
                    break
                await asyncio.sleep(0.2)
            assert status.structured_content["jid"] == "15145550100@s.whatsapp.net", text_of(status)
            again = await ok(client, "authenticate")
            assert again.structured_content["already_connected"] is True

    run(link())
    return stack


def test_stdio_lists_the_34_tools_in_the_originals_order_and_answers_the_probes(stack: Stack) -> None:
    async def scenario() -> None:
        async with stack.stdio() as client:
            tools = (await client.list_tools()).tools
            assert [t.name for t in tools] == list(ORDER)
            assert len(tools) == 34
            by_name = {t.name: t for t in tools}
            assert by_name["send_message"].annotations.open_world_hint is True
            assert by_name["list_messages"].annotations.read_only_hint is True
            assert by_name["mark_messages_read"].annotations.read_only_hint is False
            assert by_name["leave_group"].annotations.destructive_hint is True
            assert all("get_tool_info" in t.description for t in tools if t.name != "get_tool_info")
            assert (await client.list_resources()).resources == []
            assert (await client.list_resource_templates()).resource_templates == []
            assert (await client.list_prompts()).prompts == []
            await client.set_logging_level("info")
            await client.send_ping()

    run(scenario())


def test_the_modern_protocol_works_over_both_transports(linked: Stack) -> None:
    async def scenario(client: Client) -> None:
        async with client:
            assert len((await client.list_tools()).tools) == 34
            status = await ok(client, "get_connection_status")
            assert status.structured_content["connected"] is True

    run(scenario(linked.stdio(mode="auto")))
    run(scenario(linked.http(mode="auto")))


def test_a_sent_message_reaches_the_network_and_the_store(linked: Stack) -> None:
    async def scenario() -> dict:
        async with linked.stdio() as client:
            sent = await ok(client, "send_message", to=ALICE, message="Hello from an agent")
            listed = await ok(client, "list_messages", chat=ALICE)
            assert "Hello from an agent" in text_of(listed)
            return sent.structured_content

    sent = run(scenario())
    assert sent["jid"] == ALICE_JID
    assert sent["message_id"]
    network = json.loads(linked.manage("simulate", "sent", linked.device_id))
    assert any("Hello from an agent" in json.dumps(record) for record in network)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_incoming_messages_arrive_as_notifications_and_end_waits(linked: Stack, transport: str) -> None:
    notes = Notifications()

    async def scenario() -> None:
        client = linked.stdio(notes) if transport == "stdio" else linked.http(notes)
        async with client:
            await ok(client, "get_connection_status")  # the session is attached to the device's feed
            wait_any = asyncio.create_task(client.call_tool("wait_for_message", {"timeout": 30}))
            wait_bob = asyncio.create_task(client.call_tool("wait_for_message", {"timeout": 4,
                                                                                 "from_phone": "+15145550102"}))
            wait_alice = asyncio.create_task(client.call_tool("wait_for_message", {"timeout": 30, "chat": ALICE}))
            await asyncio.sleep(1.0)
            text = f"ping over {transport}"
            await asyncio.to_thread(linked.manage, "simulate", "message", linked.device_id, "--from", ALICE,
                                    "--text", text)
            got_any, got_alice = await wait_any, await wait_alice
            for got in (got_any, got_alice):
                assert not got.is_error, text_of(got)
                assert got.structured_content["body"] == text
                assert got.structured_content["chat_jid"] == ALICE_JID
            bob = await wait_bob
            assert bob.is_error
            assert bob.structured_content["error"]["code"] == "WAIT_TIMEOUT"
            note = await until(lambda: [n for n in notes.of("notifications/message_received")
                                        if n["messageId"] == got_any.structured_content["message_id"]],
                               what="the message notification")
            assert note[0]["from"] == ALICE_JID
            assert note[0]["isFromMe"] is False
            assert note[0]["hasMedia"] is False

    run(scenario())


def test_the_approval_round_trip(linked: Stack) -> None:
    notes = Notifications()

    async def scenario() -> None:
        async with linked.stdio(notes) as client:
            asked = await ok(client, "request_approval", to=ALICE, action="Refund order 1234",
                             details="Amount: $80", timeout=120)
            request_id = asked.structured_content["request_id"]
            assert request_id.startswith("approval_")
            pending = await ok(client, "check_approvals")
            assert request_id in text_of(pending)
            await asyncio.to_thread(linked.manage, "simulate", "message", linked.device_id, "--from", ALICE,
                                    "--text", f"yes {request_id}")
            for _ in range(100):
                checked = await ok(client, "check_approvals", request_id=request_id)
                if checked.structured_content["status"] != "PENDING":
                    break
                await asyncio.sleep(0.2)
            assert checked.structured_content["status"] == "APPROVED", text_of(checked)
            assert checked.structured_content["response_text"] == f"yes {request_id}"
            resolved = await until(lambda: notes.of("notifications/approval_resolved"), what="approval_resolved")
            assert resolved[0]["requestId"] == request_id
            assert resolved[0]["status"] == "APPROVED"

    run(scenario())


def test_http_refuses_strangers_and_other_apps_devices(linked: Stack) -> None:
    url = f"{linked.base}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    missing = httpx.post(url, json=body, headers={"X-Device-Id": linked.device_id})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    foreign = httpx.post(url, json=body, headers={"Authorization": f"Bearer {linked.token}",
                                                  "X-Device-Id": linked.other_device_id})
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    unbound = httpx.post(url, json=body, headers={"Authorization": f"Bearer {linked.token}"})
    assert unbound.status_code == 400
    assert unbound.json()["error"]["details"]["field"] == "X-Device-Id"


def test_a_disabled_tool_stays_listed_but_is_refused(linked: Stack) -> None:
    linked.manage("shell", "-c", "from whatsapp.models import Device; "
                  f"Device.objects.filter(pk='{linked.device_id}').update(disabled_tools='send_reaction')")
    try:
        async def scenario() -> None:
            async with linked.http() as client:
                tools = {t.name: t for t in (await client.list_tools()).tools}
                assert "DISABLED" in tools["send_reaction"].description
                await refused(client, "send_reaction", "PERMISSION_TOOL_DISABLED", chat=ALICE, message_id="x",
                              emoji="👍")
                info = await ok(client, "get_tool_info", tool_name="send_reaction")
                assert info.structured_content["disabled"] is True

        run(scenario())
    finally:
        linked.manage("shell", "-c", "from whatsapp.models import Device; "
                      f"Device.objects.filter(pk='{linked.device_id}').update(disabled_tools=None)")


def test_every_tool_works_against_the_simulator(linked: Stack, tmp_path) -> None:
    """One successful call of each of the 34 tools (disconnect last), through the official client."""
    picture = tmp_path / "pixel.png"
    picture.write_bytes(bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))
    called: set[str] = set()

    async def call(client: Client, name: str, /, **arguments: Any) -> Any:
        called.add(name)
        return await ok(client, name, **arguments)

    async def scenario() -> None:
        async with linked.stdio() as client:
            await call(client, "get_tool_info", tool_name="send_message")
            await call(client, "get_connection_status")
            await call(client, "authenticate")
            await asyncio.to_thread(linked.manage, "simulate", "message", linked.device_id, "--from", ALICE,
                                    "--kind", "image", "--file", str(picture), "--text", "a pixel?")
            for _ in range(50):
                listed = await call(client, "list_messages", chat=ALICE, limit=10)
                if "a pixel?" in text_of(listed):
                    break
                await asyncio.sleep(0.2)
            image = [m for m in listed.structured_content["messages"] if m.get("type") == "image"]
            assert image, text_of(listed)
            image_id = image[0]["id"]
            await call(client, "search_messages", query="pixel")
            await call(client, "list_chats")
            await call(client, "catch_up", since="today")
            await call(client, "search_contacts", query="1514555")
            await call(client, "mark_messages_read", chat=ALICE)
            export = await call(client, "export_chat_data", jid=ALICE_JID, format="csv")
            assert any(block.type == "resource" for block in export.content)
            await call(client, "request_approval", to=ALICE, action="Ship it", details="", timeout=60)
            await call(client, "check_approvals")
            downloaded = await call(client, "download_media", message_id=image_id, chat=ALICE)
            assert downloaded.structured_content["size"] == picture.stat().st_size
            await call(client, "send_file", to=ALICE, file_path=str(picture), media_type="image", caption="back")
            sent = await call(client, "send_message", to=ALICE, message="to be edited")
            own_id = sent.structured_content["message_id"]
            await call(client, "send_reaction", chat=ALICE, message_id=image_id, emoji="👍")
            await call(client, "edit_message", chat=ALICE, message_id=own_id, new_text="edited")
            await call(client, "delete_message", chat=ALICE, message_id=own_id)
            created = await call(client, "create_group", name="Agents", participants=[ALICE, "+15145550102"])
            group = created.structured_content["jid"]
            await call(client, "get_group_info", group=group)
            await call(client, "get_joined_groups")
            await call(client, "get_group_invite_link", group=group)
            await call(client, "update_group_participants", group=group, action="promote", participants=[ALICE])
            await call(client, "set_group_name", group=group, name="Agents 2")
            await call(client, "set_group_topic", group=group, topic="Automation")
            await call(client, "leave_group", group=group)
            link = await call(client, "get_group_invite_link", group=FALCON)
            await call(client, "join_group", link=link.structured_content["link"])
            await call(client, "get_user_info", phones=[ALICE])
            await call(client, "is_on_whatsapp", phones=[ALICE, "+15145550107"])
            await call(client, "get_profile_picture", target=ALICE)
            await call(client, "sync_contact_names", contacts=[ALICE])
            await call(client, "set_contact_name", jid=ALICE, name="Alice (client)")
            waiting = asyncio.create_task(client.call_tool("wait_for_message", {"timeout": 20, "chat": ALICE}))
            await asyncio.sleep(1.0)
            await asyncio.to_thread(linked.manage, "simulate", "message", linked.device_id, "--from", ALICE,
                                    "--text", "still there?")
            got = await waiting
            assert not got.is_error, text_of(got)
            called.add("wait_for_message")
            await call(client, "disconnect")
            status = await call(client, "get_connection_status")
            assert status.structured_content["connected"] is False

    run(scenario())
    assert called == set(ORDER), set(ORDER) - called
