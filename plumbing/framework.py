"""Everything we take from nameko 2.14 and eventlet beyond their public API, in one module.

Elsewhere we use only what they document: ``@rpc``, ``@timer``, ``HttpRequestHandler`` and its
``response_from_*`` hooks, ``DependencyProvider``, ``SharedExtension``, ``Config``,
``ServiceRunner``, the testing tools, ``eventlet.Timeout``/``sleep``/``spawn``, ``Semaphore``,
``tpool`` and ``wsgi.server``; and ``eventlet.monkey_patch()``, the very first statement of a
process that runs nameko (``plumbing.runner``, ``tests/conftest.py``). That call cannot live
here: it must come before nameko and kombu are imported (this module imports them), and this
module is also imported by processes that must not be patched (``make run`` and ``make bench``
declare the topology in-process, and the benchmark's load comes from OS threads). Importing
this module makes psycopg2 cooperative (eventlet's wait callback).

What is here, and what it leans on (``UPSTREAM`` pins the source of each upstream function an
override copies or depends on; ``tests/unit/test_framework.py`` fails when one changes, and shows
the behaviour where it can be shown without a broker):

* ``FinishBeforeResult``: nameko calls an entrypoint's ``handle_result`` *before* any
  dependency's ``worker_result``; we commit the worker's transaction there, so nobody hears
  "done" about work that is not durable.
* ``Publisher``: nameko's ``Publisher.publish`` writes ``confirm_publish`` into
  ``transport_options``, a dict that is a *class* attribute kombu's pooled connections keep;
  each of our publisher classes owns its own dict and only ever writes one value into it.
* ``ReplyingRpcConsumer.handle_result``: nameko's, copied, with a reply publisher that neither
  confirms nor persists. ``TimedMethodProxy._call``: nameko's ``MethodProxy._call``, copied,
  keeping the correlation id so a timed-out wait can be forgotten (``ReplyListener._reply_events``
  is private), and confirms optional. The RPC wire format (``{"args", "kwargs"}`` out,
  ``{"result", "error"}`` back, replies routed by ``reply_to`` on ``nameko-rpc``) is also spoken
  by hand by ``plumbing.revocation`` (``rpc_request`` / ``rpc_result``).
* ``QueueEventHandler``: nameko's ``EventHandler`` without its ``setup`` (which would declare a
  one-binding queue); it consumes the queue we build, and only the ``nameko.``-prefixed headers
  we accept become context data.
* ``undeclared(exchange)``: nameko declares ``nameko-rpc`` and ``<service>.events`` whenever it
  binds a queue; kombu skips the declaration of an exchange marked ``no_declare``, which is how a
  process that may not configure shared exchanges still binds to them.
* ``BoundedWebServer``, ``RoutingApp``, ``TimedHttpProtocol``: nameko's ``WebServer.run`` copied
  with a cap on open connections, eventlet's ``wsgi.Server`` built with our keep-alive and socket
  timeouts, eventlet's ``HttpProtocol`` reading the request line and headers under one deadline,
  and the WSGI app answering everything itself (nameko's lets werkzeug answer in HTML).
  ``context_data_from_headers`` is the hook nameko's ``HttpRequestHandler.handle_request`` calls.
* ``BoundSignature``: nameko's ``Entrypoint.check_signature`` runs ``inspect.getcallargs`` on every
  call, which builds the method's signature anew (about a tenth of a busy service's CPU); we build
  it once and bind each call to it, and let nameko's own check word a refusal.
* ``producer_for``: nameko's ``get_producer`` builds a kombu ``Connection`` on every publish only
  to look up the producer pool it keys (parsing the URI and hashing the options each time); ours
  keeps that key per publisher's options dict and is installed in its place, so every publish of
  the process (replies, requests, events) takes the same pooled producers without rebuilding it.
* ``NO_BLOCKED_POLL`` and ``look_then_publish``: py-amqp negotiates RabbitMQ's
  ``connection.blocked`` notices and then, before every publish, drains the socket with a zero
  timeout (an eventlet timer and a hub switch per publish: about a tenth of the gateway's CPU).
  Nothing here listens for those notices, but the drain also reads a ``Connection.Close`` the
  broker sent (or the end of a dropped connection), so the publish fails over to a new connection
  instead of vanishing into a socket the broker already closed. So the capability is not asked
  for, and ``look_then_publish`` drains only when a real zero-timeout ``select`` (no hub switch)
  says something is there.
* ``TimedMethodProxy.get_message_headers``: nameko sends a worker's whole context with every call
  it makes; a client's ``idempotency_key`` goes only from the gateway to the service it calls.

The exit plan (nameko 2.14.1 has had no release since 2021; eventlet is deprecated upstream).
nameko needs eventlet, so both go together, one process kind at a time, keeping the wire formats
(exchanges, queues, headers, bodies) so that old and new processes talk during the change:

1. The services, onto asyncio with aio-pika. ``Rpc``, ``ReplyingRpcConsumer`` and
   ``FinishBeforeResult`` become one consumer of ``rpc-<service>`` that runs the method, commits,
   then publishes the reply unconfirmed; ``RpcProxy`` and ``TimedMethodProxy`` become a client
   with one reply queue and a future per correlation id under ``asyncio.wait_for`` (the one-hop
   rule goes with it); ``QueueEventHandler`` becomes a consumer of the queues
   ``plumbing.topology`` declares; the publishers become two channels, one in confirm mode;
   ``undeclared`` becomes not declaring; ``rpc_request``/``rpc_result`` are the wire format already.
2. With them, the database: psycopg 3's async pool (the wait callback and ``plumbing.db``'s
   semaphore go; ``Transaction`` keeps its shape); dependency providers become a per-call context.
3. The gateway last: a starlette app on uvicorn. ``BoundedWebServer``'s connection cap and
   keep-alive become ``limit_concurrency`` and ``timeout_keep_alive``, ``TimedHttpProtocol``'s
   deadline for the line and headers becomes h11's size limit plus a read deadline in the server's
   protocol, ``RoutingApp`` becomes the router; ``Route`` keeps its declarations (``public``,
   ``forward``) and its error mapping; ``tpool`` becomes ``asyncio.to_thread``.
4. Then ``monkey_patch``, the nameko and eventlet pins, this module and its tests go.
"""
import hashlib
import importlib
import inspect
import logging
import socket
import uuid
from contextlib import contextmanager
from functools import partial

