"""What ``plumbing.framework`` leans on in nameko, eventlet and kombu, checked against what is
installed: the pinned versions, the source of every upstream function an override copies or
relies on, and, where it can be shown without a broker, the behaviour itself. A failure here
means an upgrade changed something we depend on: re-read the override against the new code
before recording the new digest."""
import contextlib
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import eventlet
import nameko.amqp.publish
import pytest
from kombu import Exchange
from nameko.amqp.publish import Publisher as NamekoPublisher
from nameko.containers import ServiceContainer
from nameko.exceptions import IncorrectSignature
from nameko.extensions import DependencyProvider, Entrypoint
from nameko.web.handlers import HttpRequestHandler

from plumbing import config as cfg, framework
from plumbing.events import ReliableEventHandler
from plumbing.framework import (UPSTREAM, BoundedWebServer, EventPublisher, FinishBeforeResult, MessagePublisher,
                                ReplyResponder, TimedHttpProtocol, TimedMethodProxy, TimedServiceProxy, rpc_exchange,
                                rpc_request, rpc_result, undeclared)

AMQP_URI = "amqp://someone:secret@127.0.0.1:5672/"


def pinned(package):
    requirements = (cfg.REPO_ROOT / "requirements.txt").read_text()
    return re.search(r"^%s==(\S+)" % re.escape(package), requirements, re.M | re.I).group(1)


@pytest.mark.parametrize("package", ["nameko", "eventlet", "kombu"])
def test_the_installed_framework_is_the_pinned_one(package):
    assert importlib.metadata.version(package) == pinned(package)


@pytest.mark.parametrize("dotted", sorted(UPSTREAM))
def test_upstream_code_we_copy_or_lean_on_is_unchanged(dotted):
    assert framework.source_digest(dotted) == UPSTREAM[dotted], (
        "%s changed upstream: re-read it against plumbing/framework.py, then record the new digest" % dotted)


def green(*modules):
    """Whether a fresh interpreter that imports ``modules`` has its standard library patched for
    eventlet, and psycopg2 waiting through eventlet's hub."""
    probe = ("import %s, eventlet.patcher as p, psycopg2.extensions as e; "
             "print(all(p.is_monkey_patched(m) for m in ('socket', 'thread', 'time', 'select')), "
             "(e.get_wait_callback() or print).__module__)" % ", ".join(modules))
    out = subprocess.run([sys.executable, "-c", probe], cwd=str(cfg.REPO_ROOT), capture_output=True, text=True,
                         check=True)
    return out.stdout.split()


def test_a_component_process_is_cooperative_and_a_tool_that_declares_the_topology_is_left_alone():
    assert green("plumbing.runner", "plumbing.db") == ["True", "eventlet.support.psycopg2_patcher"]
    # make run and make bench declare the topology in-process; the benchmark's OS threads stay OS threads
    assert green("plumbing.topology")[0] == "False"


# -- the transaction first, then the answer ---------------------------------------------------------
seen = []


class Recorder(DependencyProvider):
    def finish_worker(self, worker_ctx, exc_info):
        seen.append("dependencies finish")
        return exc_info

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        seen.append("dependencies told")


class Answering(Entrypoint):
    def handle_result(self, carrier, worker_ctx, result, exc_info):
        seen.append("caller answered: %s" % result)
        return result, exc_info


class CommitFirst(FinishBeforeResult, Answering):
    pass


class Ordered:
    name = "ordered"
    recorder = Recorder()

    @CommitFirst.decorator
    def work(self):
        seen.append("handler")
        return "done"


def test_nameko_answers_the_caller_before_telling_dependencies_so_we_finish_them_first():
    seen.clear()
    container = ServiceContainer(Ordered, {})
    container.start()
    [entrypoint] = container.entrypoints
    container.spawn_worker(entrypoint, (), {}, handle_result=functools.partial(entrypoint.handle_result, "msg"))
    container.stop()  # waits for the worker
    assert seen == ["handler", "dependencies finish", "caller answered: done", "dependencies told"]


class Signed:
    name = "signed"

    @framework.Rpc.decorator
    def add(self, a, b=1, *, c=0):
        return a + b + c


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, 2), {"c": 3}), ((), {"a": 1}), ((1, 2, 3), {}),
                                          ((), {}), ((1,), {"d": 4}), ((1,), {"a": 1})])
