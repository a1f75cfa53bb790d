"""The tool families; importing this package registers every tool (see ``tooling.tools``)."""

from whatsapp.mcp.tools import (  # noqa: F401
    actions,
    approvals,
    chats,
    groups,
    info,
    media,
    messaging,
    people,
    reading,
    session,
    waiting,
)
