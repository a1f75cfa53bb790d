"""The media tools: download_media and send_file (reference §2.14, §2.15)."""

from __future__ import annotations

from media.guard import check_upload_path
from media.retrieval import download_media as retrieve
from whatsapp.engine.base import Kind
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp import formatting as fmt
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, choice, lines, text, tool
from whatsapp.models import Message
from whatsapp.services import messages as outbox
from whatsapp.services.messages import Outgoing
from whatsapp.services.recipients import resolve

MEDIA_TYPES = ("image", "video", "audio", "document")


@tool("download_media", "Download the photo, video, audio, document or sticker of a received message to local "
      "storage and return its path.",
      text("message_id", "The WhatsApp message ID (from list_messages or a notification).", required=True,
           max_length=200),
      text("chat", "The chat the message is in (JID, phone number or name); checked when given.", max_length=200),
      live=True, rate="download",
      response="Media type, MIME type, size, local path, chat JID and the original file name.",
      errors=(ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND, ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT,
              ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED, ErrorCode.NOT_FOUND, ErrorCode.NO_MEDIA,
              ErrorCode.CHAT_MISMATCH, ErrorCode.MEDIA_QUOTA_EXCEEDED, ErrorCode.MEDIA_RATE_LIMITED,
              ErrorCode.MEDIA_EXPIRED, ErrorCode.MEDIA_DOWNLOAD_FAILED, ErrorCode.MEDIA_TOO_LARGE),
      examples=('download_media(message_id="3EB0C767D26A1D8A2E8F")',
                'download_media(message_id="3EB0C767D26A1D8A2E8F", chat="Alice")'),
      related=("list_messages", "send_file"),
      pitfalls=("WhatsApp keeps media for about 30 days; older files give MEDIA_EXPIRED.",
                "A file already downloaded is returned again without a network call or a rate token."))
def download_media(call: ToolCall) -> ToolResult:
    device = call.device
    scope: set[str] | None = None
    if call["chat"]:
        resolved = resolve(device, call["chat"], field="chat")
        call.ensure_allowed(resolved.jid)
        scope = {resolved.jid, *resolved.twins}
    message_id = call["message_id"].strip()
    message = Message.objects.select_related("chat").filter(device=device, wa_id=message_id).first()
    if message is None:
        raise WhatsAppError(ErrorCode.NOT_FOUND, f"No stored message {message_id!r}.",
                            details={"message_id": message_id})
    if not message.has_media:
        raise WhatsAppError(ErrorCode.NO_MEDIA, details={"message_id": message_id, "type": message.type})
    if scope is not None and message.chat.jid not in scope:
        raise WhatsAppError(ErrorCode.CHAT_MISMATCH, f"Message {message_id} is in {message.chat.jid}, not in "
                            f"{call['chat']}.", details={"message_id": message_id, "chat_jid": message.chat.jid})
    call.ensure_allowed(message.chat.jid)
    media = retrieve(device, message)
    call.audit.update({"message_id": message_id, "downloaded": media.downloaded, "size": media.size})
    body = lines(("Media type", media.media_type), ("MIME type", media.mime), ("Size", f"{media.size} bytes"),
                 ("Path", media.path), ("Chat JID", media.chat_jid), ("File name", media.file_name),
                 ("Downloaded now", "yes" if media.downloaded else "no (already stored)"))
    data = {"message_id": message_id, "media_type": media.media_type, "mime_type": media.mime,
            "size": media.size, "path": media.path, "chat_jid": media.chat_jid,
            "file_name": media.file_name or None, "downloaded": media.downloaded}
    return ToolResult(body, data)


@tool("send_file", "Send a local file (image, video, audio as a voice note, or document) to a person or group.",
      text("to", "Recipient: a JID, a phone number with country code, or a chat/contact name.", required=True,
           max_length=200),
      text("file_path", "Absolute path of the file, inside an upload directory (UPLOAD_DIRS).", required=True,
           max_length=500),
      choice("media_type", "How to send it.", MEDIA_TYPES, required=True),
      text("caption", "Caption (images, videos and documents; voice notes carry none).", max_length=1024),
      live=True, rate="outbound",
      response="Media type, recipient name and JID, message ID, send time, and a note when a caption was dropped.",
      errors=(ErrorCode.MEDIA_PATH_TRAVERSAL, ErrorCode.MEDIA_DANGEROUS_EXTENSION, ErrorCode.MEDIA_FILE_NOT_FOUND,
              ErrorCode.MEDIA_TOO_LARGE, ErrorCode.MEDIA_MAGIC_MISMATCH, ErrorCode.MESSAGE_RECIPIENT_NOT_FOUND,
              ErrorCode.MESSAGE_AMBIGUOUS_RECIPIENT, ErrorCode.PERMISSION_CONTACT_NOT_WHITELISTED,
              ErrorCode.MESSAGE_RATE_LIMITED, ErrorCode.MEDIA_UPLOAD_FAILED, ErrorCode.MESSAGE_SEND_FAILED),
      examples=('send_file(to="+15551234567", file_path="/tmp/report.pdf", media_type="document", '
                'caption="Q3 report")',),
      related=("send_message", "download_media"),
      pitfalls=("The file's real content decides its MIME type; a PNG named .jpg is sent as image/png.",
                "Paths are resolved (symlinks included) and must stay inside an upload directory."))
def send_file(call: ToolCall) -> ToolResult:
    device = call.device
    media_type = call["media_type"]
    guarded = check_upload_path(call["file_path"], media_type, app=device.app)
    recipient = resolve(device, call["to"], field="to")
    call.ensure_allowed(recipient.jid)
    call.audit.update({"jid": recipient.jid, "size": guarded.size, "mime": guarded.mime})
    caption = call["caption"] or ""
    dropped = media_type == "audio" and bool(caption)
    outgoing = Outgoing(to=recipient.jid, kind=Kind(media_type), text="" if media_type == "audio" else caption,
                        media=guarded.content, mime_type=guarded.mime, file_name=guarded.file_name,
                        ptt=media_type == "audio")
    call.take("outbound")
    message = outbox.send_message(device, outgoing)
    moment = message.sent_at or message.timestamp
    call.audit["message_id"] = message.wa_id
    body = lines(("Media type", media_type), ("To", recipient.name), ("JID", recipient.jid),
                 ("Message ID", message.wa_id), ("Status", message.status), ("MIME type", guarded.mime),
                 ("Sent at", fmt.when(moment)),
                 ("Note", "the caption was dropped: voice notes cannot carry one" if dropped else None))
    data = {"media_type": media_type, "name": recipient.name, "jid": recipient.jid, "message_id": message.wa_id,
            "status": message.status, "mime_type": guarded.mime, "size": guarded.size,
            "file_name": guarded.file_name, "sent_at": fmt.iso(moment), "caption_dropped": dropped}
    return ToolResult(body, data)
