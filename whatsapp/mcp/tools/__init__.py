"""The tool families; importing this package registers every tool (see ``tooling.tools``)."""

from whatsapp.mcp.tools import approvals, info, session, waiting  # noqa: F401
