"""The inbox (listed, read, live over server-sent events), preferences, webhooks, the delivery log and
the merchant's support mail: the notification service's, through the gateway."""
import json
import logging
import time

import jwt
from eventlet.queue import Empty
from marshmallow import Schema, fields
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from werkzeug.wrappers import Response

from gateway.http import Route, bearer_token, forward, route
from gateway.live import LiveStreams
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import ACTING_CUSTOMER_KEY, ALGORITHM, ISSUER, OWNERS, Caller, Identity
from plumbing.db import find_dependency
from plumbing.errors import Unauthenticated
from plumbing.fields import MerchantQuery
from services.notification.contract.schemas import (DeliveryFilterSchema, DeliverySchema, EndpointCreateSchema,
                                                    EndpointSchema, EndpointSecretSchema, EndpointUpdateSchema,
                                                    InboxFilterSchema, InboxMessageSchema, MailSettingsSchema,
                                                    PreferencesAnswerSchema, PreferencesSchema)

log = logging.getLogger(__name__)

TAG = "Notifications"
TAG_WEBHOOKS = "Webhooks"
HEARTBEAT_SECONDS = 15.0
STREAM_MAX_SECONDS = 3600.0  # then the client reconnects (with Last-Event-ID): tokens expire
STREAM_TICKET_SECONDS = 60
STREAM_AUDIENCE = "vowrewards-stream"  # no other route's verifier accepts it


def read_stream_ticket(verifier, ticket):
    """A stream ticket's claims; Unauthenticated if it is not one (expired, forged, an access token),
    or its session was signed out since."""
    try:
        claims = jwt.decode(ticket, verifier.key, algorithms=[ALGORITHM], audience=STREAM_AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "sub", "role"]})
    except jwt.PyJWTError:
        raise Unauthenticated("The stream ticket is not valid (they last 60 s)", code="stream_ticket_invalid")
    identity = Identity(user_id=claims["sub"], username=claims.get("name"), role=claims["role"],
                        merchant_id=claims.get("mid"), session_id=claims.get("ses"), claims=claims)
    if verifier.revocations is not None and verifier.revocations.refuses(identity):
        raise Unauthenticated("This session was signed out: sign in again", code="token_revoked")
    return claims


class StreamRoute(Route):
    """The stream: a bearer token as every route, or a stream ticket in ``?ticket=`` (an EventSource
    cannot send headers), checked before a worker starts, like any token."""

    def authenticate(self, request):
        ticket = request.args.get("ticket")
        if ticket and not bearer_token(request):
            return read_stream_ticket(self.caller.verifier, ticket)
        return super().authenticate(request)


class StreamTicketSchema(Schema):
    ticket = fields.String()
    expires_in = fields.Integer()


class UnreadSchema(Schema):
    unread_count = fields.Integer()


class TokenVerifierAccess(DependencyProvider):
    """The process's token verifier, for a stream that outlives its worker."""

    def get_dependency(self, worker_ctx):
        return find_dependency(self.container, Caller).verifier


