"""Fixtures for the neonize adapter tests (run apart: ``python -m pytest tests/neonize``).

This process never loads neonize's Go core: ``SPHINX=1`` makes neonize skip loading its ``.so``
(neonize-notes §2), and :class:`FakeGo` stands in for the ctypes library object (notes §4.2). It
takes the same positional arguments as the real FFI functions and answers serialized
``*ReturnFunction`` protobufs, so neonize's own Python code (``NewClient``, its dispatcher, its
return-value parsing) runs for real. Its ``Neonize()`` blocks like the Go call until ``Stop`` and
can replay what Go does on start: call the QR, login-status and event callbacks through the real
ctypes thunks neonize built. Tests that need the real Go core spawn a child process without
``SPHINX`` (``test_neonize_offline_core.py``).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

_sphinx = os.environ.get("SPHINX")
os.environ["SPHINX"] = "1"  # read once, when neonize is first imported

from neonize.events import EVENT_TO_INT  # noqa: E402 - after SPHINX
from neonize.proto import Neonize_pb2 as N  # noqa: E402
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as E  # noqa: E402

from whatsapp.engine.base import EngineConfig  # noqa: E402
from whatsapp.engine.neonize_engine import NeonizeEngine  # noqa: E402

if _sphinx is None:  # processes started later (other tests' children) must get the real neonize
    del os.environ["SPHINX"]
else:
    os.environ["SPHINX"] = _sphinx

OWN_PHONE, OWN_LID = "15550009999", "99000111222333"
_ids = itertools.count(1)


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> N.JID:
    """A neonize JID with every proto2-required scalar set."""
    return N.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def empty_jid() -> N.JID:
    return N.JID(User="", Server="", Device=0, RawAgent=0, Integrator=0, IsEmpty=True)


def raw(ev: Any) -> bytes:
    """Neonize's protos are proto2 with many required fields: serialise partially (notes §4.1)."""
    return ev.SerializePartialToString()


