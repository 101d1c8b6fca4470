"""What every group of routes shares: its dependencies and how it reads a request."""
import hashlib
import json

from plumbing.auth import Caller
from plumbing.db import Database
from plumbing.errors import (AppError, BadRequest, Conflict, NotFound, UnsupportedMediaType,
                             ValidationFailed)
from plumbing.logs import LogContext
from plumbing.metrics import Metrics
from plumbing.outbox import Outbox
from plumbing.rpc import RpcProxy
from plumbing.validation import check_structure, load
from gateway import storage
from gateway.auth import SessionIssuer
from gateway.throttle import SignInThrottle

IDEMPOTENCY_HEADER = "Idempotency-Key"


class Routes:
    db = Database()
    events = Outbox()  # gateway.events (session_revoked), written with the change it announces
    caller = Caller()
    metrics = Metrics()
    log_context = LogContext()
    sessions = SessionIssuer()
    throttle = SignInThrottle()
    redemption = RpcProxy("redemption")
    settlement = RpcProxy("settlement")
    support = RpcProxy("support")
    notification = RpcProxy("notification")
    campaign = RpcProxy("campaign")

    # -- reading requests ----------------------------------------------------------
    def body(self, request, schema=None):
        """The JSON body, validated by ``schema`` when given."""
        content_type = (request.mimetype or "").lower()
        raw = request.get_data(cache=True)
        if not raw:
            data = {}
        elif content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType("Send the body as application/json")
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                raise BadRequest("The body is not valid JSON", code="invalid_json")
            except RecursionError:
                raise BadRequest("The body is nested too deeply", code="invalid_json")
        if not isinstance(data, dict):
            raise ValidationFailed("The body must be a JSON object", code="invalid_body",
                                   fields={"_schema": ["Expected a JSON object."]})
        check_structure(data)  # no NUL, no lone surrogate, no absurd nesting: whatever the route does next
        return load(schema, data) if schema is not None else data

    def checked_body(self, request, schema):
        """The JSON body as sent, once ``schema`` accepts it (to pass on over RPC as JSON)."""
        data = self.body(request)
        load(schema, data)
        return data

    def query(self, request, schema):
        return load(schema, request.args.to_dict(), message="Some query parameters are not valid")

    def checked_query(self, request, schema):
        data = request.args.to_dict()
        load(schema, data, message="Some query parameters are not valid")
        return data

    @property
    def identity(self):
        return self.caller.identity

    # -- stores: the gateway owns them, so it vouches for a store a caller names --------
    def check_store(self, identity, store_id, merchant_id=None):
        if store_id is None:
            return None
        store = storage.store_by_id(self.db, store_id)
        owner = merchant_id or identity.merchant_id
        if store is None or str(store["merchant_id"]) != str(owner):
            raise NotFound("No store %s at this merchant" % store_id, code="store_not_found",
                           fields={"store_id": ["Not a store of this merchant."]})
        return store

    # -- idempotency ------------------------------------------------------------------
    def idempotent(self, request, handler):
        """Run ``handler()`` once per ``Idempotency-Key``: a retry gets the first answer.

        The key is claimed (and committed) before the work, so a concurrent retry
        finds it in progress instead of doing the work twice. A client error is
        remembered like a success; a server-side failure frees the key for a retry.
        Either way the work's own writes are rolled back first: after a refused
        insert (a taken name) the transaction is aborted, and the answer must still
        be recorded.
        """
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            return handler()
        if len(key) > 200:
            raise ValidationFailed("Idempotency-Key is too long", code="idempotency_key_invalid",
                                   fields={IDEMPOTENCY_HEADER: ["At most 200 characters."]})
        identity = self.identity
        fingerprint = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n"
                                     + request.get_data(cache=True)).hexdigest()
        if not storage.claim_idempotency_key(self.db, identity.user_id, key, request.method,
                                             request.path, fingerprint):
            return self._replay(identity, key, fingerprint)
        self.db.commit()
        try:
            result = handler()
        except AppError as error:
            self.db.rollback()
            if error.status >= 500:
                storage.release_idempotency_key(self.db, identity.user_id, key)
                self.db.commit()
                raise
            storage.complete_idempotency_key(self.db, identity.user_id, key, error.status,
                                             {"error": error.as_dict()})
            self.db.commit()
            raise
        except Exception:
            self.db.rollback()
            storage.release_idempotency_key(self.db, identity.user_id, key)
            self.db.commit()
            raise
        status, body = result if isinstance(result, tuple) else (200, result)
        storage.complete_idempotency_key(self.db, identity.user_id, key, status, body)
        return status, body

    def _replay(self, identity, key, fingerprint):
        record = storage.idempotency_record(self.db, identity.user_id, key)
        if record["request_hash"] != fingerprint:
            raise ValidationFailed("This Idempotency-Key was used for a different request",
                                   code="idempotency_key_reused",
                                   fields={IDEMPOTENCY_HEADER: ["Already used for another request."]})
        if record["completed_at"] is None:
            raise Conflict("A request with this Idempotency-Key is still in progress",
                           code="idempotency_key_in_progress")
        return record["status_code"], record["response"]
