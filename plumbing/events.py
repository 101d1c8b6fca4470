"""Idempotent, never-lost event consumption.

``@event_handler(VoucherRedeemed)`` is nameko's event handler for one event type
of a service's contract (``plumbing.contracts``): its source and type come from
the class, and the handler receives the loaded payload, an immutable object
(``event.redemption_id``). It adds these guarantees:

* **Once.** The handler first records ``(event_id, handler)`` in the service's
  ``handled_events`` table, in the same transaction as its effect. A
  redelivered event finds its row and does nothing; two copies handled at the
  same moment serialise on the primary key and the second does nothing.
* **Not in a hot loop.** A handler that fails is retried later through delay
  queues (``<service>.retry.<ms>``: a TTL queue that dead-letters back through
  ``<service>.redeliver`` to the handler's own queue), once per configured
  delay (``EVENT_RETRY_DELAYS``).
* **Never dropped.** After the last retry the message is parked in the
  service's ``parked_events`` table, where an operator lists and replays it
  (``list_parked_events`` / ``replay_parked_event`` RPC, gateway admin API).
* **Only from its owner.** Every event carries ``user_id``, the broker user that
  published it, which RabbitMQ checks against the publishing connection. Where
  each component has its own broker user (``BROKER_USERS``), an event whose
  publisher is not the user of the service that owns the event type is refused
  before the handler runs and parked with the reason (``forged_publisher: ...``).
  Retries and replays are re-published by the consumer itself, so they carry the
  original publisher in a header, believed only when the message's own
  ``user_id`` is the consuming service.
* **Only as its contract says.** A payload the event's contract refuses
  (``InvalidEvent``) is parked at once with the reason, without running the
  handler: it would not load any better on a retry.

The service's ``Database`` dependency must be called ``db``.
"""
import functools
import json
import logging
import uuid
import weakref
from datetime import datetime, timezone

import eventlet
from kombu import Connection, Exchange, Queue, binding
from kombu.mixins import ConsumerMixin
from nameko.extensions import DependencyProvider, SharedExtension

from plumbing.config import durable_queue_arguments
from plumbing.contracts import InvalidEvent
from plumbing.db import Database, find_dependency
from plumbing.framework import (HEADER_PREFIX, EventPublisher, QueueEventHandler, QuickReconnect, events_exchange,
                                finish_dependencies)
from plumbing.logs import CORRELATION_KEY
from plumbing.metrics import MetricsRegistry

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-vow-attempts"
PUBLISHER_HEADER = "x-vow-publisher"  # the original publisher of a retried or replayed event
FORGED_PUBLISHER = "forged_publisher"
INVALID_EVENT = "invalid_event"
DUPLICATE = "duplicate-event"
NOT_MINE = "not-mine"
# a token or a client's idempotency key belongs to a request, never to what it caused
NOT_ACCEPTED_FROM_EVENTS = ("auth_token", "idempotency_key")


def event_exchange(service_name, config, declare=None):
    """``<service>.events``. Where each component has its own broker user no process declares it
    (configure would also let it delete it, and with it every subscriber's binding): the
    operator's bootstrap does (``plumbing.broker``)."""
    return events_exchange(service_name, config, declare)


def redeliver_exchange(service_name):
    """The service's own: retries and replays come back to a handler's queue through it."""
    return Exchange(service_name + ".redeliver", type="direct", durable=True)


def retry_exchange(service_name, delay_ms):
    return Exchange("%s.retry.%d" % (service_name, delay_ms), type="fanout", durable=True)


class BroadcastFeed(SharedExtension, QuickReconnect, ConsumerMixin):
    """A process's own exclusive queue of broadcasts (revocations, live inbox messages), consumed by
    a managed thread that reconnects after any failure instead of ending the container. A feed
    sets ``self.queue`` in ``setup`` (after ``self.connect(config)``) and handles ``on_message``."""

    feed_name = "feed"

    def __init__(self):
        super().__init__()
        self.should_stop = False
        self._gt = None

    def connect(self, config):
        self.connection = Connection(config["AMQP_URI"], heartbeat=config.get("HEARTBEAT", 60),
                                     ssl=config.get("AMQP_SSL"), login_method=config.get("LOGIN_METHOD"))

    def start(self):
        self.should_stop = False
        self._gt = self.container.spawn_managed_thread(self._consume_forever, identifier=self.feed_name)

    def stop(self):
        self.should_stop = True
        if self._gt is not None:
            self._gt.kill()
            self._gt = None

    kill = stop

    def _consume_forever(self):
        while not self.should_stop:
            try:
                self.run(safety_interval=0.5)
            except Exception:  # never let the feed take the whole container down
                log.exception("the %s failed; reconnecting", self.feed_name)
                eventlet.sleep(1)

    def get_consumers(self, Consumer, channel):
        return [Consumer(queues=[self.queue], callbacks=[self.on_message], accept=["json"], no_ack=True)]


