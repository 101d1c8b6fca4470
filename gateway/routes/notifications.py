"""The signed-in user's in-app inbox."""
from marshmallow import fields

from gateway.http import forward
from gateway.routes.base import Routes
from gateway.schemas import page_of
from services.notification.contract.schemas import InboxFilterSchema, InboxMessageSchema

TAG = "Notifications"


class NotificationRoutes(Routes):
    list_notifications = forward(
        "GET", "/api/v1/notifications", "notification.list_inbox",
        summary="Your inbox, newest first, with the unread count", tags=[TAG], query=InboxFilterSchema,
        response=page_of(InboxMessageSchema, unread_count=fields.Integer()))

    mark_notification_read = forward(
        "POST", "/api/v1/notifications/<uuid:message_id>/read", "notification.mark_read",
        summary="Mark one message read", tags=[TAG])

    mark_all_notifications_read = forward(
        "POST", "/api/v1/notifications/read-all", "notification.mark_all_read",
        summary="Mark every message read", tags=[TAG])