class FakeGo:
    """The ctypes library object, faked: records calls, answers like the Go side."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.sent: list[tuple[N.JID, E.Message]] = []
        self.uploads: list[tuple[bytes, int]] = []
        self.errors: dict[str, str] = {}  # FFI name -> Go error string to return
        self.devices = ""  # what GetAllDevices answers
        self.me = N.Device(JID=jid(OWN_PHONE, device=12), LID=jid(OWN_LID, "lid", 12), PushName="Gateway",
                           Platform="", BussinessName="", Initialized=True)
        self.connected = True
        self.neonize_error = b""  # non-empty: Neonize() fails at once with this Go error
        self.on_start: list[Callable[[FakeGo], None]] = []  # replayed inside Neonize(), like Go's pump
        self.neonize_args: tuple[Any, ...] = ()
        self.callbacks: tuple[Any, Any, Any] | None = None
        self._stopped = threading.Event()
        self._send_ids = itertools.count(1)
        self.group = N.GroupInfo(JID=jid("120363000000000001", "g.us"), OwnerJID=jid("15551110000"),
                                 GroupName=N.GroupName(Name="Team"), GroupTopic=N.GroupTopic(Topic="Plans"),
                                 GroupAnnounce=N.GroupAnnounce(IsAnnounce=True),
                                 GroupLocked=N.GroupLocked(isLocked=False),
                                 GroupCreated=1_700_000_000, Participants=[
                                     N.GroupParticipant(JID=jid("88000111", "lid"), PhoneNumber=jid("15551110000"),
                                                        LID=jid("88000111", "lid"), IsAdmin=True, IsSuperAdmin=True,
                                                        Error=0)])

    # --- lifecycle -------------------------------------------------------------------------------
    def Neonize(self, *args: Any) -> bytes:
        self.neonize_args = args
        self.calls.append(("Neonize", ()))
        self.callbacks = (args[6], args[7], args[8])  # qr, login status, event thunks
        self._stopped.clear()
        if self.neonize_error:
            return self.neonize_error
        for step in self.on_start:
            step(self)
        if self.neonize_error:  # a step made the session fail (a late dial error)
            return self.neonize_error
        self._stopped.wait(30)
        return b""

    def Stop(self, uuid: bytes) -> bytes:
        self.calls.append(("Stop", (uuid,)))
        self._stopped.set()
        return b""

    def Disconnect(self, uuid: bytes) -> None:
        self.calls.append(("Disconnect", (uuid,)))

    def IsConnected(self, uuid: bytes) -> bool:
        return self.connected

    def IsLoggedIn(self, uuid: bytes) -> bool:
        return self.connected

    def GetMe(self, uuid: bytes) -> bytes:
        self.calls.append(("GetMe", ()))
        return raw(self.me)

    def GetAllDevices(self, db: bytes, callback: Any) -> bytes:
        self.calls.append(("GetAllDevices", (db,)))
        return self.devices.encode()

    # --- what Go does during Neonize(), through neonize's real ctypes thunks ------------------------
    @property
    def uuid(self) -> bytes:
        return self.neonize_args[1]

    def emit(self, ev: Any, code: int | None = None) -> None:
        data = raw(ev)
        buffer = ctypes.create_string_buffer(data, len(data) or 1)
        self.callbacks[2](self.uuid, ctypes.addressof(buffer), len(data),
                          EVENT_TO_INT[type(ev)] if code is None else code)

    def qr(self, code: str) -> None:
        buffer = ctypes.create_string_buffer(code.encode())
        self.callbacks[0](ctypes.cast(ctypes.c_char_p(self.uuid), ctypes.c_void_p), ctypes.addressof(buffer))

    def login_status(self, status: str) -> None:
        buffer = ctypes.create_string_buffer(status.encode())
        self.callbacks[1](ctypes.cast(ctypes.c_char_p(self.uuid), ctypes.c_void_p), ctypes.addressof(buffer))

    # --- messaging -------------------------------------------------------------------------------
    def SendMessage(self, uuid: bytes, to: bytes, to_len: int, msg: bytes, msg_len: int) -> bytes:
        if "SendMessage" in self.errors:
            return N.SendMessageReturnFunction(Error=self.errors["SendMessage"]).SerializePartialToString()
        self.sent.append((N.JID.FromString(to), E.Message.FromString(msg)))
        response = N.SendResponse(ID=f"3EB0FAKE{next(self._send_ids):04d}", Timestamp=1_750_000_000)
        return N.SendMessageReturnFunction(SendResponse=response).SerializePartialToString()

    def Upload(self, uuid: bytes, data: bytes, size: int, media_type: int) -> bytes:
        if "Upload" in self.errors:
            return N.UploadReturnFunction(Error=self.errors["Upload"]).SerializePartialToString()
        self.uploads.append((bytes(data), media_type))
        response = N.UploadResponse(url="https://mmg.whatsapp.net/fake", DirectPath="/v/fake.enc", Handle="",
                                    MediaKey=b"k" * 32, FileSHA256=b"s" * 32, FileEncSHA256=b"e" * 32,
                                    FileLength=size)
        return N.UploadReturnFunction(UploadResponse=response).SerializePartialToString()

    def DownloadMediaWithPath(self, *args: Any) -> bytes:
        self.calls.append(("DownloadMediaWithPath", args))
        if "Download" in self.errors:
            return N.DownloadReturnFunction(Error=self.errors["Download"]).SerializePartialToString()
        return N.DownloadReturnFunction(Binary=b"plain bytes").SerializePartialToString()

    def _string_call(self, name: str, args: tuple[Any, ...]) -> bytes:
        self.calls.append((name, args))
        return self.errors.get(name, "").encode()

    def MarkRead(self, *args: Any) -> bytes:
        return self._string_call("MarkRead", args)

    def SendPresence(self, *args: Any) -> bytes:
        return self._string_call("SendPresence", args)

    def SendChatPresence(self, *args: Any) -> bytes:
        return self._string_call("SendChatPresence", args)

    def SubscribePresence(self, *args: Any) -> bytes:
        return self._string_call("SubscribePresence", args)

    def Logout(self, *args: Any) -> bytes:
        return self._string_call("Logout", args)

    def LeaveGroup(self, *args: Any) -> bytes:
        return self._string_call("LeaveGroup", args)

    def SetGroupName(self, *args: Any) -> bytes:
        return self._string_call("SetGroupName", args)

    def SetGroupTopic(self, *args: Any) -> bytes:
        return self._string_call("SetGroupTopic", args)

    def GenerateMessageID(self, uuid: bytes) -> bytes:
        return b"3EB0CREATEKEY"

    def PairPhone(self, uuid: bytes, payload: bytes, size: int) -> bytes:
        self.calls.append(("PairPhone", (N.PairPhoneParams.FromString(payload),)))
        if "PairPhone" in self.errors:
            return N.PairPhoneReturnFunction(Error=self.errors["PairPhone"]).SerializePartialToString()
        return N.PairPhoneReturnFunction(Code="ABCD-EFGH").SerializePartialToString()

    # --- queries -----------------------------------------------------------------------------------
    def GetUserInfo(self, uuid: bytes, data: bytes, size: int) -> bytes:
        jids = N.JIDArray.FromString(data).JIDS
        self.calls.append(("GetUserInfo", tuple(jids)))
        if "GetUserInfo" in self.errors:
            return N.GetUserInfoReturnFunction(Error=self.errors["GetUserInfo"]).SerializePartialToString()
        infos = [N.GetUserInfoSingleReturnFunction(JID=j, UserInfo=N.UserInfo(Status="hi", PictureID="p1"))
                 for j in jids]
        return N.GetUserInfoReturnFunction(UsersInfo=infos).SerializePartialToString()

    def IsOnWhatsApp(self, uuid: bytes, numbers: bytes, size: int = 0) -> bytes:
        self.calls.append(("IsOnWhatsApp", (numbers,)))
        answers = []
        for query in numbers.decode().split(" "):
            digits = query.lstrip("+")
            if digits.endswith("0"):
                answers.append(N.IsOnWhatsAppResponse(Query=query, JID=jid("77" + digits[-6:], "lid"), IsIn=True))
            else:
                answers.append(N.IsOnWhatsAppResponse(Query=query, JID=jid(digits), IsIn=False))
        return N.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=answers).SerializePartialToString()

    def GetProfilePicture(self, *args: Any) -> bytes:
        if "GetProfilePicture" in self.errors:
            return N.GetProfilePictureReturnFunction(Error=self.errors["GetProfilePicture"]).SerializePartialToString()
        picture = N.ProfilePictureInfo(URL="https://pps.whatsapp.net/p.jpg", ID="123", Type="image")
        return N.GetProfilePictureReturnFunction(Picture=picture).SerializePartialToString()

    def GetLIDFromPN(self, uuid: bytes, data: bytes, size: int) -> bytes:
        return N.GetJIDFromStoreReturnFunction(Jid=jid("88000111", "lid")).SerializePartialToString()

    def GetPNFromLID(self, uuid: bytes, data: bytes, size: int) -> bytes:
        return N.GetJIDFromStoreReturnFunction(Jid=jid("15551110000")).SerializePartialToString()

    def GetGroupInfo(self, *args: Any) -> bytes:
        if "GetGroupInfo" in self.errors:
            return N.GetGroupInfoReturnFunction(Error=self.errors["GetGroupInfo"]).SerializePartialToString()
        return N.GetGroupInfoReturnFunction(GroupInfo=self.group).SerializePartialToString()

    def CreateGroup(self, uuid: bytes, data: bytes, size: int) -> bytes:
        self.calls.append(("CreateGroup", (N.ReqCreateGroup.FromString(data),)))
        return N.GetGroupInfoReturnFunction(GroupInfo=self.group).SerializePartialToString()

    def GetJoinedGroups(self, uuid: bytes) -> bytes:
        return N.GetJoinedGroupsReturnFunction(Group=[self.group]).SerializePartialToString()

    def GetGroupInviteLink(self, uuid: bytes, data: bytes, size: int, revoke: bool) -> bytes:
        self.calls.append(("GetGroupInviteLink", (revoke,)))
        return N.GetGroupInviteLinkReturnFunction(InviteLink="https://chat.whatsapp.com/AbC123").SerializePartialToString()

    def JoinGroupWithLink(self, uuid: bytes, code: bytes) -> bytes:
        self.calls.append(("JoinGroupWithLink", (code,)))
        if "JoinGroupWithLink" in self.errors:
            return N.JoinGroupWithLinkReturnFunction(Error=self.errors["JoinGroupWithLink"]).SerializePartialToString()
        return N.JoinGroupWithLinkReturnFunction(Jid=jid("120363000000000002", "g.us")).SerializePartialToString()

    def UpdateGroupParticipants(self, uuid: bytes, group: bytes, gsize: int, data: bytes, size: int,
                                action: bytes) -> bytes:
        self.calls.append(("UpdateGroupParticipants", (action,)))
        jids = N.JIDArray.FromString(data).JIDS
        people = [N.GroupParticipant(JID=j, LID=empty_jid(), PhoneNumber=j, IsAdmin=False, IsSuperAdmin=False,
                                     Error=403 if j.User.endswith("3") else 0) for j in jids]
        return N.UpdateGroupParticipantsReturnFunction(participants=people).SerializePartialToString()

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the adapter called an FFI function the fake does not know: {name}")

    def release(self) -> None:
        self._stopped.set()

    def calls_named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for call, args in self.calls if call == name]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGo]:
    """The fake FFI, installed where ``NewClient`` copies it from (``neonize.client.gocode``)."""
    import neonize.client as nc

    go = FakeGo()
    monkeypatch.setattr(nc, "gocode", go)
    yield go
    go.release()


class Harness:
    """One engine on the fake, and the events its sink received."""

    def __init__(self, fake: FakeGo, tmp_path: Any, session_jid: str = "", **options: Any) -> None:
        self.fake = fake
        self.events: list[Any] = []
        config = EngineConfig(device_id=f"dev{next(_ids)}", session_store=str(tmp_path / "session.sqlite3"),
                              session_jid=session_jid, options={"connect_wait_s": 2.0, "stop_wait_s": 2.0, **options})
        self.engine = NeonizeEngine(config, self.events.append)

    def dispatch(self, ev: Any, code: int | None = None) -> None:
        """Deliver ``ev`` through neonize's own dispatcher, as Go does: ``execute(uuid, ptr, size, code)``."""
        client = self.engine._ensure_client()
        data = raw(ev)
        buffer = ctypes.create_string_buffer(data, len(data) or 1)
        client.event.execute(client.uuid, ctypes.addressof(buffer), len(data),
                             EVENT_TO_INT[type(ev)] if code is None else code)

    def settle(self) -> list[Any]:
        """Everything delivered so far has reached the sink; returns and clears the events."""
        assert self.engine.flush(5)
        events, self.events[:] = list(self.events), []
        return events

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.settle() if isinstance(event, kind)]

    def connect_online(self) -> None:
        """Connect with Go answering ``Connected`` at once (its device event first, as Go does)."""
        self.fake.on_start = [lambda go: go.emit(go.me, code=0), lambda go: go.emit(N.Connected(status=True))]
        self.engine.connect()
        self.settle()

    def close(self) -> None:
        self.engine.close()


@pytest.fixture
def harness(fake: FakeGo, tmp_path: Any) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(session_jid: str = "", **options: Any) -> Harness:
        made.append(Harness(fake, tmp_path, session_jid, **options))
        return made[-1]

    yield make
    for h in made:
        h.close()


@pytest.fixture
def online(harness: Callable[..., Harness]) -> Harness:
    """An engine whose client is connected and logged in (on the fake)."""
    h = harness()
    h.connect_online()
    return h


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")
