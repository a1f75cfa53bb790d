"""The people tools (reference/mcp-tools.md §2.28 to §2.32): get_user_info, is_on_whatsapp,
get_profile_picture, sync_contact_names and set_contact_name.

Every target passes the whitelist before WhatsApp is asked anything (sync_contact_names reports a
refused target as an error row instead, and goes on). Twin mappings WhatsApp discloses in a user-info
answer are recorded by the contacts service. set_contact_name is the one offline tool here: a custom
name is local, never sent to WhatsApp, and shared by the person's twins.
"""

from __future__ import annotations

from typing import Any

from whatsapp import jids
from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp.calls import ToolCall
from whatsapp.mcp.tooling import ToolResult, flag, lines, strings, text, tool
from whatsapp.services import contacts, names
from whatsapp.services.recipients import person_or_jid, resolve

E = ErrorCode

#: What a lookup through the device's runner may end with: WhatsApp's limits and failures, the
#: connection dropping meanwhile, or the runner not answering in time.
UPSTREAM = (E.PROVIDER_RATE_LIMITED, E.PROVIDER_ERROR, E.CONNECTION_LOST, E.CONNECTION_TIMEOUT, E.WHATSAPP_ERROR)
PHONES = "Phone numbers in international format (+15551234567) or JIDs."
MAX_UPDATES_SHOWN = 10


def _indent(block: str) -> str:
    return "\n".join("   " + line for line in block.split("\n"))


# --- get_user_info --------------------------------------------------------------------------------


@tool("get_user_info", "Look people up on WhatsApp: their name (verified business name, else the names the "
      "contact store knows), about text and whether they are a business account.",
      strings("phones", "The people: " + PHONES + " Phone JIDs and LIDs both work.", required=True, min_items=1,
              max_items=20),
      flag("save_names", "Store the names found as the names of the people's chats (only where a chat has no "
           "name or just its JID; custom names are never touched).", default=False),
      live=True,
      response="Labelled lines: Users (count); per JID its Name (and where it comes from), About, Business "
               "account (yes/no), the twin addresses WhatsApp disclosed, or \"No public info available\"; with "
               "save_names, Names stored (JID → name).",
      errors=(E.PERMISSION_CONTACT_NOT_WHITELISTED, *UPSTREAM),
      examples=('get_user_info(phones=["+15551234567"])',
                'get_user_info(phones=["15551234567@s.whatsapp.net", "118207457280017@lid"], save_names=true)'),
      related=("is_on_whatsapp", "get_profile_picture", "sync_contact_names", "set_contact_name"),
      pitfalls=("Privacy settings may hide the about text; an empty answer is a success, not an error.",
                "Names are not given by WhatsApp for private accounts; the name shown then comes from the contact "
                "store (push name), when known."))
def get_user_info(call: ToolCall) -> ToolResult:
    device = call.device
    targets = list(dict.fromkeys(person_or_jid(entry, "phones", people_only=True) for entry in call["phones"]))
    call.audit["jids"] = targets
    call.ensure_allowed(*targets)
    infos = contacts.user_info(device, targets)
    users, blocks, stored = [], [], []
    for number, jid in enumerate(targets, 1):
        info: dict[str, Any] = next((i for i in infos if jid in (i.get("jid"), i.get("phone_jid"), i.get("lid"))),
                                    {})
        contact = contacts.stored_contact(device, jid, info.get("phone_jid") or "", info.get("lid") or "")
        verified = (info.get("verified_name") or "").strip()
        business = contact.business_name.strip() if contact else ""
        push = contact.push_name.strip() if contact else ""
        name, source = next(((n, s) for n, s in ((verified, "verified name"), (business, "business name"),
                                                 (push, "push name")) if n), ("", ""))
        user = {"jid": jid, "found": bool(info), "name": name or None, "name_source": source or None,
                "about": info.get("status") or None, "is_business": bool(verified or business),
                "phone_jid": info.get("phone_jid") or (contact.phone_jid if contact else None) or None,
                "lid": info.get("lid") or (contact.lid if contact else None) or None,
                "picture_id": info.get("picture_id") or None}
        users.append(user)
        if not info and not name:
            blocks.append(f"{number}. JID: {jid}\n   No public info available")
            continue
        blocks.append(f"{number}. JID: {jid}\n" + _indent(lines(
            ("Name", f"{name} ({source})" if name else "none"), ("About", user["about"] or "none"),
            ("Business account", "yes" if user["is_business"] else "no"),
            ("Phone JID", user["phone_jid"] if user["phone_jid"] != jid else ""),
            ("LID", user["lid"] if user["lid"] != jid else ""))))
        if call["save_names"] and name and names.save_chat_name(device, jid, name, verified=bool(verified)):
            stored.append({"jid": jid, "name": name})
    body = "\n".join([lines(("Users", len(targets))), *blocks])
    if call["save_names"]:
        body += "\nNames stored: " + (", ".join(f"{s['jid']} → {s['name']}" for s in stored) or
                                      "none (chats already named, custom names, or no name found)")
    data: dict[str, Any] = {"count": len(targets), "users": users}
    if call["save_names"]:
        data["names_stored"] = stored
    return ToolResult(body, data)


