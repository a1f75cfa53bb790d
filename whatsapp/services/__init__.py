"""The use cases every surface calls (REST, MCP, admin, runner). Plain functions with typed
arguments that raise ``WhatsAppError(ErrorCode.X)``; engine-agnostic (they speak the port's value
types and reach engines only through the device's command queue)."""