import amqp
import eventlet
from eventlet import wsgi
from eventlet.semaphore import Semaphore
from eventlet.support.psycopg2_patcher import make_psycopg_green
from kombu import Connection
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.pools import producers
from nameko.amqp import publish as nameko_publish
from nameko.amqp.publish import Publisher as NamekoPublisher, UndeliverableMessage
from nameko.constants import DEFAULT_TRANSPORT_OPTIONS, NON_PERSISTENT, PERSISTENT
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled, UnknownService
from nameko.messaging import QueueConsumer as NamekoQueueConsumer
from nameko.rpc import (MethodProxy, ReplyListener as NamekoReplyListener, Responder, Rpc as NamekoRpc,
                        RpcConsumer, RpcProxy as NamekoRpcProxy, RpcReply, ServiceProxy, get_rpc_exchange)
from nameko.standalone.events import get_event_exchange
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp

from plumbing.broker import operator_declares_exchanges, user_of
from plumbing.circuit import circuit_for
from plumbing.config import durable_queue_arguments
from plumbing.errors import ServiceUnavailable

make_psycopg_green()  # psycopg2 waits through eventlet's hub: a slow query blocks only its worker

log = logging.getLogger(__name__)

HEADER_PREFIX = "nameko."  # context data travels as message headers with this prefix
# Context data that travels one hop only: from the gateway to the service it calls, never onward
# to a service that one calls (a client's key names its request, not what the service asks others)
IDEMPOTENCY_KEY = "idempotency_key"
ONE_HOP_CONTEXT = (IDEMPOTENCY_KEY,)
# context data of an RPC worker: the broker user that sent the request, as RabbitMQ validated it
# (the message's user_id); never taken from a header, never passed on
BROKER_USER_KEY = "broker_user"

