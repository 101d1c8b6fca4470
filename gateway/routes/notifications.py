"""The signed-in user's in-app inbox."""
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from services.notification.contract.schemas import InboxFilterSchema, InboxMessageSchema

TAG = "Notifications"


class NotificationRoutes(Routes):
    @route("GET", "/api/v1/notifications", summary="Your inbox, newest first, with the unread count",
           tags=[TAG], query=InboxFilterSchema, response=page_of(InboxMessageSchema))
    def list_notifications(self, request):
        self.identity
        return self.notification.list_inbox(self.checked_query(request, InboxFilterSchema))

    @route("POST", "/api/v1/notifications/<uuid:message_id>/read", summary="Mark one message read",
           tags=[TAG])
    def mark_notification_read(self, request, message_id):
        self.identity
        return self.notification.mark_read(str(message_id))

    @route("POST", "/api/v1/notifications/read-all", summary="Mark every message read", tags=[TAG])
    def mark_all_notifications_read(self, request):
        self.identity
        return self.notification.mark_all_read()
