"""The notification service: the routing table (``routing.py``) turned into inbox messages (live over
the gateway's SSE stream), emails and signed webhooks, each recorded once per event, recipient and
channel; preferences; the delivery log; webhook endpoints; the merchants' support mail."""
import logging
import random
from datetime import datetime, timedelta, timezone

from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import timer

from plumbing.auth import BUYER_APP, CLIENT_ROLES, MERCHANT_STAFF, OWNERS, PLATFORM_ROLES
from plumbing.config import ConfigError
from plumbing.contracts import event_of, events_in
from plumbing.entrypoints import rpc
from plumbing.errors import Forbidden, NotFound, ValidationFailed
from plumbing.events import OnDemandSubscriptions, event_handler
from plumbing.fields import new_id
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from plumbing.topology import EVENT_CONTRACTS
from plumbing.validation import load, require_id
from services.notification import channels, domain, routing, storage, webhooks
from services.notification.contract.schemas import (DeliveryFilterSchema, DeliverySchema, EndpointCreateSchema,
                                                    EndpointSchema, InboxFilterSchema, InboxMessageSchema,
                                                    MailSettingsSchema, PreferencesSchema)
from services.notification.email import Mailer, SmtpSettings, send as smtp_send
from services.notification.live import LiveFeed
from services.settlement.contract.events import PayoutAccountSet, PayoutVerificationRequested

log = logging.getLogger(__name__)

INBOX_READERS = MERCHANT_STAFF + PLATFORM_ROLES + CLIENT_ROLES
DEFAULTS = {"WEBHOOK_MAX_ATTEMPTS": 8, "WEBHOOK_RETRY_BASE": 2.0, "WEBHOOK_RETRY_MAX": 3600.0,
            "WEBHOOK_DISABLE_AFTER": 20, "EMAIL_MAX_ATTEMPTS": 6, "EMAIL_RETRY_BASE": 5.0,
            "CUSTOMER_ONLINE_SECONDS": 120, "WEBHOOK_SECRET_OVERLAP_SECONDS": 86400}
TRUE = ("1", "true", "yes", "on")


def setting(config, name):
    return type(DEFAULTS[name])(config.get(name) or DEFAULTS[name])


def backoff(attempts, base, ceiling, rand=random.random):
    """Exponential backoff with full jitter in [0.5, 1.5) of the step: retries never march in step."""
    return min(ceiling, base * 2 ** max(0, attempts - 1)) * (0.5 + rand())


class People:
    """The routing rules' view of people: the gateway's directory and campaign's customers."""

    def __init__(self, gateway, campaign):
        self.gateway, self.campaign = gateway, campaign

    def users(self, merchant_id, roles, store_id=None, user_ids=None):
        query = {"merchant_id": str(merchant_id) if merchant_id else None, "roles": list(roles) if roles else None,
                 "store_id": str(store_id) if store_id else None,
                 "user_ids": [str(u) for u in user_ids] if user_ids else None}
        return self.gateway.directory(query)["items"]

    def customer(self, merchant_id, customer_id):
        try:
            return self.campaign.get_customer_contact(str(customer_id), str(merchant_id))
        except NotFound:
            return None


class WebhookSecrets(DependencyProvider):
    """The keys the endpoints' secrets are sealed with (``webhooks.SecretKeys``). Without them the
    service does not start: it would otherwise store signing secrets in plain text."""

    def setup(self):
        try:
            self.keys = webhooks.SecretKeys(self.container.config.get(webhooks.SecretKeys.SETTING))
        except ValueError as error:
            raise ConfigError(str(error)) from None

    def get_dependency(self, worker_ctx):
        return self.keys


def recipient_of(identity):
    """The inbox a caller reads: a buyer app reads its customer's, everyone else their own."""
    if identity.role == BUYER_APP:
        if not identity.customer_id:
            raise Forbidden("A buyer app reads the inbox of the customer it names (X-Customer-Id)",
                            code="customer_required")
        return ("customer", identity.customer_id, identity.merchant_id, None)
    return ("user", identity.user_id, identity.merchant_id, identity.role)


