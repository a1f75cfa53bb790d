"""The operators' approval pages: the list (overdue ones expired first, so nothing shows pending past
its deadline), a read-only inspection page, and the approve / deny actions, which decide through
``approvals.services.respond`` like the REST API. Approvals are requested over WhatsApp (MCP or
REST), never typed in here; a decision is a record, so nothing is edited or deleted by hand."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.text import Truncator

from approvals import services
from approvals.models import Approval, ApprovalStatus, DecisionSource
from whatsapp.errors import WhatsAppError

ACTION_EXCERPT_CHARS = 60


def _count(count: int) -> str:
    return f"{count} approval{'' if count == 1 else 's'}"


def _duration(seconds: int) -> str:
    """``1h 02m``, ``4m 05s``, ``9s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


@admin.register(Approval)
class ApprovalAdmin(admin.ModelAdmin):
    list_display = ("id", "device", "recipient_jid", "action_excerpt", "status", "time_left", "decided_by",
                    "decided_by_user", "created_at", "expires_at")
    list_filter = ("status", "decided_by", "device")
    list_select_related = ("device",)
    search_fields = ("id", "recipient_jid")
    search_help_text = "Search by request id or recipient JID."
    actions = ("approve_selected", "deny_selected")
    fields = ("id", "device", "recipient_jid", "action", "details", "timeout_seconds", "status", "time_left",
              "request_wa_id", "response_text", "decided_by", "decided_by_user", "created_at", "expires_at",
              "responded_at")
    readonly_fields = fields

    # --- nothing typed in, changed or deleted by hand ---------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # approvals are requested over WhatsApp (request_approval / POST …/approvals)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a decision is a record; retention removes old approvals

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("approvals.change_approval")

    # --- overdue ones are expired before they are shown ---------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        services.expire_due()
        return super().changelist_view(request, extra_context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Approval | None:
        approval = super().get_object(request, object_id, from_field)
        if (approval is not None and approval.status == ApprovalStatus.PENDING
                and approval.expires_at <= timezone.now() and approval.expire()):
            approval.refresh_from_db()
        return approval

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description="action", ordering="action")
    def action_excerpt(self, approval: Approval) -> str:
        return Truncator(approval.action).chars(ACTION_EXCERPT_CHARS)

    @admin.display(description="time left", ordering="expires_at")
    def time_left(self, approval: Approval) -> str | None:
        if approval.status != ApprovalStatus.PENDING:
            return None
        return _duration(approval.seconds_left)

    # --- decisions ----------------------------------------------------------------------------------

    @admin.action(description="Approve selected approvals", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Approval]) -> None:
        self._decide(request, queryset, approved=True)

    @admin.action(description="Deny selected approvals", permissions=["decide"])
    def deny_selected(self, request: HttpRequest, queryset: QuerySet[Approval]) -> None:
        self._decide(request, queryset, approved=False)

    def _decide(self, request: HttpRequest, queryset: QuerySet[Approval], *, approved: bool) -> None:
        verb = "approved" if approved else "denied"
        done = 0
        refused: dict[str, list[str]] = {}
        for approval in queryset.order_by("created_at", "pk"):
            try:
                services.respond(approval, approved, DecisionSource.OPERATOR, user=request.user.get_username())
            except WhatsAppError as error:
                reason = f"{error.code.code}: {error.code.message}. {error.recovery}"
                if "status" in error.details:  # decided already: say how, not where to look it up
                    reason = f"{error.code.code}: {error.code.message} (it is {error.details['status']})."
                refused.setdefault(reason, []).append(approval.pk)
            else:
                done += 1
        if done:
            self.message_user(request, f"{_count(done)} {verb}.", messages.SUCCESS)
        for reason, ids in refused.items():
            self.message_user(request, f"{_count(len(ids))} not {verb} ({', '.join(ids)}) — {reason}", messages.ERROR)
