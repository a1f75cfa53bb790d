"""The WhatsApp domain: one module per idea, re-exported here for Django and callers."""

from whatsapp.models.chats import Chat, ChatKind
from whatsapp.models.commands import CommandKind, CommandState, DeviceCommand, DeviceLease
from whatsapp.models.contacts import Contact
from whatsapp.models.devices import ConnectionState, Device, DeviceStatus
from whatsapp.models.events import DeviceEvent, EventType
from whatsapp.models.heartbeats import ProcessHeartbeat
from whatsapp.models.idempotency import IdempotencyKey
from whatsapp.models.messages import DeliveryStatus, Direction, Message, MessageType, Reaction
from whatsapp.models.tenancy import App, Tenant
from whatsapp.models.throttles import ThrottleHit
from whatsapp.models.webhooks import DeliveryState, WebhookAttempt, WebhookDelivery

__all__ = [
    "App", "Chat", "ChatKind", "CommandKind", "CommandState", "ConnectionState", "Contact", "DeliveryState",
    "DeliveryStatus", "Device", "DeviceCommand", "DeviceEvent", "DeviceLease", "DeviceStatus", "Direction",
    "EventType", "IdempotencyKey", "Message", "MessageType", "ProcessHeartbeat", "Reaction", "Tenant",
    "ThrottleHit", "WebhookAttempt", "WebhookDelivery",
]