def live_key(recipient):
    return "%s:%s" % (recipient[0], recipient[1])


class NotificationService(ServiceBase):
    name = "notification"
    mail = Mailer()
    config = Config()
    gateway = RpcProxy("gateway")
    campaign = RpcProxy("campaign")
    live = LiveFeed()
    sealer = WebhookSecrets()
    # events only webhooks carry reach this service only while an active endpoint subscribes
    webhook_subscriptions = OnDemandSubscriptions(storage.webhook_event_types_in_use)

    # -- the routing table ---------------------------------------------------------------------
    def route_event(self, event):
        """Every route of this event: inbox messages now, emails and webhooks queued for the dispatcher."""
        event_class = event_of(event)
        event_type = event_class.key()  # noqa: the contract tests check the table's reads (routing.fields_read)
        event_id, occurred_at = self.live.event_id, self.live.occurred_at
        merchant_id = getattr(event, "merchant_id", None)
        people = People(self.gateway, self.campaign)
        title, body, refs = domain.render(event_type, event)
        for route in routing.routes_for(event_type):
            found = routing.recipients(people, route, event)
            off = set()
            for kind in ("user", "customer"):
                off |= {("%s:%s" % (kind, rid), channel) for rid, channel in storage.disabled_channels(
                    self.db, kind, [r.id for r in found if r.kind == kind], route.kind)}
            for recipient in found:
                for channel in route.channels:
                    self._deliver(event_id, event_type, occurred_at, merchant_id, route, recipient, channel, off,
                                  title, body, refs)
        if event_type in routing.webhook_event_types() and merchant_id:
            payload = event_class.to_wire(event)
            for endpoint in storage.subscribed_endpoints(self.db, merchant_id, event_type):
                storage.insert_delivery(self.db, {
                    "id": new_id(), "event_id": event_id, "event_type": event_type, "merchant_id": merchant_id,
                    "recipient_kind": "endpoint", "recipient_id": str(endpoint["id"]), "channel": "webhook",
                    "address": endpoint["url"], "kind": event_type, "payload": payload, "status": "pending",
                    "next_attempt_at": datetime.now(timezone.utc), "event_at": occurred_at})

    def _deliver(self, event_id, event_type, occurred_at, merchant_id, route, recipient, channel, off,
                 title, body, refs):
        email_channel = channel in (routing.EMAIL, routing.EMAIL_IF_OFFLINE)
        key = "%s:%s" % (recipient.kind, recipient.id)
        if (key, "email" if email_channel else channel) in off:
            return
        if recipient.kind == "email" and not email_channel:
            return  # someone who mailed in has no inbox
        if email_channel:
            if not recipient.email:
                return  # no address, or (customers) no consent
            if channel == routing.EMAIL_IF_OFFLINE and recipient.kind == "customer" and storage.online(
                    self.db, recipient.id, setting(self.config, "CUSTOMER_ONLINE_SECONDS")):
                return  # the buyer app is open: the inbox reaches them
        delivery = {"id": new_id(), "event_id": event_id, "event_type": event_type, "merchant_id": merchant_id,
                    "recipient_kind": recipient.kind, "recipient_id": recipient.id,
                    "channel": "email" if email_channel else "inbox", "address": recipient.email if email_channel
                    else None, "kind": route.kind, "event_at": occurred_at,
                    "payload": {"title": title, "body": body, "refs": refs, "name": recipient.name},
                    "status": "pending" if email_channel else "delivered",
                    "next_attempt_at": datetime.now(timezone.utc) if email_channel else None}
        if storage.insert_delivery(self.db, delivery) is None or email_channel:
            return  # already done for this event and recipient (or queued for the dispatcher)
        message = storage.insert_inbox_message(self.db, {
            "id": new_id(), "merchant_id": merchant_id, "event_id": event_id, "kind": route.kind,
            "title": title, "body": body, "refs": refs,
            "user_id": recipient.id if recipient.kind == "user" else None,
            "customer_id": recipient.id if recipient.kind == "customer" else None})
        self.metrics.count("vowrewards_notifications_delivered_total", "Deliveries by channel and outcome",
                           channel="inbox", outcome="delivered")
        self._observe_lag("inbox", occurred_at)
        dumped = InboxMessageSchema().dump(message)
        self.db.after_commit(lambda: self.live.publish(key, dumped))

    def _observe_lag(self, channel, occurred_at):
        if occurred_at is not None:
            self.metrics.observe("vowrewards_notification_lag_seconds",
                                 max(0.0, (datetime.now(timezone.utc) - occurred_at).total_seconds()),
                                 "From the event to its delivery, by channel", channel=channel)

    # -- payout emails to the merchant's registered contact (their own once-only record) ------------
    @event_handler(PayoutAccountSet, when=lambda event: bool(event.contact_email))
    def email_payout_account_change(self, event):
        subject, body = domain.payout_change_email(event)
        self._email("payout_account_set", event, subject, body)

    @event_handler(PayoutVerificationRequested)
    def email_payout_verification_code(self, event):
        subject, body = domain.verification_code_email(event)
        self._email("payout_verification_code", event, subject, body)

    def _email(self, kind, event, subject, body):
        try:
            outcome = self.mail.send_once(kind, event.contact_email, subject, body, merchant_id=event.merchant_id)
        except Exception:
            self.metrics.count("vowrewards_emails_total", "Emails by kind and outcome", kind=kind, outcome="failed")
            raise
        self.metrics.count("vowrewards_emails_total", "Emails by kind and outcome", kind=kind, outcome=outcome)

    # -- the inbox ---------------------------------------------------------------------------------
    @rpc
    def list_inbox(self, filters=None):
        identity = self.caller.require(*INBOX_READERS)
        recipient = recipient_of(identity)
        filters = load(InboxFilterSchema, filters or {})
        result = storage.recipient_inbox(self.db, recipient, filters, InboxMessageSchema().dump)
        result["unread_count"] = storage.recipient_unread(self.db, recipient)
        if recipient[0] == "customer":
            storage.touch_presence(self.db, [recipient[1]])
        return result

    @rpc
    def mark_read(self, message_id):
        identity = self.caller.require(*INBOX_READERS)
        recipient = recipient_of(identity)
        message_id = require_id(message_id, "message_id")  # a bad one is a 422, not a database error
        if storage.recipient_message(self.db, recipient, message_id) is None:
            raise NotFound("No such message in your inbox", code="message_not_found")
        storage.recipient_mark_read(self.db, recipient, message_id)
        return {"unread_count": storage.recipient_unread(self.db, recipient)}

    @rpc
    def mark_all_read(self):
        identity = self.caller.require(*INBOX_READERS)
        storage.recipient_mark_all_read(self.db, recipient_of(identity))
        return {"unread_count": 0}

    @rpc
    def open_stream(self, last_event_id=None):
        """For the gateway's SSE stream: the caller's live key, its unread count and what it missed
        since ``last_event_id``; a buyer app's customer counts as online from now."""
        identity = self.caller.require(*INBOX_READERS)
        recipient = recipient_of(identity)
        missed = []
        if last_event_id:
            missed = [InboxMessageSchema().dump(row) for row in storage.messages_after(
                self.db, recipient, require_id(last_event_id, "Last-Event-ID"))]
        if recipient[0] == "customer":
            storage.touch_presence(self.db, [recipient[1]])
        return {"key": live_key(recipient), "missed": missed, "unread_count": storage.recipient_unread(
            self.db, recipient)}

    @rpc
    def customers_online(self, customer_ids):
        """The gateway says which customers have a buyer app stream open (every 30 s): they are online."""
        # only the gateway reaches this (no route does): its timer, with the buyer app's token of the streams
        self.caller.require(BUYER_APP)
        storage.touch_presence(self.db, [require_id(c, "customer_id") for c in (customer_ids or [])][:10000])
        return {"touched": len(customer_ids or [])}

    # -- preferences -------------------------------------------------------------------------------
    @rpc
    def get_preferences(self):
        identity = self.caller.require(*INBOX_READERS)
        recipient = recipient_of(identity)
        rows = storage.preferences(self.db, recipient[0], recipient[1])
        return {"kinds": sorted({route.kind for route in routing.ROUTES}),
                "channels": ["inbox", "email"],
                "items": [{"kind": r["kind"], "channel": r["channel"], "enabled": r["enabled"]} for r in rows]}

    @rpc
    def set_preferences(self, data):
        identity = self.caller.require(*INBOX_READERS)
        recipient = recipient_of(identity)
        data = load(PreferencesSchema, data)
        kinds = {route.kind for route in routing.ROUTES}
        for index, item in enumerate(data["items"]):
            if item["kind"] not in kinds:
                raise ValidationFailed("Unknown notification kind %s" % item["kind"], code="unknown_kind",
                                       fields={"items.%d.kind" % index: ["One of: %s." % ", ".join(sorted(kinds))]})
        for item in data["items"]:
            storage.set_preference(self.db, identity.merchant_id, recipient[0], recipient[1], item["kind"],
                                   item["channel"], item["enabled"])
        return self.get_preferences()

    # -- webhooks ----------------------------------------------------------------------------------
    def _allow_http_loopback(self):
        return str(self.config.get("WEBHOOKS_ALLOW_HTTP_LOOPBACK") or "").lower() in TRUE

    def _endpoint(self, identity, endpoint_id, merchant_id=None, lock=False):
        row = storage.endpoint(self.db, require_id(endpoint_id, "endpoint_id"), lock=lock)
        if row is None or str(row["merchant_id"]) != identity.merchant_scope(merchant_id):
            raise NotFound("No webhook endpoint %s" % endpoint_id, code="webhook_not_found")
        return row

    @rpc
    def create_endpoint(self, data, merchant_id=None):
        identity = self.caller.require(*OWNERS)
        merchant_id = identity.merchant_scope(merchant_id)
        data = load(EndpointCreateSchema, data)
        known = routing.webhook_event_types()
        unknown = [t for t in data["events"] if t not in known]
        if unknown:
            raise ValidationFailed("Unknown event types: %s" % ", ".join(unknown), code="unknown_event_type",
                                   fields={"events": ["Not an event type webhooks carry: %s." % ", ".join(unknown)]})
        try:
            webhooks.resolve(data["url"], self._allow_http_loopback())
        except webhooks.UnsafeUrl as error:
            raise ValidationFailed(str(error), code="webhook_url_refused", fields={"url": [str(error)]})
        endpoint = {"id": new_id(), "merchant_id": merchant_id, "url": data["url"],
                    "events": sorted(set(data["events"])), "created_by": identity.actor()}
        storage.insert_endpoint(self.db, endpoint)
        secret = webhooks.new_secret()
        storage.insert_endpoint_secret(self.db, new_id(), endpoint["id"], self.sealer.seal(secret))
        self.webhook_subscriptions.changed()
        return dict(EndpointSchema().dump(storage.endpoint(self.db, endpoint["id"])), secret=secret)

    @rpc
    def list_endpoints(self, filters=None):
        identity = self.caller.require(*OWNERS)
        merchant_id, filters = self.scoped(identity, DeliveryFilterSchema, filters)
        return storage.endpoints(self.db, merchant_id, filters, EndpointSchema().dump)

    @rpc
    def rotate_endpoint_secret(self, endpoint_id, merchant_id=None):
        identity = self.caller.require(*OWNERS)
        endpoint = self._endpoint(identity, endpoint_id, merchant_id, lock=True)
        until = datetime.now(timezone.utc) + timedelta(seconds=setting(self.config, "WEBHOOK_SECRET_OVERLAP_SECONDS"))
        storage.expire_endpoint_secrets(self.db, endpoint["id"], until)
        secret = webhooks.new_secret()
        storage.insert_endpoint_secret(self.db, new_id(), endpoint["id"], self.sealer.seal(secret))
        return dict(EndpointSchema().dump(endpoint), secret=secret, previous_secret_valid_until=until.isoformat())

    @rpc
    def update_endpoint(self, endpoint_id, data, merchant_id=None):
        """Enable a disabled endpoint again (``{"active": true}``) or pause it."""
        identity = self.caller.require(*OWNERS)
        endpoint = self._endpoint(identity, endpoint_id, merchant_id, lock=True)
        active = bool((data or {}).get("active"))
        storage.set_endpoint(self.db, endpoint["id"], status="active" if active else "disabled",
                             consecutive_failures=0, disabled_reason=None if active else "paused by its owner")
        self.webhook_subscriptions.changed()
        return EndpointSchema().dump(storage.endpoint(self.db, endpoint["id"]))

    @rpc
    def delete_endpoint(self, endpoint_id, merchant_id=None):
        identity = self.caller.require(*OWNERS)
        endpoint = self._endpoint(identity, endpoint_id, merchant_id, lock=True)
        storage.set_endpoint(self.db, endpoint["id"], status="deleted")
        storage.expire_endpoint_secrets(self.db, endpoint["id"], datetime.now(timezone.utc))
        self.webhook_subscriptions.changed()
        return None

    @rpc
    def list_deliveries(self, filters=None):
        """The delivery log (every channel), for the merchant's owners."""
        identity = self.caller.require(*OWNERS)
        merchant_id, filters = self.scoped(identity, DeliveryFilterSchema, filters)
        return storage.delivery_log(self.db, merchant_id, filters, DeliverySchema().dump)

    @rpc
    def replay_delivery(self, delivery_id, merchant_id=None):
        """Send a delivery (an email or a webhook) again, signed anew."""
        identity = self.caller.require(*OWNERS)
        row = storage.delivery(self.db, require_id(delivery_id, "delivery_id"), lock=True)
        if row is None or str(row["merchant_id"]) != identity.merchant_scope(merchant_id) or row["channel"] == "inbox":
            raise NotFound("No email or webhook delivery %s" % delivery_id, code="delivery_not_found")
        if row["status"] in ("pending", "sending"):
            raise ValidationFailed("It is being sent already", code="delivery_in_flight")
        self.db.execute("UPDATE deliveries SET status = 'pending', attempts = 0, last_error = NULL, "
                        "next_attempt_at = now(), updated_at = now() WHERE id = %s", (row["id"],))
        return DeliverySchema().dump(storage.delivery(self.db, row["id"]))

    # -- merchants' mail ---------------------------------------------------------------------------
    def _mail_settings(self, merchant_id):
        row = storage.ensure_merchant_mail(self.db, merchant_id, channels.default_support_local(merchant_id))
        local = row["support_local"]
        domain_ = self.config.get("INBOUND_MAIL_DOMAIN") or channels.DEFAULT_INBOUND_DOMAIN
        return {"merchant_id": str(merchant_id), "display_name": row.get("display_name"),
                "reply_to": row.get("reply_to"), "support_address": "%s@%s" % (local, domain_),
                "support_local": local, "domain": domain_}

    @rpc
    def get_mail_settings(self, merchant_id=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        return MailSettingsSchema().dump(self._mail_settings(identity.merchant_scope(merchant_id)))

    @rpc
    def set_mail_settings(self, data, merchant_id=None):
        identity = self.caller.require(*OWNERS)
        merchant_id = identity.merchant_scope(merchant_id)
        data = load(MailSettingsSchema, data)
        current = self._mail_settings(merchant_id)
        local = data.get("support_local") or current["support_local"]
        owner = storage.merchant_by_support_local(self.db, local)
        if owner is not None and str(owner["merchant_id"]) != merchant_id:
            raise ValidationFailed("That support address is taken", code="support_address_taken",
                                   fields={"support_local": ["Taken."]})
        storage.set_merchant_mail(self.db, merchant_id, data.get("display_name"), data.get("reply_to"), local)
        return MailSettingsSchema().dump(self._mail_settings(merchant_id))

    # -- the dispatcher: emails and webhooks, retried with backoff ----------------------------------
    @timer(interval=0.5)
    def dispatch_due(self):
        pool = self.live.pool
        pool.run(storage.recover_stuck)
        for _ in range(10):
            rows = pool.run(lambda tx: storage.claim_due(tx, 20))
            if not rows:
                break
            for row in rows:
                self._send(pool, row)
        backlog = pool.run(storage.retry_backlog)
        self.live.set_backlog(backlog)

    def _send(self, pool, row):
        channel = row["channel"]
        config = self.config
        try:
            if channel == "email":
                self._send_email(pool, row)
            else:
                self._send_webhook(pool, row)
        except Exception as exc:
            error = ("%s: %s" % (type(exc).__name__, exc))[:1000]
            limit = setting(config, "EMAIL_MAX_ATTEMPTS" if channel == "email" else "WEBHOOK_MAX_ATTEMPTS")
            base = setting(config, "EMAIL_RETRY_BASE" if channel == "email" else "WEBHOOK_RETRY_BASE")
            if row["attempts"] >= limit:
                pool.run(lambda tx: storage.finish(tx, row["id"], "failed", error))
                outcome = "failed"
            else:
                delay = backoff(row["attempts"], base, setting(config, "WEBHOOK_RETRY_MAX"))
                pool.run(lambda tx: storage.finish(tx, row["id"], "pending", error,
                                                   datetime.now(timezone.utc) + timedelta(seconds=delay)))
                outcome = "retrying"
            if channel == "webhook":
                self._count_endpoint_failure(pool, row, error)
            self.metrics.count("vowrewards_notifications_delivered_total", "Deliveries by channel and outcome",
                               channel=channel, outcome=outcome)
            return
        pool.run(lambda tx: storage.finish(tx, row["id"], "delivered"))
        if channel == "webhook":
            pool.run(lambda tx: storage.endpoint_attempt(tx, row["recipient_id"], True))
        self.metrics.count("vowrewards_notifications_delivered_total", "Deliveries by channel and outcome",
                           channel=channel, outcome="delivered")
        self._observe_lag(channel, row["event_at"])

    def _send_email(self, pool, row):
        payload = row["payload"]
        settings = SmtpSettings.from_config(self.config)
        mail = pool.run(lambda tx: storage.ensure_merchant_mail(
            tx, row["merchant_id"], channels.default_support_local(row["merchant_id"]))) if row["merchant_id"] else None
        reply_to = (mail or {}).get("reply_to")
        ticket = (payload.get("refs") or {}).get("reference") if row["event_type"].startswith("support.") else None
        conversation = (payload.get("refs") or {}).get("conversation_id")
        secret = self.config.get("NOTIFICATION_REPLY_SECRET")
        if row["recipient_kind"] in ("customer", "email") and (ticket or conversation) and secret and row["merchant_id"]:
            settings_ = self._mail_settings_plain(mail, row["merchant_id"])
            reply_to = channels.reply_address(secret, settings_[0], settings_[1], ticket_reference=ticket,
                                              conversation_id=conversation)
        message = channels.compose(settings.sender, row["address"], payload["title"], payload["body"], row["id"],
                                   merchant_name=(mail or {}).get("display_name"), reply_to=reply_to,
                                   recipient_name=payload.get("name"))
        smtp_send(settings, message)

    def _mail_settings_plain(self, mail, merchant_id):
        return mail["support_local"], self.config.get("INBOUND_MAIL_DOMAIN") or channels.DEFAULT_INBOUND_DOMAIN

    def _send_webhook(self, pool, row):
        endpoint = pool.run(lambda tx: storage.endpoint(tx, row["recipient_id"]))
        if endpoint is None or endpoint["status"] != "active":
            raise RuntimeError("the endpoint is %s" % ("deleted" if endpoint is None else endpoint["status"]))
        secrets_ = [self.sealer.open(sealed)
                    for sealed in pool.run(lambda tx: storage.live_secrets(tx, endpoint["id"]))]
        body = webhooks.envelope(row["event_id"], row["event_type"], row["payload"], row["event_at"].isoformat())
        headers = {"Content-Type": "application/json", "User-Agent": "VowRewards-Webhooks/1",
                   "VowRewards-Event-Id": row["event_id"], "VowRewards-Event-Type": row["event_type"],
                   "VowRewards-Delivery-Id": str(row["id"]),
                   webhooks.SIGNATURE_HEADER: webhooks.signature(secrets_, body)}
        status, text = webhooks.post(endpoint["url"], body, headers, self._allow_http_loopback())
        if not 200 <= status < 300:
            raise RuntimeError("HTTP %d: %s" % (status, text[:200]))

    def _count_endpoint_failure(self, pool, row, error):
        endpoint = pool.run(lambda tx: storage.endpoint_attempt(tx, row["recipient_id"], False))
        if endpoint is None or endpoint["status"] != "active":
            return
        if endpoint["consecutive_failures"] >= setting(self.config, "WEBHOOK_DISABLE_AFTER"):
            reason = "disabled after %d failed attempts in a row; last: %s" % (endpoint["consecutive_failures"], error)
            pool.run(lambda tx: storage.set_endpoint(tx, endpoint["id"], status="disabled",
                                                     disabled_reason=reason[:1000]))
            self._tell_owners_endpoint_disabled(pool, endpoint, reason)

    def _tell_owners_endpoint_disabled(self, pool, endpoint, reason):
        """The owners hear of it in their inbox (live too)."""
        owners = People(self.gateway, self.campaign).users(endpoint["merchant_id"], ["owner"])
        for owner in owners:
            def write(tx, owner=owner):
                delivery_id = storage.insert_delivery(tx, {
                    "id": new_id(), "event_id": "webhook-disabled:%s:%s" % (endpoint["id"], endpoint["updated_at"]),
                    "event_type": "notification.webhook_disabled", "merchant_id": endpoint["merchant_id"],
                    "recipient_kind": "user", "recipient_id": owner["user_id"], "channel": "inbox",
                    "address": None, "kind": "webhook_disabled", "payload": {}, "status": "delivered",
                    "next_attempt_at": None, "event_at": None})
                if delivery_id is None:
                    return None
                return storage.insert_inbox_message(tx, {
                    "id": new_id(), "merchant_id": endpoint["merchant_id"], "event_id": None, "kind": "webhook_disabled",
                    "title": "Webhook endpoint disabled", "body": "%s was %s" % (endpoint["url"], reason),
                    "refs": {"endpoint_id": str(endpoint["id"]), "url": endpoint["url"]},
                    "user_id": owner["user_id"], "customer_id": None})
            message = pool.run(write)
            if message is not None:
                self.live.publish("user:%s" % owner["user_id"], InboxMessageSchema().dump(message))


def _make_handler(event_class):
    def handler(self, event):
        self.route_event(event)
    handler.__name__ = routing.handler_name(event_class.key())
    handler.__doc__ = "Route %s through the routing table (and to webhooks)." % event_class.key()
    # what the table reads of it, for the contract tests (they cannot follow a table by reading source)
    handler.fields_read = lambda payload: routing.fields_read(event_class.key(), payload, domain.render)
    return event_handler(event_class, on_demand=event_class.key() in routing.WEBHOOK_ONLY)(handler)


def _event_classes():
    classes = {}
    for source, module in EVENT_CONTRACTS.items():
        if source in ("gateway", "notification"):
            continue
        for event_class in events_in(__import__(module, fromlist=["_"])):
            classes[event_class.key()] = event_class
    return classes


_CLASSES = _event_classes()
for _event_type in routing.routed_event_types():
    if _event_type in _CLASSES:  # a route for an event its publisher has not shipped yet waits for it
        setattr(NotificationService, routing.handler_name(_event_type), _make_handler(_CLASSES[_event_type]))
