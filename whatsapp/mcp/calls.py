"""What a tool handler receives: the device, its validated arguments and the policies around them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from whatsapp.models import Device
from whatsapp.services.policies import Whitelist, ensure_allowed, whitelist_for

if TYPE_CHECKING:
    from whatsapp.mcp.feed import DeviceFeed
    from whatsapp.mcp.tooling import ToolSpec


@dataclass
class ToolCall:
    device: Device
    spec: ToolSpec
    args: dict[str, Any]
    feed: DeviceFeed | None = None  # the device's event feed in this process (wait_for_message)
    #: Facts for the audit row beyond the arguments (e.g. the resolved JID); handlers may add to it.
    audit: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.args.get(name)

    @cached_property
    def whitelist(self) -> Whitelist:
        return whitelist_for(self.device)

    def allowed(self, jid: str) -> bool:
        return self.whitelist.allows(self.device, jid)

    def ensure_allowed(self, *jids: str) -> None:
        ensure_allowed(self.device, *jids)

    def take(self, kind: str) -> None:
        """Take one token of the ``outbound`` or ``download`` limit (reference §1.4 step 5)."""
        from whatsapp.services import throttles

        throttles.take(self.device, kind)
