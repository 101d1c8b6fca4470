"""Revoked sessions, known to every process within moments.

The gateway owns sessions. When it ends one (logout) or every session of a user
(refresh-token reuse, a user disabled, a role or a password changed) it emits
``session_revoked`` through its outbox on ``gateway.events``. Every process (each
service, each gateway replica) consumes that on a queue of its own,
``broadcast.<component>.<random>``, exclusive and auto-deleted, so it lives and
dies with the process, and keeps the revocations in memory for as long as a
token they refuse could still be valid. ``TokenVerifier`` asks
``Revocations.refuses`` for every token, cached or not.

A revocation names sessions (``session_ids``, the ``ses`` claim) and, when it
ends all of a user's sessions, ``not_before``: that user's tokens issued (``iat``)
before it are refused too, which covers tokens that carry no session. ``until``
is when every token it can refuse has expired; it is forgotten after that.

Catching up: a process that starts, or comes back to the broker, after a
revocation asks the gateway for those of the last token lifetime (RPC
``gateway.recent_revocations``, sent on this same connection with the broadcast
queue as its ``reply_to``, so no other queue is needed), retrying with back-off
until answered. Until its first answer a process refuses to judge tokens: a
verification waits up to ``REVOCATION_SYNC_WAIT`` seconds, then is a 503. We ask
the gateway rather than make the broadcast durable because the gateway's
sessions table is the truth, whatever the broker lost while a process was away,
and a durable queue per process (or a shared stream) would outlive the
processes or need its own retention and grants.

Broadcasts are accepted only from the gateway's broker user (RabbitMQ validates
the ``user_id`` property) once ``BROKER_USERS`` names it; a forged revocation
from anyone else is logged and ignored.
"""
import logging
import time
import uuid

from eventlet.event import Event as Signal
from kombu import Producer, Queue, binding
from marshmallow import fields, validate

from plumbing.contracts import Event, InvalidEvent
from plumbing.events import BroadcastFeed, event_exchange, expected_publisher, publisher_of
from plumbing.framework import MessagePublisher, rpc_exchange, rpc_request, rpc_result

log = logging.getLogger(__name__)

CATCH_UP_METHOD = "recent_revocations"
LEEWAY_SECONDS = 5  # the verifier's clock leeway on ``exp``
REPLY_TIMEOUT = 2.0
FIRST_RETRY = 0.25
MAX_RETRY = 5.0
PRUNE_EVERY = 30.0
MAX_LIFETIME = 86400  # no token lives a day: a revocation claiming longer is cut to this
DEFAULT_SYNC_WAIT = 10.0


class SessionRevoked(Event):
    """The gateway's event (the contract lives here, with every process that consumes it)."""
    event_source, event_type = "gateway", "session_revoked"
    user_id = fields.String(validate=validate.Length(min=1, max=100))
    session_ids = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list,
                              validate=validate.Length(max=100000))
    not_before = fields.Integer(strict=True, load_default=None, allow_none=True,
                                metadata={"description": "The user's tokens issued before this are refused too"})
    until = fields.Integer(strict=True, metadata={"description": "When every token it refuses has expired"})
    reason = fields.String(load_default=None, allow_none=True)


SOURCE, EVENT_TYPE = SessionRevoked.event_source, SessionRevoked.event_type


def revocation(user_id, session_ids, ttl_seconds, reason, all_sessions=False, now=None):
    """A ``session_revoked`` (``recent_revocations`` lists them too, as they travel)."""
    now = int(now if now is not None else time.time())
    return SessionRevoked.of(
        user_id=str(user_id), session_ids=[str(s) for s in session_ids],
        # tokens are stamped in whole seconds; one issued in this second after the
        # revocation must live, so only earlier seconds are refused
        not_before=now if all_sessions else None,
        until=now + int(ttl_seconds) + LEEWAY_SECONDS + 1, reason=reason)


class Revocations:
    """What this process knows was revoked, until the tokens it refuses have expired."""

    def __init__(self):
        self._sessions = {}  # session id -> until (epoch seconds)
        self._users = {}  # user id -> (not_before, until)
        self._synced = Signal()
        self._last_prune = time.monotonic()

    # -- learning ----------------------------------------------------------------------
    def apply(self, revocation, now=None):
        """Remember one revocation (a ``SessionRevoked``, or its JSON as it travels); False (and
        nothing remembered) if its contract refuses it."""
        if not isinstance(revocation, SessionRevoked.payload_type()):
            try:
                revocation = SessionRevoked.from_wire(revocation)
            except InvalidEvent as error:
                log.warning("ignored a malformed session revocation: %s", error)
                return False
        self.remember(revocation, now)
        return True

    def remember(self, revoked, now=None):
        """Remember one ``SessionRevoked`` until every token it refuses has expired."""
        now = now if now is not None else time.time()
        until = min(revoked.until, int(now) + MAX_LIFETIME)
        if until < now:
            return  # every token it could refuse has expired already
        for session_id in revoked.session_ids:
            self._sessions[session_id] = max(until, self._sessions.get(session_id, 0))
        if revoked.not_before is not None:
            not_before, known_until = self._users.get(revoked.user_id, (0, 0))
            self._users[revoked.user_id] = (max(not_before, revoked.not_before), max(until, known_until))
        self.prune(now)

    def mark_synced(self):
        if not self._synced.ready():
            self._synced.send(True)

    @property
    def synced(self):
        return self._synced.ready()

    def wait_synced(self, timeout):
        return self._synced.ready() or bool(self._synced.wait(timeout))

    def prune(self, now=None, force=False):
        if not force and time.monotonic() - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        now = now if now is not None else time.time()
        self._sessions = {key: until for key, until in self._sessions.items() if until >= now}
        self._users = {key: value for key, value in self._users.items() if value[1] >= now}

    # -- judging -----------------------------------------------------------------------
    def refuses(self, identity, now=None):
        """Whether ``identity``'s token belongs to a revoked session (or a user's revoked past)."""
        if not self._sessions and not self._users:
            return False
        now = now if now is not None else time.time()
        if identity.session_id is not None:
            until = self._sessions.get(identity.session_id)
            if until is not None and until >= now:
                return True
        user = self._users.get(identity.user_id)
        if user is not None and user[1] >= now:
            issued_at = (identity.claims or {}).get("iat")
            if not isinstance(issued_at, (int, float)) or issued_at < user[0]:
                return True
        return False

    def __len__(self):
        return len(self._sessions) + len(self._users)


