"""Admin registrations (plain; the live device pages come with the admin console issue)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator

from whatsapp.errors import WhatsAppError
from whatsapp.models import (
    App,
    Chat,
    Contact,
    Device,
    DeviceEvent,
    Message,
    ProcessHeartbeat,
    Reaction,
    Tenant,
    WebhookAttempt,
    WebhookDelivery,
)
from whatsapp.models.webhooks import OPEN_STATES, DeliveryState
from whatsapp.webhooks import services as webhook_services
from whatsapp.webhooks.envelope import envelope


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class _AppChangeList(ChangeList):
    """Counts the page's webhook deliveries per app and state in one grouped query (not one per row)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        per_app = webhook_services.counters(self.result_list)  # evaluates (and caches) the page's rows
        for app in self.result_list:
            app.delivery_counters = per_app[app.pk]


def _delivery_count(state: DeliveryState) -> Callable[[admin.ModelAdmin, App], str]:
    """A column with the app's deliveries in ``state``, linked to those deliveries."""

    @admin.display(description=f"{state.label.lower()} deliveries")
    def column(self: admin.ModelAdmin, app: App) -> str:
        counters = getattr(app, "delivery_counters", None) or webhook_services.counters(app)[app.pk]
        count = getattr(counters, state.value)
        if not count:
            return "0"
        query = urlencode({"app__id__exact": app.pk, "state__exact": state.value})
        return format_html('<a href="{}?{}">{}</a>', reverse("admin:whatsapp_webhookdelivery_changelist"), query,
                           count)

    return column


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "is_active", "token_hint", "webhook_url", "pending_deliveries",
                    "failed_deliveries", "dead_deliveries", "created_at")
    list_filter = ("tenant", "is_active")
    list_select_related = ("tenant",)
    search_fields = ("name",)
    readonly_fields = ("token_hint", "token_issued_at", "created_at", "updated_at")

    pending_deliveries = _delivery_count(DeliveryState.PENDING)
    failed_deliveries = _delivery_count(DeliveryState.FAILED)
    dead_deliveries = _delivery_count(DeliveryState.DEAD)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _AppChangeList


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("name", "app", "status", "connection_state", "phone_jid", "last_error_code", "last_message_at")
    list_filter = ("status", "connection_state", "app__tenant", "app")
    search_fields = ("name", "phone_jid", "lid")
    readonly_fields = ("status", "connection_state", "last_error_code", "phone_jid", "lid", "push_name",
                       "linked_at", "qr_code", "qr_expires_at", "event_sequence", "created_at", "updated_at",
                       "destroyed_at")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("display_name", "phone_jid", "lid", "device")
    list_filter = ("device",)
    search_fields = ("phone_jid", "lid", "push_name", "full_name", "custom_name")


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):
    list_display = ("__str__", "jid", "kind", "device", "unread_count", "last_message_at")
    list_filter = ("kind", "device")
    search_fields = ("jid", "name")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("wa_id", "device", "chat", "direction", "type", "status", "error_code", "timestamp")
    list_filter = ("direction", "type", "status", "device")
    search_fields = ("wa_id", "sender_jid")
    raw_id_fields = ("chat",)


@admin.register(Reaction)
class ReactionAdmin(admin.ModelAdmin):
    list_display = ("message", "sender_jid", "emoji", "timestamp")
    raw_id_fields = ("message",)


@admin.register(DeviceEvent)
class DeviceEventAdmin(admin.ModelAdmin):
    list_display = ("device", "sequence", "type", "created_at")
    list_filter = ("type", "device")


RESPONSE_EXCERPT_CHARS = 200


