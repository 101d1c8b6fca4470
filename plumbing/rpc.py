"""Service-to-service RPC with a deadline.

nameko's ``RpcProxy`` waits for a reply forever; a broken downstream must
instead become a clear ``ServiceUnavailable`` within ``RPC_TIMEOUT`` seconds.
A late reply is dropped by the reply listener (its correlation id is gone).

Requests are neither persisted nor confirmed: a request lost with the broker
times out like one to a stopped service, and the client retries it (with its
Idempotency-Key). A confirm would only speed up the answer for a service
whose queue never existed, at the price of a round trip on every call. The
caller's context (token, correlation id) travels with every call; a client's
``idempotency_key`` only from the gateway to the service it calls.
How this is done inside nameko is in ``plumbing.framework``.
"""
from plumbing.framework import RpcProxy  # noqa: F401