def test_a_call_is_refused_for_its_signature_as_nameko_refuses_it_with_the_signature_built_once(args, kwargs):
    container = ServiceContainer(Signed, {"AMQP_URI": AMQP_URI})
    [entrypoint] = container.entrypoints

    def answer(check):
        try:
            check(args, kwargs)
        except IncorrectSignature as refused:
            return str(refused)
        return "accepted"
    ours = answer(entrypoint.check_signature)
    assert ours == answer(functools.partial(Entrypoint.check_signature, entrypoint))
    assert entrypoint._signature is not None and answer(entrypoint.check_signature) == ours


# -- publishers --------------------------------------------------------------------------------------
@pytest.fixture
def published(monkeypatch):
    """What nameko's Publisher hands the broker: (payload, publish kwargs, transport options)."""
    sent = []

    @contextlib.contextmanager
    def producer(amqp_uri, use_confirms, ssl, login_method, transport_options):
        yield SimpleNamespace(publish=lambda payload, **kwargs: sent.append((payload, kwargs, transport_options)))
    monkeypatch.setattr(nameko.amqp.publish, "get_producer", producer)
    return sent


def test_every_publish_takes_its_producer_pool_by_one_key_built_once(monkeypatch):
    keys = []

    class Pools(dict):
        def __getitem__(self, key):
            keys.append(key)
            return SimpleNamespace(acquire=lambda block: contextlib.nullcontext("a producer"))
    monkeypatch.setattr(framework, "producers", Pools())
    events, replies = dict(EventPublisher.transport_options), dict(MessagePublisher.transport_options)
    for options, confirms in ((events, True), (events, True), (replies, False), (events, True)):
        with framework.producer_for(AMQP_URI, confirms, None, None, options) as producer:
            assert producer == "a producer"
    assert keys[0] is keys[1] is keys[3] and keys[2] is not keys[0]
    assert keys[0].transport_options["confirm_publish"] is True and keys[2].transport_options["confirm_publish"] is False
    assert nameko.amqp.publish.get_producer is framework.producer_for  # every nameko publish goes through it


def test_a_publish_reads_what_the_broker_sent_only_when_something_is_there():
    import socket
    import amqp
    ours, theirs = socket.socketpair()
    sent, drained = [], []
    connection = SimpleNamespace(drain_events=lambda timeout: drained.append(timeout), client_properties={},
                                 transport=SimpleNamespace(sock=ours, having_timeout=lambda t: contextlib.nullcontext()))
    channel = SimpleNamespace(connection=connection, send_method=lambda *args: sent.append(args))
    try:
        amqp.channel.Channel.basic_publish(channel, SimpleNamespace())
        assert drained == [] and len(sent) == 1  # nothing waiting: no read, no hub switch
        theirs.sendall(b"a Connection.Close")  # the broker closing the connection, say
        amqp.channel.Channel._basic_publish(channel, SimpleNamespace())
        assert drained == [0] and len(sent) == 2  # read first (py-amqp then raises, kombu reconnects)
    finally:
        ours.close()
        theirs.close()
    # py-amqp's own drain before every publish is off: the notice it is for is not asked for
    connection.client_properties = {"capabilities": {"connection.blocked": True}}
    framework.REPLACED["amqp.channel.Channel._basic_publish"](channel, SimpleNamespace())
    assert drained == [0, 0]  # (what it did when negotiated)
    assert "connection.blocked" not in amqp.Connection.negotiate_capabilities
    assert amqp.Connection.negotiate_capabilities["consumer_cancel_notify"]  # the others are kept


def test_each_publisher_class_owns_the_transport_options_nameko_writes_confirms_into(published):
    assert isinstance(vars(NamekoPublisher)["transport_options"], dict)  # a class attribute upstream
    for cls, confirms in ((EventPublisher, True), (MessagePublisher, False)):
        cls(AMQP_URI).publish({}, routing_key="anything")
        assert published[-1][2] is cls.transport_options  # nameko hands on the class's own dict...
        assert cls.transport_options["confirm_publish"] is confirms  # ...after writing into it
    assert len({id(EventPublisher.transport_options), id(MessagePublisher.transport_options),
                id(NamekoPublisher.transport_options)}) == 3
    assert published[0][1]["user_id"] == "someone"  # events are signed by the broker user