# sha256 (first 16 hex digits) of the source of each upstream function an override copies or leans on
UPSTREAM = {
    # Rpc.unpack_message_headers: the worker's context comes from the headers, then we set who sent it
    "nameko.messaging.HeaderDecoder.unpack_message_headers": "2ce5e0693e3dde60",
    "nameko.rpc.Rpc.handle_message": "7cafedcdfc41a571",
    # FinishBeforeResult: a worker's handle_result runs before the dependencies' worker_result
    "nameko.containers.ServiceContainer._run_worker": "7418dcb704693677",
    # Publisher: publish() writes confirm_publish into the class-level transport_options
    "nameko.amqp.publish.Publisher.publish": "dd0e87b3027e57df",
    # ReplyingRpcConsumer: setup builds self.queue on nameko-rpc; handle_result is a copy; the reply body
    "nameko.rpc.RpcConsumer.setup": "5f423f9c59173a5d",
    "nameko.rpc.RpcConsumer.handle_result": "25b95fd9dfce82c2",
    "nameko.rpc.Responder.send_response": "d5c3234c5e408a01",
    # TimedMethodProxy and RpcProxy: _call is a copy; the reply listener's private _reply_events
    "nameko.rpc.MethodProxy._call": "162cdf3c92de6792",
    "nameko.rpc.RpcReply.result": "5b81ff69807ac2fd",
    "nameko.rpc.ReplyListener.setup": "13e0e4ffef66593a",
    "nameko.rpc.ReplyListener.handle_message": "c10e21f1b3ea8be0",
    "nameko.rpc.RpcProxy.get_dependency": "5e971b6fc31c7264",
    "nameko.messaging.HeaderEncoder.get_message_headers": "73796a3170402cd3",
    # QueueEventHandler: nameko's setup is skipped; start_worker_with is a copy of handle_message (context, requeue)
    "nameko.events.EventHandler.setup": "626d110cc0f6be7a",
    "nameko.messaging.Consumer.setup": "bd4b30ea26adc81a",
    "nameko.messaging.Consumer.handle_message": "931d4561ddd3c6e7",
    # the web server: run() is a copy; the hooks handle_request calls; what eventlet's protocol reads
    "nameko.web.handlers.HttpRequestHandler.handle_request": "4a686b5b8268669f",
    "nameko.web.server.WebServer.run": "f54a220ccb817633",
    "nameko.web.server.WebServer.start": "486138c90b8e9be2",
    "nameko.web.server.WebServer.get_wsgi_server": "040239d82b5108dc",
    "nameko.web.server.WsgiApp.__init__": "0c505e03cf75e65c",
    # QuickReconnect: establish_connection is a copy; ensure_connection's back-off defaults are what it overrides
    "kombu.mixins.ConsumerMixin.establish_connection": "81f1b607c2d2fc30",
    "kombu.connection.Connection._ensure_connection": "9928a72370fd028e",
    # QueueConsumer.consume: the drain timeout is consume()'s safety_interval, passed on
    "kombu.mixins.ConsumerMixin.consume": "16b4ba15bf615823",
    "nameko.messaging.QueueConsumer.on_connection_error": "93154c9c79e4a652",
    "eventlet.wsgi.HttpProtocol._read_request_line": "b03b4ae076effb73",
    "eventlet.wsgi.HttpProtocol.handle_one_request": "4d466c537abfc8c1",
    "eventlet.wsgi.HttpProtocol.get_environ": "b8865250e21cb561",
    "eventlet.wsgi.Server.__init__": "00a054dd50ff8a69",
    # BoundSignature: check_signature's answer (IncorrectSignature with getcallargs' message), cached
    "nameko.extensions.Entrypoint.check_signature": "568d1c1e1852f91b",
    # producer_for: get_producer builds the kombu Connection its pool is keyed by, on every publish
    "nameko.amqp.publish.get_producer": "386e9499d8d0b9a9",
    # NO_BLOCKED_POLL, look_then_publish: a publish drains the socket when 'connection.blocked' was negotiated
    "amqp.channel.Channel._basic_publish": "435fd18a6c885ecc",
}


def upstream_source(dotted):
    """The source of ``package.module.Class.function`` as installed."""
    if dotted in REPLACED:
        return inspect.getsource(REPLACED[dotted])
    module_name, class_name, function_name = dotted.rsplit(".", 2)
    target = getattr(getattr(importlib.import_module(module_name), class_name), function_name)
    return inspect.getsource(target)


def source_digest(dotted):
    return hashlib.sha256(upstream_source(dotted).encode()).hexdigest()[:16]