class _AppFilter(admin.RelatedFieldListFilter):
    """The app filter's choices, with their tenants in the same query (an app's name includes it)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, str]]:
        ordering = self.field_admin_ordering(field, request, model_admin) or ("tenant__name", "name")
        return [(app.pk, str(app)) for app in App.objects.select_related("tenant").order_by(*ordering)]


class WebhookAttemptInline(admin.TabularInline):
    """The attempt log, read-only: what was sent where, and what the receiver answered."""

    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "url", "status_code", "error_code", "error_excerpt",
              "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="error")
    def error_excerpt(self, attempt: WebhookAttempt) -> str:
        return Truncator(attempt.error).chars(RESPONSE_EXCERPT_CHARS)

    @admin.display(description="response body")
    def response_excerpt(self, attempt: WebhookAttempt) -> str:
        return Truncator(attempt.response_body).chars(RESPONSE_EXCERPT_CHARS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: an inspection view (nothing is edited by hand) plus the redeliver action,
    which goes through ``whatsapp.webhooks.services.redeliver`` like the REST API."""

    list_display = ("event_type", "app", "device", "sequence", "state", "attempts", "last_status_code",
                    "last_error_code", "next_attempt", "created_at")
    list_filter = ("state", "event_type", ("app", _AppFilter))
    list_select_related = ("app__tenant", "device")
    search_fields = ("request_id",)
    search_help_text = "Search by request id (X-WA-Request-ID)."
    actions = ("redeliver",)
    inlines = (WebhookAttemptInline,)
    fields = ("id", "app", "device", "event", "event_type", "sequence", "request_id", "url", "state", "attempts",
              "next_attempt_at", "retry_until", "last_attempt_at", "last_status_code", "last_error_code",
              "last_error", "replays", "created_at", "delivered_at", "envelope_json", "replay")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the log is a record; retention (purge_finished) removes old rows

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("whatsapp.change_webhookdelivery")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        fields = list(super().get_fields(request, obj))
        if obj is None or not self.has_redeliver_permission(request):
            fields.remove("replay")
        return fields

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt(self, delivery: WebhookDelivery) -> Any:
        return delivery.next_attempt_at if delivery.state in OPEN_STATES else None

    @admin.display(description="envelope (the body every attempt sends)")
    def envelope_json(self, delivery: WebhookDelivery) -> str:
        body = json.dumps(envelope(delivery, delivery.event), indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
        return format_html("<pre>{}</pre>", body)

    @admin.display(description="redeliver")
    def replay(self, delivery: WebhookDelivery) -> str:
        # A submit button of the (read-only) change form that posts this delivery to the changelist's
        # redeliver action: the same code path as selecting it there, no view of its own.
        return format_html(
            '<input type="hidden" name="{}" value="{}"><input type="hidden" name="_back_to_change" value="1">'
            '<button type="submit" class="button" formaction="{}" name="action" value="redeliver">'
            "Redeliver now</button>",
            helpers.ACTION_CHECKBOX_NAME, delivery.pk, reverse("admin:whatsapp_webhookdelivery_changelist"))

    @admin.action(description="Redeliver selected deliveries", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> HttpResponse | None:
        done = 0
        refused: dict[tuple[str, str], int] = {}
        selected = list(queryset.select_related("app__tenant"))
        for delivery in selected:
            try:
                webhook_services.redeliver(delivery)
            except WhatsAppError as error:
                key = (str(delivery.app), f"{str(error).rstrip('.')}. {error.recovery}")
                refused[key] = refused.get(key, 0) + 1
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} deliver{'y' if done == 1 else 'ies'} queued for redelivery.",
                              messages.SUCCESS)
        for (app, reason), count in refused.items():
            self.message_user(request, f"{count} deliver{'y' if count == 1 else 'ies'} of app {app} not "
                                       f"redelivered — {reason}", messages.ERROR)
        if request.POST.get("_back_to_change") and len(selected) == 1:  # the change page's button
            return HttpResponseRedirect(reverse("admin:whatsapp_webhookdelivery_change", args=[selected[0].pk]))
        return None


@admin.register(ProcessHeartbeat)
class ProcessHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("role", "host", "pid", "seen_at")