class NotificationRoutes(Routes):
    live_hub = LiveStreams()
    token_verifier = TokenVerifierAccess()
    live_config = Config()

    list_notifications = forward(
        "GET", "/api/v1/notifications", "notification.list_inbox",
        summary="Your inbox, newest first, with the unread count (a buyer app: its customer's, named in "
                "X-Customer-Id)", tags=[TAG], query=InboxFilterSchema,
        response=page_of(InboxMessageSchema, unread_count=fields.Integer()))

    mark_notification_read = forward(
        "POST", "/api/v1/notifications/<uuid:message_id>/read", "notification.mark_read",
        summary="Mark one message read", tags=[TAG], response=UnreadSchema)

    mark_all_notifications_read = forward(
        "POST", "/api/v1/notifications/read-all", "notification.mark_all_read",
        summary="Mark every message read", tags=[TAG], response=UnreadSchema)

    get_notification_preferences = forward(
        "GET", "/api/v1/notifications/preferences", "notification.get_preferences",
        summary="Your preferences: each kind of notification on or off per channel (inbox, email)", tags=[TAG],
        response=PreferencesAnswerSchema)

    set_notification_preferences = forward(
        "PUT", "/api/v1/notifications/preferences", "notification.set_preferences",
        summary="Switch kinds of notification on or off per channel", tags=[TAG], body=PreferencesSchema,
        response=PreferencesAnswerSchema)

    @route("POST", "/api/v1/notifications/stream-tickets",
           summary="A stream ticket: for a browser's EventSource, which cannot send the Authorization header. "
                   "It opens your stream once within 60 s (`GET /notifications/stream?ticket=`) and is good for "
                   "nothing else", tags=[TAG], response=StreamTicketSchema, status=201)
    def create_stream_ticket(self, request):
        identity = self.identity
        now = int(time.time())
        claims = {key: identity.claims[key] for key in ("sub", "name", "role", "mid", "sid", "ses")
                  if identity.claims.get(key) is not None}
        claims.update({"iss": ISSUER, "aud": STREAM_AUDIENCE, "iat": now, "exp": now + STREAM_TICKET_SECONDS,
                       "cus": identity.customer_id})
        ticket = jwt.encode(claims, self.sessions.signer.key, algorithm=ALGORITHM)
        return 201, {"ticket": ticket, "expires_in": STREAM_TICKET_SECONDS}

    def _redeem_stream_ticket(self, ticket):
        """A stream ticket's identity, as a token of its own for this stream's calls (never shown)."""
        claims = read_stream_ticket(self.token_verifier, ticket)
        token, _ = self.sessions.signer.sign(claims["sub"], claims.get("name"), claims["role"],
                                             merchant_id=claims.get("mid"), store_id=claims.get("sid"),
                                             session_id=claims.get("ses"))
        self.worker_data["auth_token"] = token
        if claims.get("cus"):
            self.worker_data[ACTING_CUSTOMER_KEY] = claims["cus"]  # vouched for when the ticket was made

    @route("GET", "/api/v1/notifications/stream",
           summary="Your inbox live, as server-sent events (`text/event-stream`): each new message is an event "
                   "`notification` whose id is the message's (send it back as `Last-Event-ID` to catch up); "
                   "`: heartbeat` comments every 15 s; it ends when the token expires (reconnect). The token "
                   "goes in the Authorization header, or a stream ticket (`POST /notifications/stream-tickets`) "
                   "in `?ticket=`", tags=[TAG], content_type="text/event-stream", entrypoint=StreamRoute)
    def notification_stream(self, request):
        if request.args.get("ticket") and not self.worker_data.get("auth_token"):
            self._redeem_stream_ticket(request.args["ticket"])  # StreamRoute checked it already
        self.identity  # verified (and not revoked) now; the stream re-checks it at each heartbeat
        last = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or None
        opened = self.notification.open_stream(last)
        hub = self.live_hub
        queue = hub.subscribe(opened["key"], self.worker_data["auth_token"])
        heartbeat = float(self.live_config.get("SSE_HEARTBEAT_SECONDS") or HEARTBEAT_SECONDS)
        verifier, token = self.token_verifier, self.worker_data["auth_token"]

        request.environ["eventlet.minimum_write_chunk_size"] = 0  # each event as it comes, not in 4 KB lots

        def events():
            try:
                yield b"retry: 2000\n: unread %d\n\n" % opened["unread_count"]
                for message in opened["missed"]:
                    yield frame(message)
                ends = time.monotonic() + STREAM_MAX_SECONDS
                while time.monotonic() < ends:
                    try:
                        message = queue.get(timeout=heartbeat)
                    except Empty:
                        try:
                            verifier.verify(token)  # a signed-out session's stream ends
                        except Exception:
                            return
                        yield b": heartbeat\n\n"
                        continue
                    if message is None:
                        return
                    yield frame(message)
            finally:
                hub.unsubscribe(opened["key"], queue)

        return Response(events(), status=200, mimetype="text/event-stream", direct_passthrough=True,
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @timer(interval=30)
    def tell_who_is_online(self):
        """Customers with a stream open here are online (not emailed what the app shows them): each
        buyer app says so for its own, with the token its streams were opened with."""
        for token, customer_ids in self.live_hub.customers().items():
            self.worker_data["auth_token"] = token
            try:
                self.notification.customers_online(customer_ids)
            except Exception as error:  # an expired token's streams are ending anyway
                log.info("could not mark %d customers online: %s", len(customer_ids), error)

    # -- webhooks ----------------------------------------------------------------------------------
    register_webhook = forward(
        "POST", "/api/v1/webhooks", "notification.create_endpoint", merchant_id=True, roles=OWNERS,
        summary="Register an HTTPS endpoint for event types (`support.ticket_created`, ...): the signing "
                "secret is in this answer only. Each delivery is a POST of `{id, type, occurred_at, data}` "
                "with `VowRewards-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">` and "
                "`VowRewards-Event-Id`; failures are retried with exponential backoff, and an endpoint that "
                "keeps failing is disabled and its owners told", tags=[TAG_WEBHOOKS], query=MerchantQuery,
        body=EndpointCreateSchema, response=EndpointSecretSchema, status=201)

    list_webhooks = forward(
        "GET", "/api/v1/webhooks", "notification.list_endpoints", roles=OWNERS,
        summary="The merchant's webhook endpoints", tags=[TAG_WEBHOOKS], query=DeliveryFilterSchema,
        response=page_of(EndpointSchema))

    rotate_webhook_secret = forward(
        "POST", "/api/v1/webhooks/<uuid:endpoint_id>/secret", "notification.rotate_endpoint_secret",
        merchant_id=True, roles=OWNERS, query=MerchantQuery, status=201, response=EndpointSecretSchema,
        summary="A new signing secret; deliveries carry a v1 for the old one too until the overlap ends",
        tags=[TAG_WEBHOOKS])

    update_webhook = forward(
        "PATCH", "/api/v1/webhooks/<uuid:endpoint_id>", "notification.update_endpoint", merchant_id=True,
        roles=OWNERS, query=MerchantQuery, body=EndpointUpdateSchema, response=EndpointSchema,
        summary="Enable a disabled endpoint again, or pause it", tags=[TAG_WEBHOOKS])

    delete_webhook = forward(
        "DELETE", "/api/v1/webhooks/<uuid:endpoint_id>", "notification.delete_endpoint", merchant_id=True,
        roles=OWNERS, query=MerchantQuery, status=204, summary="Delete an endpoint", tags=[TAG_WEBHOOKS])

    webhook_deliveries = forward(
        "GET", "/api/v1/webhooks/deliveries", "notification.list_deliveries", roles=OWNERS,
        summary="The delivery log of every channel (inbox, email, webhook): status, attempts, last error; "
                "filter by channel, status, event_type, endpoint_id", tags=[TAG_WEBHOOKS],
        query=DeliveryFilterSchema, response=page_of(DeliverySchema))

    replay_delivery = forward(
        "POST", "/api/v1/webhooks/deliveries/<uuid:delivery_id>/replay", "notification.replay_delivery",
        merchant_id=True, roles=OWNERS, query=MerchantQuery, response=DeliverySchema,
        summary="Send an email or webhook delivery again (signed anew)", tags=[TAG_WEBHOOKS])

    # -- the merchant's mail -----------------------------------------------------------------------
    get_mail_settings = forward(
        "GET", "/api/v1/notifications/mail-settings", "notification.get_mail_settings", merchant_id=True,
        query=MerchantQuery, response=MailSettingsSchema, tags=[TAG],
        summary="The merchant's email branding (name, reply-to) and support address")

    set_mail_settings = forward(
        "PUT", "/api/v1/notifications/mail-settings", "notification.set_mail_settings", merchant_id=True,
        roles=OWNERS, query=MerchantQuery, body=MailSettingsSchema, response=MailSettingsSchema, tags=[TAG],
        summary="Set the name emails come from, their reply-to, and the support address's name")


def frame(message):
    return ("id: %s\nevent: notification\ndata: %s\n\n" % (message["id"], json.dumps(message, default=str))).encode()
