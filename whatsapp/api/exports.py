"""Chat export: ``GET /devices/{device_id}/chats/{jid}/export?format=json|csv`` — the whole export as
a file (the MCP tool and the admin use the same service, ``whatsapp.services.export``)."""

from __future__ import annotations

import uuid
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from whatsapp.api.lookups import device_of, path_text
from whatsapp.api.responses import responses
from whatsapp.errors import ErrorCode as E
from whatsapp.services.export import export_chat

router = Router(tags=["messages"])

_EXPORT_DOCS = {"responses": {
    200: {"description": "The export as a file: JSON (`format`, `jid`, `chatName`, `isGroup`, `exportedAt`, "
                         "`messageCount`, `messages`) or CSV (a header, then one quoted row per message; "
                         "formula-looking cells are prefixed with `'`).",
          "headers": {"Content-Disposition": {"schema": {"type": "string"}, "description": "`attachment`."},
                      "X-Message-Count": {"schema": {"type": "integer"}}},
          "content": {"application/json": {"schema": {"type": "object"}},
                      "text/csv": {"schema": {"type": "string"}}}},
}}


class ExportQuery(Schema):
    format: Literal["json", "csv"] = Field("json", description="`json` (default) or `csv`.")


@router.get("/devices/{device_id}/chats/{jid}/export",
            response=responses({}, E.NOT_FOUND, E.DEVICE_DESTROYED, E.PERMISSION_CONTACT_NOT_WHITELISTED),
            openapi_extra=_EXPORT_DOCS, summary="Export a chat (and its LID/phone twin), oldest first")
def export(request: HttpRequest, device_id: uuid.UUID, jid: str, query: Query[ExportQuery]) -> HttpResponse:
    """Up to the 10,000 most recent messages of the chat and its twin. Works while the device is
    offline (it reads the store). `not_found` for a chat the store does not have."""
    result = export_chat(device_of(request, device_id, alive=False), path_text(jid, "jid"), query.format)
    response = HttpResponse(result.content, content_type=f"{result.mime_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{result.file_name}"'
    response["X-Message-Count"] = str(result.count)
    return response
