"""Entrypoints that finish the worker's transaction before anyone hears the result.

Nameko calls an entrypoint's ``handle_result`` (which sends the RPC reply,
acks the message or answers the HTTP request) before dependency providers get
``worker_result``. ``FinishBeforeResult`` gives every dependency that has a
``finish_worker(worker_ctx, exc_info)`` hook (the database) the chance to
commit first; a failed commit turns into the error the caller receives.
"""
from nameko.rpc import Rpc as NamekoRpc

from plumbing.errors import EXPECTED_ERRORS


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


class Rpc(FinishBeforeResult, NamekoRpc):
    """nameko's ``@rpc``; our ``AppError``s are expected (logged without alarm)."""

    def __init__(self, expected_exceptions=(), sensitive_arguments=(), **kwargs):
        expected = tuple(expected_exceptions) if isinstance(expected_exceptions, (tuple, list)) \
            else (expected_exceptions,)
        super().__init__(expected_exceptions=EXPECTED_ERRORS + expected,
                         sensitive_arguments=sensitive_arguments, **kwargs)


rpc = Rpc.decorator