# -- exchanges and the RPC wire format -------------------------------------------------------------
def undeclared(exchange, declare=False):
    """``exchange``, which kombu will then not declare (the operator's bootstrap did; see
    ``plumbing.broker``) unless ``declare``."""
    if not declare:
        exchange.no_declare = True
    return exchange


def rpc_exchange(config, declare=None):
    """``nameko-rpc``, declared by this process only where it may (``plumbing.broker``)."""
    if declare is None:
        declare = not operator_declares_exchanges(config or {})
    return undeclared(get_rpc_exchange(config), declare)


def events_exchange(service_name, config, declare=None):
    """``<service>.events``, as nameko names it, declared by this process only where it may."""
    if declare is None:
        declare = not operator_declares_exchanges(config or {})
    return undeclared(get_event_exchange(service_name, config), declare)


def rpc_request(*args, **kwargs):
    """The body of an RPC request, as nameko's ``MethodProxy`` sends it."""
    return {"args": list(args), "kwargs": kwargs}


def rpc_result(body):
    """``(result, error)`` of an RPC reply body, as nameko's ``Responder`` sends it: ``error`` is a
    serialised exception, or None (a body of another shape is an error too)."""
    if not isinstance(body, dict) or ("result" not in body and not body.get("error")):
        return None, "malformed reply"
    return body.get("result"), body.get("error") or None


# -- publishing ----------------------------------------------------------------------------------------
_POOL_KEYS = {}  # (uri, confirms, ssl, login, id(options)) -> (the pool's key Connection, its options dict)


@contextmanager
def producer_for(amqp_uri, confirms=True, ssl=None, login_method=None, transport_options=None):
    """nameko's ``get_producer``, with the Connection that keys the producer pool built once per
    options dict (a publisher class's own, which it keeps: ``Publisher``)."""
    if transport_options is None:
        with _nameko_get_producer(amqp_uri, confirms, ssl, login_method, transport_options) as producer:
            yield producer
        return
    transport_options["confirm_publish"] = confirms
    key = (amqp_uri, confirms, repr(ssl), login_method, id(transport_options))
    found = _POOL_KEYS.get(key)
    if found is None or found[1] is not transport_options:
        found = _POOL_KEYS[key] = (Connection(amqp_uri, transport_options=transport_options, ssl=ssl,
                                              login_method=login_method), transport_options)
    with producers[found[0]].acquire(block=True) as producer:
        yield producer


NO_BLOCKED_POLL = {name: wanted for name, wanted in amqp.Connection.negotiate_capabilities.items()
                   if name != "connection.blocked"}
amqp.Connection.negotiate_capabilities = NO_BLOCKED_POLL
_real_select = eventlet.patcher.original("select").select
_amqp_basic_publish = amqp.channel.Channel._basic_publish


def look_then_publish(channel, *args, **kwargs):
    """py-amqp's ``_basic_publish``, after reading what the broker sent, if it sent anything."""
    connection = channel.connection
    sock = getattr(getattr(connection, "transport", None), "sock", None)
    if sock is not None:
        try:
            waiting = bool(_real_select([sock.fileno()], [], [], 0)[0])
        except (OSError, ValueError):
            waiting = True  # a socket that cannot even be looked at: let the read say why
        if waiting:
            try:
                connection.drain_events(timeout=0)
            except socket.timeout:
                pass
    return _amqp_basic_publish(channel, *args, **kwargs)


amqp.channel.Channel._basic_publish = amqp.channel.Channel.basic_publish = look_then_publish

_nameko_get_producer = nameko_publish.get_producer
nameko_publish.get_producer = producer_for
REPLACED = {"nameko.amqp.publish.get_producer": _nameko_get_producer,
            "amqp.channel.Channel._basic_publish": _amqp_basic_publish}  # upstream functions ours stand in for


class Publisher(NamekoPublisher):
    """nameko's Publisher; each subclass owns its ``transport_options`` dict (nameko's is one class
    attribute shared by every instance, which ``publish`` writes ``confirm_publish`` into, and
    kombu's pooled connections keep a reference to it: mixing confirmed and unconfirmed instances
    of one class could hand an event an unconfirmed channel)."""

    # nameko's policies wait 2 s before the first retry (kombu's default) on every pooled connection
    # a broker restart left stale; a stale connection is replaced at once, and a broker that is
    # really gone is known within about two seconds (the caller answers 503, the outbox sweeps later)
    retry_policy = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
    RECONNECT = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.transport_options = dict(DEFAULT_TRANSPORT_OPTIONS, **Publisher.RECONNECT)


