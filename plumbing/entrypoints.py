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
How this is done inside nameko is in ``plumbing.framework``.
"""
from plumbing.errors import EXPECTED_ERRORS
from plumbing.framework import FinishBeforeResult, Rpc as ReplyingRpc, finish_dependencies  # noqa: F401


class Rpc(ReplyingRpc):
    """nameko's ``@rpc``; our ``AppError``s are expected (logged without alarm)."""

    def __init__(self, expected_exceptions=(), sensitive_arguments=(), **kwargs):
        expected = tuple(expected_exceptions) if isinstance(expected_exceptions, (tuple, list)) \
            else (expected_exceptions,)
        super().__init__(expected_exceptions=EXPECTED_ERRORS + expected,
                         sensitive_arguments=sensitive_arguments, **kwargs)


rpc = Rpc.decorator
