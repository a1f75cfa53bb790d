"""The tool families; importing this package registers every tool (see ``tooling.tools``)."""

from whatsapp.mcp.tools import info, session  # noqa: F401