class StampedPublisher(Publisher):
    """Every message carries ``user_id`` = the connection's broker user. RabbitMQ refuses a
    ``user_id`` that is not the publishing connection's user, so a receiver can trust it."""

    def __init__(self, amqp_uri, **kwargs):
        self.user_id = user_of(amqp_uri)
        kwargs.setdefault("user_id", self.user_id)
        super().__init__(amqp_uri, **kwargs)


class EventPublisher(StampedPublisher):
    """Events (and retries and replays of them): persistent, confirmed, and stamped with the
    publisher's broker user (consumers check it: ``plumbing.events``)."""
    use_confirms = True
    delivery_mode = PERSISTENT


class MessagePublisher(StampedPublisher):
    """RPC requests and replies: neither persisted nor confirmed (a lost one times out, and the
    client retries it with its Idempotency-Key: cheaper than a confirm round trip on every call);
    stamped, so a service's own work (a timer, a handler) is known as that service's
    (``plumbing.auth``)."""
    use_confirms = False
    delivery_mode = NON_PERSISTENT


# -- reconnecting consumers ---------------------------------------------------------------------------
# kombu's ConsumerMixin (nameko's QueueConsumer: every RPC, reply and event consumer of a process)
# reconnects with ensure_connection's defaults, 2 s then 4, 6 ... up to 30 s between attempts: after
# a broker restart a process kept sleeping for up to half a minute after the broker was back
# (`make faults` measured 53 s to serve again). An attempt on a broker that is down is one refused
# connect, so: at once, then every second at most.
RECONNECT_BACKOFF = {"interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class QuickReconnect:
    """Mixed into a kombu ``ConsumerMixin``: its ``establish_connection``, copied, with
    ``RECONNECT_BACKOFF``."""

    @contextmanager
    def establish_connection(self):
        with self.create_connection() as conn:
            conn.ensure_connection(self.on_connection_error, self.connect_max_retries, **RECONNECT_BACKOFF)
            yield conn


class QueueConsumer(QuickReconnect, NamekoQueueConsumer):
    """nameko's QueueConsumer, reconnecting within a second of the broker's return. One per
    container: every consumer below (``ReplyingRpcConsumer``, ``ReplyListener``,
    ``QueueEventHandler``) names this class, so they share it as they shared nameko's."""

    # the loop looks up from the socket this often (kombu: every second); a stopping container
    # waits on it once per consumer it cancels and once to end it (3 s a container, 17 s a system)
    DRAIN_SECONDS = 0.1

    def consume(self, *args, **kwargs):
        kwargs.setdefault("safety_interval", self.DRAIN_SECONDS)
        return super().consume(*args, **kwargs)


# -- entrypoints: the transaction first, then the answer ------------------------------------------------
def finish_dependencies(worker_ctx, exc_info):
    """Let every dependency with a ``finish_worker(worker_ctx, exc_info)`` hook (the database)
    finish; a failure there becomes the worker's error."""
    for dependency in worker_ctx.container.dependencies:
        finish = getattr(dependency, "finish_worker", None)
        if finish is not None:
            exc_info = finish(worker_ctx, exc_info)
    return exc_info


class FinishBeforeResult:
    """Mixed into an entrypoint: its ``handle_result`` (the RPC reply, the HTTP answer) comes after
    the dependencies have finished (committed); nameko would only tell them afterwards."""

    def handle_result(self, carrier, worker_ctx, result, exc_info):
        exc_info = finish_dependencies(worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        return super().handle_result(carrier, worker_ctx, result, exc_info)


def safely_ack(queue_consumer, message):
    """Acknowledge ``message``; on a connection that is gone the broker has already taken it back
    (nameko checks only that the connection object exists, not that its socket still works)."""
    try:
        queue_consumer.ack_message(message)
    except Exception:
        log.warning("could not acknowledge a message: its connection is gone, the broker will "
                    "deliver it again", exc_info=True)


def safely_requeue(queue_consumer, message):
    try:
        queue_consumer.requeue_message(message)
    except Exception:
        log.warning("could not return a message to its queue: its connection is gone, the broker "
                    "will deliver it again", exc_info=True)


class ReplyResponder(Responder):
    publisher_cls = MessagePublisher


class ReplyingRpcConsumer(RpcConsumer):
    queue_consumer = QueueConsumer()

    def setup(self):
        super().setup()
        # rpc-<service> is durable: of the type every durable queue is (quorum in production)
        self.queue.queue_arguments = dict(self.queue.queue_arguments or {},
                                          **durable_queue_arguments(self.container.config))
        undeclared(self.queue.exchange, not operator_declares_exchanges(self.container.config))

    def handle_result(self, message, result, exc_info):
        # nameko's, with a reply that is neither confirmed nor persisted
        config = self.container.config
        responder = ReplyResponder(config["AMQP_URI"], get_rpc_exchange(config),
                                   config.get("serializer", "json"), message,
                                   ssl=config.get("AMQP_SSL"), login_method=config.get("LOGIN_METHOD"))
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except Exception:
            # the broker is gone (or going): nameko would let this end the container, and with it
            # every other worker. The work is committed; the caller times out and retries with its
            # Idempotency-Key, which is answered from what was stored.
            log.warning("could not send the reply to %s (the work is done and committed)",
                        (message.properties or {}).get("reply_to"), exc_info=True)
        safely_ack(self.queue_consumer, message)
        return result, exc_info


class BoundSignature:
    """Mixed into an entrypoint: its calls are checked against the method's signature, built once."""

    _signature = None

    def check_signature(self, args, kwargs):
        if self._signature is None:
            self._signature = inspect.signature(getattr(self.container.service_cls, self.method_name))
        try:
            self._signature.bind(None, *args, **kwargs)  # None: the unbound method's self, as nameko does
        except TypeError:
            super().check_signature(args, kwargs)  # refused: in nameko's own words
            raise  # (it never accepts what bind refused)


class Rpc(BoundSignature, FinishBeforeResult, NamekoRpc):
    """nameko's ``@rpc``: committed before the reply, which is neither confirmed nor persisted."""

    rpc_consumer = ReplyingRpcConsumer()

    def unpack_message_headers(self, message):
        # who sent the request is what the broker validated, whatever a header claims
        data = super().unpack_message_headers(message)
        data.pop(BROKER_USER_KEY, None)
        user = (message.properties or {}).get("user_id")
        if user:
            data[BROKER_USER_KEY] = user
        return data


# -- calling another service, with a deadline -----------------------------------------------------------
class TimedMethodProxy(MethodProxy):
    publisher_cls = MessagePublisher

    def __init__(self, worker_ctx, service_name, method_name, reply_listener, timeout, idempotency_key=None,
                 **options):
        self.timeout = timeout
        self.idempotency_key = idempotency_key
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)

    def __call__(self, *args, **kwargs):
        # a service that keeps not answering is not waited for (plumbing.circuit)
        circuit = circuit_for(self.container, self.service_name)
        probe = circuit.before_call()
        try:
            reply = self._call(*args, **kwargs)
        except UnknownService:
            circuit.failed(probe)
            raise ServiceUnavailable("The %s service is not running" % self.service_name,
                                     code="service_unavailable")
        except (KombuOperationalError, OSError) as exc:
            circuit.failed(probe)
            raise ServiceUnavailable("The message broker is unreachable: %s" % exc,
                                     code="broker_unavailable")
        except BaseException:
            circuit.abandoned(probe)
            raise
        try:
            with eventlet.Timeout(self.timeout):
                result = reply.result()
        except eventlet.Timeout:
            self.reply_listener._reply_events.pop(reply.correlation_id, None)
            circuit.failed(probe)
            raise ServiceUnavailable(
                "The %s service did not answer within %.0f seconds" % (self.service_name, self.timeout),
                code="service_timeout")
        except Exception:
            circuit.succeeded(probe)  # an error is an answer: the service is there
            raise
        except BaseException:
            circuit.abandoned(probe)
            raise
        circuit.succeeded(probe)
        return result

    def get_message_headers(self, worker_ctx):
        headers = super().get_message_headers(worker_ctx)
        headers.pop(HEADER_PREFIX + BROKER_USER_KEY, None)  # the next hop learns it from the broker
        if not isinstance(worker_ctx.entrypoint, HttpRequestHandler):
            for key in ONE_HOP_CONTEXT:
                headers.pop(HEADER_PREFIX + key, None)
        if self.idempotency_key:  # the caller's own key for this call (TimedServiceProxy.keyed)
            headers[HEADER_PREFIX + IDEMPOTENCY_KEY] = self.idempotency_key
        return headers

    def _call(self, *args, **kwargs):
        # nameko's _call, keeping the correlation id so a timed-out wait can be forgotten;
        # mandatory only matters with confirms (then an unknown service is known at once)
        correlation_id = str(uuid.uuid4())
        reply_event = self.reply_listener.get_reply_event(correlation_id)
        try:
            self.publisher.publish(
                {"args": args, "kwargs": kwargs},
                exchange=get_rpc_exchange(self.container.config),
                routing_key="%s.%s" % (self.service_name, self.method_name),
                mandatory=self.publisher.use_confirms, reply_to=self.reply_listener.routing_key,
                correlation_id=correlation_id,
                # a request its caller gave up on is dropped, never run later (a redemption
                # answered 503 must not happen when the service comes back)
                expiration=self.timeout,
                extra_headers=self.get_message_headers(self.worker_ctx))
        except UndeliverableMessage:
            self.reply_listener._reply_events.pop(correlation_id, None)
            raise UnknownService(self.service_name)
        except BaseException:
            self.reply_listener._reply_events.pop(correlation_id, None)
            raise
        reply = RpcReply(reply_event)
        reply.correlation_id = correlation_id
        return reply


class TimedServiceProxy(ServiceProxy):
    def __init__(self, worker_ctx, service_name, reply_listener, timeout, idempotency_key=None, **options):
        self.timeout = timeout
        self.idempotency_key = idempotency_key
        super().__init__(worker_ctx, service_name, reply_listener, **options)

    def __getattr__(self, name):
        return TimedMethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                                self.timeout, idempotency_key=self.idempotency_key, **self.options)

    def keyed(self, key):
        """``self.redemption.keyed(key).issue_voucher(...)``: the call carries the worker's own
        Idempotency-Key, so a retry of the worker's work (after a crash between the call and its own
        commit) is answered as the first call was instead of doing it twice."""
        return TimedServiceProxy(self.worker_ctx, self.service_name, self.reply_listener, self.timeout,
                                 idempotency_key=key, **self.options)


