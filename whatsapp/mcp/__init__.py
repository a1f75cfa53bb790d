"""The MCP server: the 34 tools of seed 000 over stdio (``manage.py mcp``) and streamable HTTP
(``/mcp``), on the same services as the REST API.

``tooling`` declares tools, ``arguments`` validates their input, ``dispatch`` runs one call through the
checks every tool shares (disabled, arguments, connection, audit), ``feed`` turns the device's event
log into notifications, and ``server``/``http`` bind it all to the official SDK's transports.
"""