# --- is_on_whatsapp -------------------------------------------------------------------------------


@tool("is_on_whatsapp", "Check whether phone numbers are registered on WhatsApp.",
      strings("phones", "The numbers: " + PHONES + " (phone JIDs; a LID is not a number).", required=True,
              min_items=1, max_items=50),
      live=True, read_only=True, idempotent=True,
      response="Labelled lines: Checked (count), Registered (count); per entry the Number as given, Registered "
               "(yes/no), and the JID and Name when WhatsApp returned them.",
      errors=(E.PERMISSION_CONTACT_NOT_WHITELISTED, *UPSTREAM),
      examples=('is_on_whatsapp(phones=["+15551234567", "+44 7700 900123"])',),
      related=("get_user_info", "send_message"),
      pitfalls=("Numbers must be international (country code, no leading 0; 00 must be written as +).",))
def is_on_whatsapp(call: ToolCall) -> ToolResult:
    results = contacts.is_on_whatsapp(call.device, call["phones"])
    call.audit["jids"] = [r["jid"] for r in results]
    blocks = [f"{n}. Number: {r['query']}\n" + _indent(lines(
        ("Registered", "yes" if r["is_on_whatsapp"] else "no"),
        ("JID", r["jid"] if r["is_on_whatsapp"] else ""), ("Name", r["verified_name"])))
        for n, r in enumerate(results, 1)]
    registered = sum(1 for r in results if r["is_on_whatsapp"])
    body = "\n".join([lines(("Checked", len(results)), ("Registered", registered)), *blocks])
    entries = [{"query": r["query"], "phone": r["phone"], "is_on_whatsapp": r["is_on_whatsapp"],
                "jid": r["jid"] if r["is_on_whatsapp"] else None, "name": r["verified_name"] or None}
               for r in results]
    return ToolResult(body, {"count": len(results), "registered": registered, "results": entries})


# --- get_profile_picture --------------------------------------------------------------------------


@tool("get_profile_picture", "Get the profile picture URL of a person or group.",
      text("target", "Whose picture: a JID, a phone number in international format, or a chat/contact name "
           "(§1.6).", required=True, max_length=200),
      live=True, read_only=True, idempotent=True,
      response="Labelled lines: Name, JID, and Picture URL; or Picture: none (not set, or hidden by privacy "
               "settings), which is a success.",
      errors=(E.MESSAGE_RECIPIENT_NOT_FOUND, E.MESSAGE_AMBIGUOUS_RECIPIENT, E.PERMISSION_CONTACT_NOT_WHITELISTED,
              *UPSTREAM),
      examples=('get_profile_picture(target="+15551234567")', 'get_profile_picture(target="Mom")',
                'get_profile_picture(target="120363041234567890@g.us")'),
      related=("get_user_info", "search_contacts"),
      pitfalls=("Picture URLs expire after a while; fetch them again rather than storing them.",
                "With ALLOWED_CONTACTS set, a group passes only when its JID is listed."))
def get_profile_picture(call: ToolCall) -> ToolResult:
    target = resolve(call.device, call["target"], field="target")
    call.audit["jid"] = target.jid
    call.ensure_allowed(target.jid)
    picture = contacts.profile_picture(call.device, target.jid) or {}
    url = picture.get("url") or ""
    name = target.name if target.name != target.jid else ""
    body = lines(("Name", name), ("JID", target.jid),
                 ("Picture URL", url) if url else ("Picture", "none (not set, or hidden by privacy settings)"))
    return ToolResult(body, {"jid": target.jid, "name": name or None, "has_picture": bool(url), "url": url or None,
                             "picture_id": picture.get("picture_id") or None})