class RevocationFeed(BroadcastFeed):
    """Consumes ``session_revoked`` broadcasts (and catch-up answers) for this process."""

    feed_name = "revocation feed"

    def __init__(self):
        super().__init__()
        self.revocations = Revocations()
        self._producer = None
        self._pending = None  # (correlation id, deadline) of the catch-up request in flight
        self._next_try = None
        self._delay = FIRST_RETRY

    def setup(self):
        config = self.container.config
        self.catch_up = config.get("REVOCATIONS_CATCH_UP", True)
        self.expected_user = expected_publisher(SOURCE, config)
        self.queue_name = "broadcast.%s.%s" % (self.container.service_name, uuid.uuid4().hex)
        # nameko's RPC replies are routed by reply_to; a uuid, as nameko's own reply keys are,
        # is what this component's broker user may bind on the RPC exchange
        self.reply_key = str(uuid.uuid4())
        self.rpc_exchange = rpc_exchange(config)  # the bootstrap declared it where we may not
        self.queue = Queue(self.queue_name, durable=False, exclusive=True, auto_delete=True, bindings=[
            binding(event_exchange(SOURCE, config), routing_key=EVENT_TYPE),
            binding(self.rpc_exchange, routing_key=self.reply_key)])
        self.connect(config)
        if not self.catch_up:
            self.revocations.mark_synced()

    # -- kombu's ConsumerMixin ------------------------------------------------------------
    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        # bound before asking: whatever is revoked after the gateway's answer reaches us
        self._producer = Producer(channel, on_return=self._on_return)
        self._pending, self._delay = None, FIRST_RETRY
        if self.catch_up:
            self._ask()

    def on_iteration(self):
        if self.catch_up and self._producer is not None:
            now = time.monotonic()
            if self._pending is not None and now > self._pending[1]:
                log.warning("the gateway did not answer recent_revocations within %.1fs; asking again",
                            REPLY_TIMEOUT)
                self._pending, self._next_try = None, now + self._delay
                self._delay = min(self._delay * 2, MAX_RETRY)
            if self._pending is None and self._next_try is not None and now >= self._next_try:
                self._ask()
        self.revocations.prune()

    def on_connection_error(self, exc, interval):
        log.warning("revocation feed: broker unreachable (%s); retrying in %ss", exc, interval)

    # -- messages ------------------------------------------------------------------------
    def _ask(self):
        correlation_id = uuid.uuid4().hex
        self._next_try = None
        try:
            self._producer.publish(
                rpc_request(), exchange=self.rpc_exchange,
                routing_key="%s.%s" % (SOURCE, CATCH_UP_METHOD), reply_to=self.reply_key,
                correlation_id=correlation_id, serializer="json", delivery_mode=MessagePublisher.delivery_mode,
                mandatory=True)  # returned at once while no gateway listens: ask again soon
        except Exception:
            log.warning("could not ask the gateway for recent revocations", exc_info=True)
        self._pending = (correlation_id, time.monotonic() + REPLY_TIMEOUT)

    def _on_return(self, exception, exchange, routing_key, message):
        if self._pending is not None and message.properties.get("correlation_id") == self._pending[0]:
            self._pending, self._next_try = None, time.monotonic() + self._delay
            self._delay = min(self._delay * 2, MAX_RETRY)

    def on_message(self, body, message):
        try:
            if message.delivery_info.get("exchange") == self.rpc_exchange.name:
                self._on_reply(body, message)
            else:
                self._on_broadcast(body, message)
        except Exception:
            log.exception("could not handle a revocation message")

    def _on_reply(self, body, message):
        correlation_id = message.properties.get("correlation_id")
        if self._pending is None or correlation_id != self._pending[0]:
            return  # an answer we stopped waiting for
        self._pending = None
        result, error = rpc_result(body)
        if error or not isinstance(result, dict):
            log.warning("the gateway could not list recent revocations: %r", error)
            self._next_try, self._delay = time.monotonic() + self._delay, min(self._delay * 2, MAX_RETRY)
            return
        items = result.get("revocations") or []
        for item in items:
            self.revocations.apply(item)
        self._delay = FIRST_RETRY
        if not self.revocations.synced:
            log.info("caught up on %d recent session revocation(s)", len(items))
        self.revocations.mark_synced()

    def _on_broadcast(self, body, message):
        if message.delivery_info.get("routing_key") != EVENT_TYPE:
            return
        if self.expected_user is not None and publisher_of(message) != self.expected_user:
            log.warning("ignored a %s published by broker user %r, not the gateway's (%r)",
                        EVENT_TYPE, publisher_of(message), self.expected_user)
            return
        self.revocations.apply(body)
