"""Entrypoints that finish the worker's transaction before anyone hears the result.

Nameko calls an entrypoint's ``handle_result`` (which sends the RPC reply,
acks the message or answers the HTTP request) before dependency providers get
``worker_result``. ``FinishBeforeResult`` gives every dependency that has a
``finish_worker(worker_ctx, exc_info)`` hook (the database) the chance to
commit first; a failed commit turns into the error the caller receives.

RPC replies go out without publisher confirms and are not persisted: a reply
lost with a broker crash makes the caller time out and retry (with its
Idempotency-Key), which is cheaper than a confirm round trip on every call.
Events, which nobody can ask for again, are always persistent and confirmed.
"""
from nameko.rpc import Responder, Rpc as NamekoRpc, RpcConsumer, get_rpc_exchange

from plumbing.broker import operator_declares_exchanges
from plumbing.errors import EXPECTED_ERRORS
from plumbing.publishers import MessagePublisher


def finish_dependencies(worker_ctx, exc_info):
    for dependency in worker_ctx.container.dependencies:
        finish = getattr(dependency, "finish_worker", None)
        if finish is not None:
            exc_info = finish(worker_ctx, exc_info)
    return exc_info


class FinishBeforeResult:
    def handle_result(self, carrier, worker_ctx, result, exc_info):
        exc_info = finish_dependencies(worker_ctx, exc_info)
        if exc_info is not None:
            result = None
        return super().handle_result(carrier, worker_ctx, result, exc_info)


class ReplyResponder(Responder):
    publisher_cls = MessagePublisher


class ReplyingRpcConsumer(RpcConsumer):
    def setup(self):
        super().setup()
        if operator_declares_exchanges(self.container.config):
            self.queue.exchange.no_declare = True  # the bootstrap declared nameko-rpc

    def handle_result(self, message, result, exc_info):
        # nameko's, with a reply that is neither confirmed nor persisted
        config = self.container.config
        responder = ReplyResponder(config["AMQP_URI"], get_rpc_exchange(config),
                                   config.get("serializer", "json"), message,
                                   ssl=config.get("AMQP_SSL"), login_method=config.get("LOGIN_METHOD"))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


class Rpc(FinishBeforeResult, NamekoRpc):
    """nameko's ``@rpc``; our ``AppError``s are expected (logged without alarm)."""

    rpc_consumer = ReplyingRpcConsumer()

    def __init__(self, expected_exceptions=(), sensitive_arguments=(), **kwargs):
        expected = tuple(expected_exceptions) if isinstance(expected_exceptions, (tuple, list)) \
            else (expected_exceptions,)
        super().__init__(expected_exceptions=EXPECTED_ERRORS + expected,
                         sensitive_arguments=sensitive_arguments, **kwargs)


rpc = Rpc.decorator