def retry_queue(service_name, delay_ms, config):
    """A TTL queue: messages wait ``delay_ms`` then dead-letter back by routing key."""
    return Queue(
        "%s.retry.%d" % (service_name, delay_ms),
        exchange=retry_exchange(service_name, delay_ms), durable=True,
        queue_arguments=dict(durable_queue_arguments(config), **{
            "x-message-ttl": int(delay_ms),
            "x-dead-letter-exchange": service_name + ".redeliver",
        }))


def retry_delays_ms(config):
    return [int(float(delay) * 1000) for delay in config.get("EVENT_RETRY_DELAYS", (1, 10, 60, 600))]


def handler_queue_name(source_service, event_type, service, method):
    return "evt-%s-%s--%s.%s" % (source_service, event_type, service, method)


def binding_key(event_type, narrow=False):
    """What a handler's queue is bound with: ``<type>.#`` hears the bare type and every qualified
    one (``plumbing.contracts``: ``voucher_redeemed.plain``); a narrow handler's, the bare type."""
    return event_type if narrow else event_type + ".#"


def handler_queue(source_service, event_type, service, method, config, declare_exchanges=None, on_demand=False,
                  narrow=False):
    """A handler's durable queue, bound to its publisher's events exchange and to its own
    service's ``redeliver`` exchange (retries and replays come back through that).

    ``on_demand``: not bound to the publisher's exchange here; ``OnDemandSubscriptions`` binds it
    while something wants the events (the broker then copies nothing nobody needs).
    ``narrow``: bound to the bare event type alone (``binding_key``)."""
    name = handler_queue_name(source_service, event_type, service, method)
    source = [] if on_demand else [
        binding(event_exchange(source_service, config, declare_exchanges), routing_key=binding_key(event_type, narrow))]
    return Queue(name, durable=True, queue_arguments=durable_queue_arguments(config),
                 bindings=source + [binding(redeliver_exchange(service), routing_key=name)])