class ReplyListener(NamekoReplyListener):
    queue_consumer = QueueConsumer()

    def setup(self):
        super().setup()
        undeclared(self.queue.exchange, not operator_declares_exchanges(self.container.config))


class RpcProxy(NamekoRpcProxy):
    """``RpcProxy("redemption")``: calls time out after ``timeout`` (or ``RPC_TIMEOUT``) seconds."""

    rpc_reply_listener = ReplyListener()

    def __init__(self, target_service, timeout=None, **options):
        self.timeout = timeout
        super().__init__(target_service, **options)

    def get_dependency(self, worker_ctx):
        timeout = self.timeout or float(self.container.config.get("RPC_TIMEOUT", 5.0))
        return TimedServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                                 timeout, **self.options)


# -- consuming events ---------------------------------------------------------------------------------
class QueueEventHandler(EventHandler):
    """nameko's EventHandler on a queue of ours: ``consume(queue)`` in ``setup`` instead of
    nameko's (a queue with one binding); ``start_worker`` hands a message's payload to the method."""

    queue_consumer = QueueConsumer()
    refused_context = ()  # context names a message's headers may not set

    def setup(self):
        raise NotImplementedError("build the queue, then call consume(queue)")

    def consume(self, queue):
        self.queue = queue
        self.queue_consumer.register_provider(self)

    def start_worker(self, payload, message):
        self.start_worker_with(payload, [message], partial(self.handle_result, message))

    def start_worker_with(self, payload, messages, handle_result):
        """A worker for ``payload`` (built from ``messages``), answered by ``handle_result(worker_ctx,
        result, exc_info)``: nameko's ``Consumer.handle_message``, for one message or several. A
        worker for several has the first one's context less its ``event_id``."""
        context_data = self.unpack_message_headers(messages[0])
        if len(messages) > 1:
            context_data.pop("event_id", None)
        try:
            self.container.spawn_worker(self, (payload,), {}, context_data=context_data,
                                        handle_result=handle_result)
        except ContainerBeingKilled:
            for message in messages:
                self.queue_consumer.requeue_message(message)

    def ack(self, message):
        safely_ack(self.queue_consumer, message)

    def requeue(self, message):
        safely_requeue(self.queue_consumer, message)

    def unpack_message_headers(self, message):
        context = {}
        for key, value in (message.headers or {}).items():
            if key.startswith(HEADER_PREFIX):
                name = key[len(HEADER_PREFIX):]
                if name not in self.refused_context:
                    context[name] = value
        return context


