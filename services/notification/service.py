"""The notification service: in-app inboxes and emails fed by the other services' events."""
from plumbing.auth import MERCHANT_STAFF
from plumbing.entrypoints import rpc
from plumbing.errors import NotFound
from plumbing.events import event_handler
from plumbing.fields import new_id
from plumbing.service import ServiceBase
from plumbing.validation import load, require_id
from services.notification import domain, storage
from services.notification.email import Mailer
from services.redemption.contract.events import RedemptionLockout
from services.settlement.contract.events import PayoutAccountConfirmed, PayoutAccountSet, PayoutVerificationRequested
from services.support.contract.events import TicketCreated
from services.notification.contract.schemas import InboxFilterSchema, InboxMessageSchema


class NotificationService(ServiceBase):
    name = "notification"
    mail = Mailer()

    @event_handler(TicketCreated)
    def tell_about_new_ticket(self, event):
        self._to_inbox(event.merchant_id, domain.ticket_created_messages(event))

    @event_handler(RedemptionLockout)
    def alert_about_lockout(self, event):
        self._to_inbox(event.merchant_id, domain.lockout_messages(event))

    # -- the payout address: the owners hear of every change and confirmation ------------
    @event_handler(PayoutAccountSet)
    def tell_owners_payout_account_set(self, event):
        self._to_inbox(event.merchant_id, domain.payout_account_set_messages(event))

    @event_handler(PayoutAccountConfirmed)
    def tell_owners_payout_account_confirmed(self, event):
        self._to_inbox(event.merchant_id, domain.payout_account_confirmed_messages(event))

    # a handler of its own, so a mail server outage never holds the inbox message back
    @event_handler(PayoutAccountSet, when=lambda event: bool(event.contact_email))
    def email_payout_account_change(self, event):
        subject, body = domain.payout_change_email(event)
        self._email("payout_account_set", event, subject, body)

    @event_handler(PayoutVerificationRequested)
    def email_payout_verification_code(self, event):
        subject, body = domain.verification_code_email(event)
        self._email("payout_verification_code", event, subject, body)

    def _to_inbox(self, merchant_id, messages):
        for message in messages:
            storage.insert_message(self.db, dict(message, id=new_id(), merchant_id=merchant_id, user_id=None))

    def _email(self, kind, event, subject, body):
        try:
            outcome = self.mail.send_once(kind, event.contact_email, subject, body, merchant_id=event.merchant_id)
        except Exception:
            self.metrics.count("vowrewards_emails_total", "Emails by kind and outcome", kind=kind, outcome="failed")
            raise
        self.metrics.count("vowrewards_emails_total", "Emails by kind and outcome", kind=kind, outcome=outcome)

    @rpc
    def list_inbox(self, filters=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        filters = load(InboxFilterSchema, filters or {})
        result = storage.inbox(self.db, identity, filters, InboxMessageSchema().dump)
        result["unread_count"] = storage.unread_count(self.db, identity)
        return result

    @rpc
    def mark_read(self, message_id):
        identity = self.caller.require(*MERCHANT_STAFF)
        message_id = require_id(message_id, "message_id")  # a bad one is a 422, not a database error
        if storage.visible_message(self.db, identity, message_id) is None:
            raise NotFound("No such message in your inbox", code="message_not_found")
        storage.mark_read(self.db, message_id, identity.user_id)
        return {"unread_count": storage.unread_count(self.db, identity)}

    @rpc
    def mark_all_read(self):
        identity = self.caller.require(*MERCHANT_STAFF)
        storage.mark_all_read(self.db, identity)
        return {"unread_count": 0}