class ReliableEventHandler(QueueEventHandler):
    registry = MetricsRegistry()
    refused_context = NOT_ACCEPTED_FROM_EVENTS

    def __init__(self, event_class, on_demand=False, batch=False, narrow=False, **kwargs):
        self.event_class = event_class
        self.on_demand = on_demand
        self.batch = batch
        self.narrow = narrow
        super().__init__(event_class.event_source, event_class.event_type, reliable_delivery=True,
                         requeue_on_error=False, **kwargs)

    @property
    def queue_name(self):
        return handler_queue_name(self.source_service, self.event_type, self.container.service_name,
                                  self.method_name)

    @property
    def handler_name(self):
        return self.method_name

    # read by Database.get_dependency to key this worker's claim in handled_events
    dedupe_handler_name = handler_name

    def declarations(self):
        """Its own queue (with its two bindings) and its service's retry queues."""
        service = self.container.service_name
        config = self.container.config
        queue = handler_queue(self.source_service, self.event_type, service, self.method_name, config,
                              on_demand=self.on_demand, narrow=self.narrow)
        return queue, [retry_queue(service, delay, config) for delay in retry_delays_ms(config)]

    def setup(self):
        config = self.container.config
        self.queue, self.retry_queues = self.declarations()
        self.delays_ms = retry_delays_ms(config)
        self.publisher = EventPublisher(config["AMQP_URI"], declare=self.retry_queues)
        self.database = find_dependency(self.container, Database)
        # with a broker user per component, fail closed: a source nobody named is refused too
        self.checks_publisher = bool(config.get("BROKER_USERS"))
        self.expected_publisher = expected_publisher(self.source_service, config)
        self.own_user = self.publisher.user_id
        self._waiting = []  # batch: (message, event) delivered while a batch was being handled
        self._batching = False
        self.consume(self.queue)

    # -- who published it ------------------------------------------------------------
    def publisher_of(self, message):
        """The broker user that published this event. A retry or replay was re-published by
        this service itself, with the original publisher in a header: that header is believed
        only when the broker vouches that this service sent the message."""
        user_id = publisher_of(message)
        carried = (message.headers or {}).get(PUBLISHER_HEADER)
        if carried is not None and user_id is not None and user_id == self.own_user:
            return carried
        return user_id

    def refusal(self, publisher):
        """Why this event must not be handled (its publisher does not own it), or None."""
        if not self.checks_publisher or (publisher is not None and publisher == self.expected_publisher):
            return None
        return "%s: user_id %s is not %s's" % (FORGED_PUBLISHER, publisher or "(none)",
                                               self.source_service)

    def refuse(self, message, reason, outcome="refused"):
        """Park an event from the wrong publisher (or one its contract refuses) without running
        the handler."""
        try:
            self.park(message, reason, int((message.headers or {}).get(ATTEMPTS_HEADER, 0)))
            self.ack(message)
        except Exception:
            log.exception("could not park a refused event from %s; returning it to its queue",
                          self.queue_name)
            eventlet.sleep(1)
            self.requeue(message)
            outcome = "requeued"
        self.registry.events_handled.labels(self.container.service_name, self.handler_name,
                                            outcome).inc()
        log.error("refused %s.%s for handler %s: %s", self.source_service, self.event_type,
                  self.handler_name, reason)

    def handle_message(self, body, message):
        reason = self.refusal(self.publisher_of(message))
        if reason is not None:
            return self.refuse(message, reason)
        if self.narrow and isinstance(body, dict) and self.event_class.qualifier(body) is not None:
            # sent under the bare type by a publisher older than its contract's qualifier
            self.ack(message)
            return self.registry.events_handled.labels(self.container.service_name, self.handler_name,
                                                       "skipped").inc()
        try:
            event = self.event_class.from_wire(body)
        except InvalidEvent as error:
            return self.refuse(message, "%s: %s" % (INVALID_EVENT, error), outcome="invalid")
        occurred_at = (message.headers or {}).get(HEADER_PREFIX + "occurred_at")
        if occurred_at:
            try:
                lag = (datetime.now(timezone.utc) - datetime.fromisoformat(occurred_at)).total_seconds()
                self.registry.event_lag.labels(self.container.service_name, self.source_service,
                                               self.event_type).observe(max(lag, 0.0))
            except ValueError:
                pass
        if not self.batch:
            return self.start_worker(event, message)
        self._waiting.append((message, event))
        if not self._batching:
            self._next_batch()

    # -- batches: what arrived while the last one was handled, in one worker and one transaction ----
    def _next_batch(self):
        taken, self._waiting = self._waiting, []
        if not taken:
            self._batching = False
            return
        self._batching = True
        if len(taken) == 1:  # an ordinary worker (its event id in its context, its own retries)
            [(message, event)] = taken
            return self.start_worker_with(event, [message], functools.partial(self._alone_result, message))
        batch = Batch((str((m.headers or {}).get(HEADER_PREFIX + "event_id")), event) for m, event in taken)
        batch.correlation_ids = {event_id: (m.headers or {}).get(HEADER_PREFIX + CORRELATION_KEY)
                                 for (event_id, _), (m, _) in zip(batch, taken)}
        self.start_worker_with(batch, [m for m, _ in taken], functools.partial(self._batch_result, taken))

    def _alone_result(self, message, worker_ctx, result=None, exc_info=None):
        answer = self.handle_result(message, worker_ctx, result, exc_info)
        self._next_batch()
        return answer

    def _batch_result(self, taken, worker_ctx, result=None, exc_info=None):
        """Every message of the batch acknowledged once it committed; otherwise each on its own."""
        exc_info = finish_dependencies(worker_ctx, exc_info)
        if exc_info is None:
            for message, _ in taken:
                self.ack(message)
            self.registry.events_handled.labels(self.container.service_name, self.handler_name,
                                                "ok").inc(len(taken))
        else:
            # one of them failed: each goes again on its own, with its own retries and parking
            log.warning("a batch of %d %s events failed (%s); handling each on its own",
                        len(taken), self.event_type, exc_info[1])
            for message, event in taken:
                self.start_worker(event, message)
        self._next_batch()
        return result, exc_info

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        exc_info = finish_dependencies(worker_ctx, exc_info)
        if exc_info is None:
            outcome = {DUPLICATE: "duplicate", NOT_MINE: "skipped"}.get(result, "ok") \
                if isinstance(result, str) else "ok"
            self.ack(message)
        else:
            outcome = self._retry_or_park(message, exc_info)
        self.registry.events_handled.labels(self.container.service_name, self.handler_name,
                                            outcome).inc()
        return result, exc_info

    def _retry_or_park(self, message, exc_info):
        attempts = int((message.headers or {}).get(ATTEMPTS_HEADER, 0)) + 1
        try:
            if attempts <= len(self.delays_ms):
                self._send_to_retry(message, attempts, self.delays_ms[attempts - 1])
                outcome = "retried"
            else:
                error = exc_info[1]
                self.park(message, "%s: %s" % (type(error).__name__, error), attempts)
                outcome = "parked"
            self.ack(message)
            return outcome
        except Exception:
            log.exception("could not retry or park %s; returning it to its queue", self.queue_name)
            eventlet.sleep(1)  # never a hot loop, even when the broker or database is failing
            self.requeue(message)
            return "requeued"

    def _send_to_retry(self, message, attempts, delay_ms):
        headers = {k: v for k, v in (message.headers or {}).items() if k != "x-death"}
        headers[ATTEMPTS_HEADER] = attempts
        headers[PUBLISHER_HEADER] = self.publisher_of(message)
        self.publisher.publish(
            message.payload, exchange=retry_exchange(self.container.service_name, delay_ms),
            routing_key=self.queue_name, headers=headers,
            message_id=message.properties.get("message_id"))
        log.warning("handler %s failed (attempt %d); retrying in %.1fs",
                    self.handler_name, attempts, delay_ms / 1000.0)

    def park(self, message, error, attempts):
        headers = {k: v for k, v in (message.headers or {}).items() if isinstance(v, (str, int, float))}
        # a replay carries who really published it (a replayed forgery is refused again)
        headers[PUBLISHER_HEADER] = self.publisher_of(message)
        self.database.pool.run(lambda tx: tx.execute(
            "INSERT INTO parked_events (event_id, handler, queue, source, event_type, payload, "
            "headers, error, attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (_uuid_or_none(headers.get(HEADER_PREFIX + "event_id")), self.handler_name,
             self.queue_name, self.source_service, self.event_type,
             json.dumps(message.payload, default=str), json.dumps(headers), error, attempts)))
        log.error("handler %s: event parked for an operator after %d attempt(s): %s",
                  self.handler_name, attempts, error)