# --- sync_contact_names ---------------------------------------------------------------------------


@tool("sync_contact_names", "Fill in missing chat names from WhatsApp (verified names) and the contact store (full "
      "or push names), for listed people or for every unnamed direct chat.",
      strings("contacts", "People to sync: " + PHONES + " Omit to sync every direct chat without a name; [] syncs "
              "nothing.", max_items=50, max_length=200),
      flag("force", "Also overwrite direct-chat names that are already set (custom names and groups never are).",
           default=False),
      live=True,
      response="Labelled lines: Processed, Names updated, No profile name, Errors, Skipped; then up to 10 updates as "
               "\"JID → name\" (and N more), and each error with its reason.",
      errors=(),
      examples=("sync_contact_names()", 'sync_contact_names(contacts=["+15551234567"], force=true)'),
      related=("set_contact_name", "get_user_info", "list_chats"),
      pitfalls=("Targets are looked up at least 500 ms apart, so syncing many chats takes a while.",
                "Invalid entries and people outside ALLOWED_CONTACTS are reported as errors; the rest still syncs.",
                "A custom name (set_contact_name) is never changed; to replace one, set it again or clear it."))
def sync_contact_names(call: ToolCall) -> ToolResult:
    report = names.sync_names(call.device, call["contacts"], force=call["force"])
    updated, errors = report.updated, report.errors
    shown = [f"- {row.jid} → {row.name}" for row in updated[:MAX_UPDATES_SHOWN]]
    if len(updated) > MAX_UPDATES_SHOWN:
        shown.append(f"and {len(updated) - MAX_UPDATES_SHOWN} more")
    head = lines(("Processed", report.processed), ("Names updated", len(updated)), ("No profile name", report.no_name),
                 ("Errors", len(errors)), ("Skipped", len(report.skipped)))
    parts = [head]
    if call["contacts"] == []:
        parts.append("Nothing to sync: the contacts list is empty.")
    if shown:
        parts += ["Updates:", *shown]
    if errors:
        parts += ["Errors:", *(f"- {row.jid}: {row.reason}" for row in errors)]
    data = {"processed": report.processed, "updated": len(updated), "no_name": report.no_name,
            "errors": [{"jid": row.jid, "reason": row.reason} for row in errors],
            "skipped": [{"jid": row.jid, "reason": row.reason} for row in report.skipped],
            "updates": [{"jid": row.jid, "name": row.name} for row in updated]}
    return ToolResult("\n".join(parts), data)


# --- set_contact_name -----------------------------------------------------------------------------


@tool("set_contact_name", "Set or clear a local custom display name for a person. It is never sent to WhatsApp, "
      "wins over every other name, and also applies to the person's twins (phone JID and LID).",
      text("jid", "The person: a JID or a phone number in international format.", required=True, max_length=200),
      text("name", "The custom name, up to 100 characters (trimmed); empty or whitespace clears it.", required=True,
           max_length=100),
      idempotent=True,
      response="Labelled lines: JID and Custom name set (the trimmed name); or Custom name cleared and Now showing "
               "(the display name shown instead).",
      errors=(E.PERMISSION_CONTACT_NOT_WHITELISTED,),
      examples=('set_contact_name(jid="+15551234567", name="Mom")',
                'set_contact_name(jid="118207457280017@lid", name="")'),
      related=("sync_contact_names", "search_contacts", "list_chats"),
      pitfalls=("Groups are named by WhatsApp: use set_group_name to rename one.",
                "Works offline: only the local store changes."))
def set_contact_name(call: ToolCall) -> ToolResult:
    jid = person_or_jid(call["jid"], "jid")
    if jids.is_group(jid):
        raise WhatsAppError(E.VALIDATION_ERROR, f"{jid} is a group: custom names are for people. Use set_group_name "
                            "to rename a group.", details={"field": "jid"})
    call.audit["jid"] = jid
    call.ensure_allowed(jid)
    jid, name, showing = names.set_custom_name(call.device, jid, call["name"])
    if name:
        body = lines(("JID", jid), ("Custom name set", name))
    else:
        body = lines(("JID", jid), ("Custom name", "cleared"), ("Now showing", showing))
    return ToolResult(body, {"jid": jid, "name": name, "cleared": name is None, "display_name": showing})