# -- the web server -----------------------------------------------------------------------------------
_DEADLINE_KEY = "vowrewards.read_deadline"
_CLOSE_KEY = "vowrewards.close_connection"


def read_deadline(environ):
    """The timer running out on this request's line and headers (None outside our protocol)."""
    return environ.get(_DEADLINE_KEY)


def close_after_answer(environ):
    """Close the connection once this answer is sent: nothing more is read from it."""
    close = environ.get(_CLOSE_KEY)
    if close is not None:
        close()


def deadline(seconds, error):
    """A timer that raises ``error`` in this green thread after ``seconds`` (``cancel()`` it)."""
    return eventlet.Timeout(seconds, error)


class TimedHttpProtocol(HttpOnlyProtocol):
    """One connection: waits ``keepalive`` seconds for the next request (``read_timeout`` for the
    first), then gives its line and headers ``read_timeout`` seconds in all, however slowly the bytes
    trickle in (the app gives the body its own deadline)."""

    _deadline = None
    _requests = 0

    def _read_request_line(self):
        if not self.rfile.closed:
            try:
                # a new connection owes us its first request at once; a kept-alive one may idle
                self.connection.settimeout(self.server.keepalive if self._requests else self.server.read_timeout)
                if not self.rfile.peek(1):
                    return ""
            except OSError:  # idle too long, or gone
                return ""
            self._requests += 1
            self._deadline = deadline(self.server.read_timeout,
                                      socket.timeout("the request did not arrive in time"))
        return super()._read_request_line()

    def get_environ(self):
        environ = super().get_environ()
        environ[_DEADLINE_KEY] = self._deadline
        environ[_CLOSE_KEY] = partial(setattr, self, "close_connection", 1)
        return environ

    def handle_one_request(self):
        try:
            super().handle_one_request()
        finally:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None