def _uuid_or_none(value):
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        return None  # a malformed id stays in the stored headers; the row must still be written


def publisher_of(message):
    """The broker user that published ``message`` (RabbitMQ validates ``user_id``)."""
    user_id = (message.properties or {}).get("user_id")
    return user_id.decode() if isinstance(user_id, bytes) else user_id


def expected_publisher(source_service, config):
    """The broker user that alone may publish ``source_service``'s events, from the config's
    ``BROKER_USERS`` (component -> user); None where publishers are not checked."""
    return (config.get("BROKER_USERS") or {}).get(source_service)


class Batch(list):
    """What a batched handler's worker is handed instead of one event: ``[(event_id, event)]``, and
    each event's correlation id (``correlation_ids``: event id -> id, or None)."""

    correlation_ids = {}


def event_handler(event_class, when=None, on_demand=False, batch=False, narrow=False, **kwargs):
    """Decorate ``method(self, event)`` as an idempotent handler of ``event_class`` (an event of
    its publisher's contract); ``event`` is the loaded payload.

    ``when(event)``, if given, says whether the event concerns this handler at
    all; one that does not is acknowledged without touching the database.
    ``on_demand``: its queue hears the publisher only while the service's
    ``OnDemandSubscriptions`` says the events are wanted.
    ``narrow``: it hears only the events its contract publishes under the bare type (those whose
    ``qualifier`` is None); the broker never copies it the others.
    ``batch``: the events delivered while the last batch was being handled are handled in one
    worker and one transaction (one claim statement, one commit), each still once: ``method`` is
    called for each in delivery order. Should one fail, the batch is undone and each goes again
    on its own worker, with its own retries and parking. Batches follow one another, so a
    handler that serialises on a lock anyway (settlement's chain head) holds it once per batch.
    """
    def decorator(fn):
        @functools.wraps(fn)
        def handle_once(self, event):
            if isinstance(event, Batch):
                return _handle_batch(self, fn, when, event)
            if when is not None and not when(event):
                return NOT_MINE
            if not self.db.claim_event():
                return DUPLICATE
            return fn(self, event)
        handle_once.event_class, handle_once.when = event_class, when  # read by the contract tests
        return ReliableEventHandler.decorator(event_class, on_demand=on_demand, batch=batch, narrow=narrow,
                                              **kwargs)(handle_once)
    return decorator


def _handle_batch(self, fn, when, batch):
    mine = [(event_id, event) for event_id, event in batch if when is None or when(event)]
    claimed = self.db.claim_events([event_id for event_id, _ in mine]) if mine else set()
    for event_id, event in mine:
        if event_id in claimed:
            claimed.discard(event_id)  # a copy delivered twice in one batch is handled once
            # its log lines, the events it emits and the calls it makes name the request it came from
            with self.log_context.acting_for(batch.correlation_ids.get(event_id)):
                fn(self, event)
    return len(batch)