# -- the RPC wire format, spoken by hand by plumbing.revocation --------------------------------------------
def test_an_rpc_request_goes_out_as_nameko_sends_it_with_one_hop_context(published):
    listener = SimpleNamespace(routing_key="reply-key", _reply_events={})
    listener.get_reply_event = lambda correlation_id: listener._reply_events.setdefault(correlation_id, object())
    context = {"auth_token": "t", "idempotency_key": "k", "correlation_id": "c"}
    for entrypoint, carries_key in ((object(), False), (HttpRequestHandler("GET", "/"), True)):
        worker_ctx = SimpleNamespace(container=SimpleNamespace(config={"AMQP_URI": AMQP_URI}), data=context,
                                     context_data=dict(context), entrypoint=entrypoint)
        reply = TimedMethodProxy(worker_ctx, "gateway", "recent_revocations", listener, 1.0)._call()
        payload, kwargs, _ = published[-1]
        assert json.loads(json.dumps(payload)) == rpc_request()
        assert kwargs["routing_key"] == "gateway.recent_revocations" and kwargs["reply_to"] == "reply-key"
        assert kwargs["correlation_id"] == reply.correlation_id in listener._reply_events
        assert kwargs["headers"]["nameko.auth_token"] == "t"
        # a client's key goes from the gateway to the service it calls, not on from that service
        assert ("nameko.idempotency_key" in kwargs["headers"]) is carries_key
        # a worker's own key (TimedServiceProxy.keyed) goes with that one call, wherever it runs
        TimedServiceProxy(worker_ctx, "gateway", listener, 1.0).keyed("job-1:c-2").recent_revocations._call()
        assert published[-1][1]["headers"]["nameko.idempotency_key"] == "job-1:c-2"
        TimedServiceProxy(worker_ctx, "gateway", listener, 1.0).recent_revocations._call()
        assert published[-1][1]["headers"].get("nameko.idempotency_key") == (context["idempotency_key"]
                                                                            if carries_key else None)


def test_an_rpc_reply_is_what_rpc_result_reads(published):
    message = SimpleNamespace(properties={"content_type": "application/json", "reply_to": "key",
                                          "correlation_id": "c-1"})
    ReplyResponder(AMQP_URI, rpc_exchange({}), "json", message).send_response({"revocations": []}, None)
    payload, kwargs, options = published[-1]
    assert rpc_result(payload) == ({"revocations": []}, None)
    assert kwargs["routing_key"] == "key" and kwargs["correlation_id"] == "c-1"
    assert options["confirm_publish"] is False  # replies are not confirmed
    error = ValueError("no")
    ReplyResponder(AMQP_URI, rpc_exchange({}), "json", message).send_response(None, (ValueError, error, None))
    result, failure = rpc_result(published[-1][0])
    assert result is None and failure["exc_type"] == "ValueError"
    assert rpc_result("garbage")[1] and rpc_result({})[1]


# -- exchanges the operator declared -------------------------------------------------------------------
def test_kombu_skips_declaring_an_exchange_marked_undeclared():
    channel = mock.Mock()
    undeclared(Exchange("nameko-rpc", "topic")).declare(channel=channel)
    channel.exchange_declare.assert_not_called()
    Exchange("nameko-rpc", "topic").declare(channel=channel)
    channel.exchange_declare.assert_called_once()
    assert rpc_exchange({"BROKER_USERS": {"gateway": "vow_gateway"}}).no_declare
    assert not rpc_exchange({}).no_declare


# -- events ------------------------------------------------------------------------------------------
def test_an_event_s_worker_gets_only_the_context_headers_we_accept():
    handler = object.__new__(ReliableEventHandler)
    spawned = []
    handler.container = SimpleNamespace(spawn_worker=lambda entrypoint, args, kwargs, context_data, handle_result:
                                        spawned.append((args, context_data)))
    message = SimpleNamespace(headers={"nameko.auth_token": "smuggled", "nameko.idempotency_key": "k",
                                       "nameko.correlation_id": "c", "x-vow-attempts": 1})
    handler.start_worker("the event", message)
    assert spawned == [(("the event",), {"correlation_id": "c"})]


