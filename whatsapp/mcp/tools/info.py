"""``get_tool_info``: each tool's usage, examples, response, errors and pitfalls, generated from the
same :class:`~whatsapp.mcp.tooling.ToolSpec` that ``tools/list`` and the dispatcher use."""

from __future__ import annotations

from whatsapp.errors import ErrorCode
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.dispatch import unknown_tool
from whatsapp.mcp.tooling import REGISTRY, ToolResult, text, tool, tools
from whatsapp.services.policies import disabled_tools_for

#: Codes every tool can return, whatever it does.
COMMON = (ErrorCode.PERMISSION_TOOL_DISABLED, ErrorCode.VALIDATION_ERROR)


@tool("get_tool_info", "Explain a tool: what it does, its parameters, examples, response format, the error "
      "codes it really returns, related tools and pitfalls.",
      text("tool_name", "Exact, case-sensitive tool name, e.g. \"send_message\".", required=True, min_length=1),
      read_only=True, idempotent=True,
      response="Sections: Tool, Summary, Usage, Examples, Response, Errors, Related, Pitfalls.",
      errors=(ErrorCode.UNKNOWN_TOOL,),
      examples=('get_tool_info(tool_name="send_message")',),
      related=("get_connection_status",))
def get_tool_info(call: ToolCall) -> ToolResult:
    name = call["tool_name"]
    spec = REGISTRY.get(name)
    if spec is None or name not in {s.name for s in tools()}:
        raise unknown_tool(name)
    disabled = name in disabled_tools_for(call.device)
    usage = [f"- {p.name} ({p.schema.get('type')}, {'required' if p.required else 'optional'}"
             f"{_bounds(p.schema)}): {p.description}" for p in spec.params] or ["- no arguments"]
    codes = [*COMMON, *spec.errors]
    if spec.live:
        codes.append(ErrorCode.MESSAGE_NOT_CONNECTED)
    codes = list(dict.fromkeys(codes))
    sections = [
        f"Tool: {spec.name}" + (" (DISABLED on this device)" if disabled else ""),
        f"Summary: {spec.summary}",
        "Needs a live WhatsApp connection: " + ("yes" if spec.live else "no (works from the local store)"),
        *([f"Rate limit: one {spec.rate} token per call"] if spec.rate else []),
        "", "Usage:", *usage,
        "", "Examples:", *(f"- {e}" for e in spec.examples or (f"{spec.name}()",)),
        "", f"Response: {spec.response or 'labelled lines of text plus structuredContent'}",
        "", "Errors:", *(f"- {c.code} ({c.category}): {c.message}" for c in codes),
        "", "Related: " + (", ".join(spec.related) or "none"),
        "", "Pitfalls:", *(f"- {p}" for p in spec.pitfalls or ("none known",)),
    ]
    data = {"tool": spec.name, "summary": spec.summary, "disabled": disabled, "live": spec.live,
            "rate": spec.rate or None, "parameters": spec.input_schema(), "examples": list(spec.examples),
            "errors": [c.code for c in codes], "related": list(spec.related), "pitfalls": list(spec.pitfalls)}
    return ToolResult("\n".join(sections), data)


def _bounds(schema: dict) -> str:
    parts = []
    for key, label in (("minLength", "min length"), ("maxLength", "max length"), ("minimum", "min"),
                       ("maximum", "max"), ("minItems", "min items"), ("maxItems", "max items")):
        if key in schema:
            parts.append(f"{label} {schema[key]}")
    if "enum" in schema:
        parts.append("one of " + "|".join(schema["enum"]))
    if "default" in schema:
        parts.append(f"default {schema['default']!r}".replace("True", "true").replace("False", "false"))
    return (", " + ", ".join(parts)) if parts else ""
