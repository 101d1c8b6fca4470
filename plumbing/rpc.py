"""Service-to-service RPC with a deadline.

nameko's ``RpcProxy`` waits for a reply forever; a broken downstream must
instead become a clear ``ServiceUnavailable`` within ``RPC_TIMEOUT`` seconds.
A late reply is dropped by the reply listener (its correlation id is gone).
"""
import uuid

import eventlet
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko.amqp.publish import UndeliverableMessage
from nameko.exceptions import UnknownService
from nameko.rpc import (MethodProxy, ReplyListener as NamekoReplyListener, RpcProxy as NamekoRpcProxy,
                        RpcReply, ServiceProxy, get_rpc_exchange)

from plumbing.broker import operator_declares_exchanges
from plumbing.errors import ServiceUnavailable
from plumbing.publishers import MessagePublisher


class TimedMethodProxy(MethodProxy):
    publisher_cls = MessagePublisher

    def __init__(self, worker_ctx, service_name, method_name, reply_listener, timeout, **options):
        self.timeout = timeout
        super().__init__(worker_ctx, service_name, method_name, reply_listener, **options)

    def __call__(self, *args, **kwargs):
        try:
            reply = self._call(*args, **kwargs)
        except UnknownService:
            raise ServiceUnavailable("The %s service is not running" % self.service_name,
                                     code="service_unavailable")
        except (KombuOperationalError, OSError) as exc:
            raise ServiceUnavailable("The message broker is unreachable: %s" % exc,
                                     code="broker_unavailable")
        try:
            with eventlet.Timeout(self.timeout):
                return reply.result()
        except eventlet.Timeout:
            self.reply_listener._reply_events.pop(reply.correlation_id, None)
            raise ServiceUnavailable(
                "The %s service did not answer within %.0f seconds" % (self.service_name, self.timeout),
                code="service_timeout")

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
    def __init__(self, worker_ctx, service_name, reply_listener, timeout, **options):
        self.timeout = timeout
        super().__init__(worker_ctx, service_name, reply_listener, **options)

    def __getattr__(self, name):
        return TimedMethodProxy(self.worker_ctx, self.service_name, name, self.reply_listener,
                                self.timeout, **self.options)


class ReplyListener(NamekoReplyListener):
    def setup(self):
        super().setup()
        if operator_declares_exchanges(self.container.config):
            self.queue.exchange.no_declare = True  # the bootstrap declared nameko-rpc


class RpcProxy(NamekoRpcProxy):
    """``RpcProxy("redemption")``: calls time out after ``RPC_TIMEOUT`` seconds.

    Requests are neither persisted nor confirmed: a request lost with the broker
    times out like one to a stopped service, and the client retries it (with its
    Idempotency-Key). A confirm would only speed up the answer for a service
    whose queue never existed, at the price of a round trip on every call.
    """

    rpc_reply_listener = ReplyListener()

    def __init__(self, target_service, timeout=None, **options):
        self.timeout = timeout
        super().__init__(target_service, **options)

    def get_dependency(self, worker_ctx):
        timeout = self.timeout or float(self.container.config.get("RPC_TIMEOUT", 5.0))
        return TimedServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                                 timeout, **self.options)
