"""``GET /media?path=…``: the bytes of the caller's own stored media, streamed, with ``Range`` (one
byte range → 206), ``ETag`` (sha256) and ``If-None-Match`` (304). Which file, and whether the caller
may read it, is decided by :mod:`media.downloads`; this module only speaks HTTP."""

from __future__ import annotations

import contextlib

from django.http import FileResponse, HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from media import downloads
from whatsapp.api.errors import render
from whatsapp.api.lookups import app_of
from whatsapp.api.responses import responses
from whatsapp.errors import ErrorCode as E
from whatsapp.errors import WhatsAppError

router = Router(tags=["media"])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_HEADERS = {
    "Content-Length": {"schema": {"type": "integer"}, "description": "Bytes in this response."},
    "Content-Disposition": {"schema": {"type": "string"},
                            "description": "`attachment` with the message's file name or the path's base name."},
    "ETag": {"schema": {"type": "string"}, "description": "The file's sha256, quoted."},
    "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
}
_MEDIA_DOCS = {"responses": {
    200: {"description": "The whole file, with its stored MIME type (`application/octet-stream` when unknown).",
            "headers": _HEADERS, "content": {"application/octet-stream": _BINARY, "*/*": _BINARY}},
    206: {"description": "One byte range (`Range: bytes=first-last`, `first-` or `-suffix`).",
            "headers": {**_HEADERS, "Content-Range": {"schema": {"type": "string"},
                                                      "description": "`bytes first-last/size`."}},
            "content": {"application/octet-stream": _BINARY, "*/*": _BINARY}},
    304: {"description": "`If-None-Match` matches the ETag: not modified.", "headers": {"ETag": _HEADERS["ETag"]}},
    416: {"description": "`range_not_satisfiable`: `Range` outside the file (details.size); "
                         "`Content-Range: bytes */size`."},
    400: {"description": "`validation_error`: `path` missing or not shaped `media/{app_id}/{device_id}-"
                          "{message_id}.{ext}` (absolute paths, `..`, backslashes are refused here)."},
    404: {"description": "Not this app's media, no stored file (`details.reason`: `not_downloaded` for inbound "
                           "media not downloaded yet, `no_media`, `purged`)."},
}}
# 64 KiB reads instead of FileResponse's 4 KiB: far fewer iterations for multi-megabyte videos.
_BLOCK = 64 * 1024


class MediaQuery(Schema):
    path: str = Field(min_length=1, max_length=downloads.MAX_PATH_CHARS,
                      description="The `media_path` exactly as webhooks and message reads give it: "
                                  "`media/{app_id}/{device_id}-{message_id}.{ext}`.")


class _MediaResponse(FileResponse):
    block_size = _BLOCK


def _headers(response: HttpResponse, media: downloads.OpenedMedia) -> HttpResponse:
    response["ETag"] = media.etag
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, no-cache"  # app data: no shared caches; revalidate with the ETag
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/media", response=responses({}, E.NOT_FOUND, E.RANGE_NOT_SATISFIABLE), openapi_extra=_MEDIA_DOCS,
            summary="Download the app's stored media (Range, ETag)")
def download_media(request: HttpRequest, query: Query[MediaQuery]) -> HttpResponse:
    media = downloads.open_media(app_of(request), query.path)
    with contextlib.ExitStack() as unless_streamed:
        unless_streamed.callback(media.file.close)
        if downloads.not_modified(media.etag, request.headers.get("If-None-Match")):
            return _headers(HttpResponse(status=304), media)
        try:
            span = downloads.byte_range(request.headers.get("Range"), media.size, etag=media.etag,
                                        if_range=request.headers.get("If-Range"))
        except WhatsAppError as error:
            refused = render(request, error)
            refused["Content-Range"] = f"bytes */{media.size}"
            return refused
        if span is None:
            response = _MediaResponse(media.file, as_attachment=True, filename=media.file_name,
                                      content_type=media.mime_type)
            response["Content-Length"] = str(media.size)
        else:
            first, last = span
            body = downloads.FileSlice(media.file, first, last - first + 1)
            response = _MediaResponse(body, status=206, as_attachment=True, filename=media.file_name,
                                      content_type=media.mime_type)
            response["Content-Length"] = str(last - first + 1)
            response["Content-Range"] = f"bytes {first}-{last}/{media.size}"
        unless_streamed.pop_all()  # the response closes the file once streamed
        return _headers(response, media)
