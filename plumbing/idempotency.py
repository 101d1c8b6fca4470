"""One idempotency mechanism: a retried request is answered as the first one was.

    @rpc
    @idempotent
    def issue_voucher(self, data): ...

A client sends an ``Idempotency-Key`` header with a request that creates something;
the gateway puts it into the worker's context data (``idempotency_key``), so it
travels with the RPC to the service that does the work (the gateway's own
creating routes use it the same way). There, in the service's own transaction and
its own ``idempotency_keys`` table:

* the key is claimed, scoped by caller (the user) and method, with a hash of the
  request: an INSERT, sent ahead of the method's work (``claim_with_first_statement``:
  in the same round trip as its first statement, for the till's hot path); the
  answer is written with the COMMIT. Both go with statements the transaction sends
  anyway, so the effect and its key are committed together, or neither is;
* a retry finds the key taken and gets the stored answer; a different request under
  the key is refused (422 ``idempotency_key_reused``);
* two copies at once serialise on the key: the second's INSERT waits for the first's
  transaction, then finds the key and answers as the first did (if the first failed,
  the second goes ahead);
* an error rolls the claim back with everything else, so a retry meets the same
  refusal rather than a key spent on nothing;
* the key is taken out of the worker's context once claimed: what the method asks
  of other services is part of its effect and does not carry the client's key.
  ``self.idempotency.stable_id()`` gives an id that is the same for every retry, for
  such a call to be idempotent on its own terms (a points reservation by redemption id).

Claiming "at once" (the default) is one round trip before the method runs: right
for methods that call another service before their first statement, where a
claim sent later would come after the call.
"""
import functools
import hashlib
import json
import uuid

import psycopg2
from nameko.extensions import DependencyProvider

from plumbing.errors import AppError, Conflict, ValidationFailed
from plumbing.fields import new_id

CONTEXT_KEY = "idempotency_key"
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
CONSTRAINT = "idempotency_keys_pkey"  # plumbing.migrations.IDEMPOTENCY_KEYS_SQL
_IDS = uuid.UUID("5b0d6f0e-3c1a-4f59-9a57-0f4c8e2b7d11")  # the namespace of stable ids

CLAIM = "INSERT INTO idempotency_keys (caller, method, key, request_hash) VALUES (%s, %s, %s, %s)"
ANSWER = "UPDATE idempotency_keys SET answer = %s WHERE caller = %s AND method = %s AND key = %s"
STORED = "SELECT request_hash, answer FROM idempotency_keys WHERE caller = %s AND method = %s AND key = %s"


def key_reused():
    return ValidationFailed("This Idempotency-Key was used for a different request", code="idempotency_key_reused",
                            fields={HEADER: ["Already used for another request."]})


def checked_key(key):
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed("Idempotency-Key is too long", code="idempotency_key_invalid",
                               fields={HEADER: ["At most %d characters." % MAX_KEY_LENGTH]})
    return key


def _canonical(value):
    if hasattr(value, "get_data") and hasattr(value, "full_path"):  # an HTTP request (a gateway route)
        return {"method": value.method, "path": value.full_path,
                "body": hashlib.sha256(value.get_data(cache=True)).hexdigest()}
    return value


def request_hash(args, kwargs):
    """What makes two requests under one key 'the same request': every argument."""
    canonical = {"args": [_canonical(arg) for arg in args], "kwargs": kwargs}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def _encode(result):
    # a route answers (status, body) or (status, headers, body): a tuple comes back a tuple
    return {"tuple": list(result)} if isinstance(result, tuple) else {"value": result}


def _decode(answer):
    return tuple(answer["tuple"]) if "tuple" in answer else answer["value"]


class IdempotentRequest:
    """What a worker sees as ``self.idempotency``."""

    def __init__(self, worker_ctx):
        self._worker_ctx = worker_ctx
        self.key = self.caller = self.method = None

    def take(self, caller, method):
        """The request's key (None without one), taken out of the context; remembered with its scope."""
        context = self._worker_ctx.data
        key = context.get(CONTEXT_KEY)
        if not key:
            return None
        # a new dict: the one the worker was started with may be its caller's (nameko's test hooks)
        self._worker_ctx.data = {name: value for name, value in context.items() if name != CONTEXT_KEY}
        self.key, self.caller, self.method = checked_key(key), str(caller), method
        return key

    def stable_id(self):
        """An id for what this request creates: the same for every retry under its key (derived from
        the key's scope), random without one."""
        if self.key is None:
            return new_id()
        return str(uuid.uuid5(_IDS, "\n".join((self.caller, self.method, self.key))))


class Idempotency(DependencyProvider):
    """``self.idempotency`` in a worker (see ``idempotent``)."""

    def get_dependency(self, worker_ctx):
        return IdempotentRequest(worker_ctx)


def idempotent(method=None, *, claim_with_first_statement=False):
    """Declare an entrypoint idempotent under the request's Idempotency-Key (see the module doc).

    The service has ``db`` (``plumbing.db.Database``), ``caller`` (``plumbing.auth.Caller``) and
    ``idempotency`` (``Idempotency``); ``ServiceBase`` and the gateway's ``Routes`` do.
    ``claim_with_first_statement``: the claim rides on the method's first statement, which must
    come before anything it asks of another service.
    """
    if method is None:
        return functools.partial(idempotent, claim_with_first_statement=claim_with_first_statement)

    @functools.wraps(method)
    def entrypoint(self, *args, **kwargs):
        request = self.idempotency
        if request.take(self.caller.identity.user_id, method.__name__) is None:
            return method(self, *args, **kwargs)
        tx = self.db
        scope = (request.caller, request.method, request.key)
        fingerprint = request_hash(args, kwargs)
        try:
            if claim_with_first_statement:
                tx.lead(CLAIM, scope + (fingerprint,))
            else:
                tx.execute(CLAIM, scope + (fingerprint,))
            try:
                result = method(self, *args, **kwargs)
            except AppError:
                # refused before its first statement: was it refused, or is this a retry of a request
                # that succeeded (with a short-lived QR code that has expired since, say)?
                tx.flush()
                raise
            tx.flush()  # a method that sent no statement: the claim goes now, before anyone hears the answer
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != CONSTRAINT:
                raise
            tx.rollback()  # this copy's work (nothing, or what its first statement did) is not wanted
            return _stored_answer(tx, scope, fingerprint)
        tx.defer(ANSWER, (json.dumps(_encode(result), default=str),) + scope)
        return result

    return entrypoint


def _stored_answer(tx, scope, fingerprint):
    row = tx.one(STORED, scope)
    if row is None:  # nothing deletes keys; should one vanish, the client may simply retry
        raise Conflict("A request with this Idempotency-Key is still in progress",
                       code="idempotency_key_in_progress")
    if row["request_hash"] != fingerprint or row["answer"] is None:
        raise key_reused()
    return _decode(row["answer"])