# -- the web server ----------------------------------------------------------------------------------
def test_eventlet_s_wsgi_server_is_built_with_our_timeouts_and_protocol():
    server = BoundedWebServer()
    server.read_timeout, server.idle_timeout = 3.0, 7.0
    sock = eventlet.listen(("127.0.0.1", 0))
    try:
        wsgi_server = server.get_wsgi_server(sock, lambda environ, start_response: [])
        assert (wsgi_server.keepalive, wsgi_server.socket_timeout, wsgi_server.read_timeout) == (7.0, 3.0, 3.0)
        assert wsgi_server.protocol is TimedHttpProtocol
    finally:
        sock.close()


# -- reconnecting after the broker comes back ----------------------------------------------------------
def reconnect_pauses(consumer, failures, monkeypatch):
    """The pauses (seconds) ``consumer`` takes before each connection attempt after the first while
    the broker refuses ``failures`` of them (no broker: the connect itself is replaced, and the
    clock advances only by kombu's sleeps)."""
    import kombu.connection
    import kombu.utils.functional
    clock, attempts = [0.0], []

    def connect(self):
        attempts.append(clock[0])
        if len(attempts) <= failures:
            raise ConnectionRefusedError(111, "Connection refused")
        self._connection = SimpleNamespace()
        return self._connection

    def sleep(seconds):
        clock[0] += seconds
    monkeypatch.setattr(kombu.connection.Connection, "_connection_factory", connect)
    monkeypatch.setattr(kombu.utils.functional, "sleep", sleep)
    monkeypatch.setattr(type(consumer), "on_connection_error", lambda self, exc, interval: None)
    monkeypatch.setattr(kombu.connection.Connection, "_close", lambda self: None)
    with consumer.establish_connection():
        pass
    assert len(attempts) == failures + 1
    return [later - earlier for earlier, later in zip(attempts, attempts[1:])]


def consumer_with_config(cls):
    consumer = cls()
    consumer.container = SimpleNamespace(config={"AMQP_URI": AMQP_URI})
    return consumer


@pytest.mark.parametrize("failures", [1, 5, 20])
def test_a_consumer_retries_at_once_then_every_second_however_long_the_broker_was_gone(failures, monkeypatch):
    pauses = reconnect_pauses(consumer_with_config(framework.QueueConsumer), failures, monkeypatch)
    assert pauses[0] == 0  # a dropped connection is retried at once (the broker may be up already)
    assert max(pauses) <= 1.0  # so back within a second of the broker


def test_nameko_s_own_consumer_would_sleep_up_to_30_seconds_between_attempts(monkeypatch):
    from nameko.messaging import QueueConsumer as NamekoQueueConsumer
    pauses = reconnect_pauses(consumer_with_config(NamekoQueueConsumer), 7, monkeypatch)
    assert pauses == [2, 4, 6, 8, 10, 12, 14]  # kombu's defaults: what RECONNECT_BACKOFF replaces


def test_broadcast_feeds_reconnect_as_quickly(monkeypatch):
    from plumbing.events import BroadcastFeed
    feed = BroadcastFeed()
    feed.connect({"AMQP_URI": AMQP_URI})
    assert max(reconnect_pauses(feed, 5, monkeypatch)) <= 1.0


@pytest.mark.parametrize("path", [
    "services.redemption.service:RedemptionService", "services.settlement.service:SettlementService",
    "services.campaign.service:CampaignService", "services.support.service:SupportService",
    "services.notification.service:NotificationService", "gateway.service:GatewayService"])
def test_every_consumer_of_a_process_shares_the_one_quickly_reconnecting_queue_consumer(path):
    from nameko.messaging import QueueConsumer as NamekoQueueConsumer
    module, name = path.split(":")
    container = ServiceContainer(getattr(importlib.import_module(module), name), {"AMQP_URI": AMQP_URI})
    consumers = [ext for ext in container.shared_extensions.values() if isinstance(ext, NamekoQueueConsumer)]
    assert [type(ext) for ext in consumers] == [framework.QueueConsumer]


def test_the_consumer_loop_looks_up_often_enough_for_a_container_to_stop_at_once(monkeypatch):
    import kombu.mixins
    seen = {}
    monkeypatch.setattr(kombu.mixins.ConsumerMixin, "consume", lambda self, *a, **kw: seen.update(kw) or iter(()))
    list(framework.QueueConsumer.consume(object.__new__(framework.QueueConsumer), limit=None))
    # kombu's 1 s made each cancelled consumer wait up to a second: 3 s to stop a container
    assert seen["safety_interval"] == framework.QueueConsumer.DRAIN_SECONDS <= 0.1