class OnDemandSubscriptions(DependencyProvider):
    """Binds each ``on_demand`` handler's queue to its publisher's exchange while the service
    wants those events, and unbinds it otherwise, so the broker does not copy (and the service
    does not receive, claim and drop) every event of a type nobody asked for.

    ``wanted(tx)`` returns the event keys (``"redemption.voucher_redeemed"``) wanted now, read
    from the service's own tables. The bindings follow it at start, every ``interval`` seconds,
    and after the commit of any worker that called ``changed()``. Each reconciliation holds a
    transaction-scoped advisory lock while it reads and applies, so replicas apply in turn and the
    last one to run after a change has seen it. An event published between that commit and the
    binding is not heard: wanting starts a moment after it is declared.
    """

    def __init__(self, wanted, interval=10.0):
        self.wanted = wanted
        self.interval = interval

    def setup(self):
        self.database = find_dependency(self.container, Database)
        self.amqp_uri = self.container.config["AMQP_URI"]
        self.lock_key = "on-demand-bindings:%s" % self.container.service_name
        self.bound = None  # the event keys bound at the last reconciliation
        self._thread = None
        self._changed = weakref.WeakKeyDictionary()  # workers that called changed()

    def handlers(self):
        return [entrypoint for entrypoint in self.container.entrypoints
                if isinstance(entrypoint, ReliableEventHandler) and entrypoint.on_demand]

    def start(self):
        self._thread = self.container.spawn_managed_thread(self._keep, identifier="on-demand-bindings")

    def stop(self):
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    kill = stop

    def _keep(self):
        while True:
            try:
                self.reconcile()
            except Exception:
                log.warning("could not reconcile on-demand bindings; will try again", exc_info=True)
            eventlet.sleep(self.interval)

    def reconcile(self):
        """Bind what is wanted, unbind the rest; returns the event keys bound."""
        def apply(tx):
            tx.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_key,))
            wanted = set(self.wanted(tx))
            with Connection(self.amqp_uri, connect_timeout=10) as connection:
                channel = connection.channel()
                bound = set()
                for handler in self.handlers():
                    key = handler.event_class.key()
                    exchange = event_exchange(handler.source_service, self.container.config).name
                    routing_key = binding_key(handler.event_type, handler.narrow)
                    if key in wanted:
                        channel.queue_bind(handler.queue_name, exchange, routing_key=routing_key)
                        bound.add(key)
                    else:
                        # and the bare type, as bindings were made before qualifiers (a no-op if absent)
                        for stale in {routing_key, handler.event_type}:
                            channel.queue_unbind(handler.queue_name, exchange, routing_key=stale)
                channel.close()
            return bound
        bound = self.database.pool.run(apply)
        if bound != self.bound:
            log.info("on-demand subscriptions: %s", ", ".join(sorted(bound)) or "none")
        self.bound = bound
        return bound

    def get_dependency(self, worker_ctx):
        return _Changes(self, worker_ctx)

    def finish_worker(self, worker_ctx, exc_info):
        """A worker that changed what is wanted: its transaction commits, then the bindings follow,
        before its caller hears the answer (an endpoint just created hears the next event)."""
        if self._changed.pop(worker_ctx, None) is None:
            return exc_info
        exc_info = self.database.finish_worker(worker_ctx, exc_info)  # a no-op if already finished
        if exc_info is None:
            try:
                self.reconcile()
            except Exception:
                log.warning("could not reconcile on-demand bindings now; the next round will", exc_info=True)
        return exc_info


class _Changes:
    def __init__(self, provider, worker_ctx):
        self._provider, self._worker_ctx = provider, worker_ctx

    def changed(self):
        """What the service wants may have changed in this worker: reconcile once it commits."""
        self._provider._changed[self._worker_ctx] = True


def replay_parked(tx, service_name, amqp_uri, parked_id):
    """Send a parked message back to its handler's queue, with its attempts reset."""
    row = tx.one("SELECT * FROM parked_events WHERE id = %s FOR UPDATE", (parked_id,))
    if row is None or row["replayed_at"] is not None:
        return row
    headers = dict(row["headers"])
    headers.pop(ATTEMPTS_HEADER, None)
    EventPublisher(amqp_uri).publish(
        row["payload"], exchange=redeliver_exchange(service_name), routing_key=row["queue"],
        headers=headers, message_id=headers.get(HEADER_PREFIX + "event_id"))
    tx.execute("UPDATE parked_events SET replayed_at = now() WHERE id = %s", (parked_id,))
    row["replayed_at"] = datetime.now(timezone.utc)
    log.info("parked event %s replayed to %s", parked_id, row["queue"])
    return row