class RoutingApp(WsgiApp):
    """nameko's WSGI app, leaving the whole answer to the server: ``server.answer(environ, match)``
    returns a werkzeug response; ``match()`` is ``(entrypoint, path values)`` or raises werkzeug's
    NotFound / MethodNotAllowed."""

    def __call__(self, environ, start_response):
        response = self.server.answer(environ, self.url_map.bind_to_environ(environ).match)
        return response(environ, start_response)


class BoundedWebServer(WebServer):
    """nameko's web server on eventlet's wsgi server, with a subclass's ``read_timeout``,
    ``idle_timeout`` and ``max_connections`` (set before calling ``setup``), its ``answer`` to
    every request and its ``context_data(request)`` for each worker."""

    read_timeout = 15.0
    idle_timeout = 30.0
    max_connections = 1000

    def setup(self):
        self._connection_slots = Semaphore(self.max_connections)
        super().setup()

    def answer(self, environ, match):
        raise NotImplementedError

    def context_data(self, request):
        return {}

    def context_data_from_headers(self, request):
        return self.context_data(request)

    def get_wsgi_app(self):
        return RoutingApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=TimedHttpProtocol, debug=False):
        server = wsgi.Server(sock, sock.getsockname(), wsgi_app, protocol=TimedHttpProtocol, debug=False,
                             log=logging.getLogger("nameko.web.server"), keepalive=self.idle_timeout,
                             socket_timeout=self.read_timeout)
        server.read_timeout = self.read_timeout
        return server

    def run(self):
        # nameko's, but at the cap new connections wait in the listen backlog until one closes
        while self._is_accepting:
            self._connection_slots.acquire()
            try:
                sock, addr = self._sock.accept()
            except BaseException:
                self._connection_slots.release()
                raise
            sock.settimeout(self._serv.socket_timeout)
            self.container.spawn_managed_thread(partial(self._serve, sock, addr))

    def _serve(self, sock, address):
        try:
            self.process_request(sock, address)
        finally:
            self._connection_slots.release()
            sock.close()
