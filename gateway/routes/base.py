"""What every group of routes shares: its dependencies and how it reads a request."""
import json

from plumbing.auth import Caller
from plumbing.db import Database
from plumbing.errors import BadRequest, NotFound, UnsupportedMediaType, ValidationFailed
from plumbing.idempotency import Idempotency
from plumbing.logs import LogContext
from plumbing.metrics import Metrics
from plumbing.outbox import Outbox
from plumbing.rpc import RpcProxy
from plumbing.validation import check_structure, load
from gateway import storage
from gateway.auth import SessionIssuer
from gateway.throttle import SignInThrottle


class Routes:
    db = Database()
    events = Outbox()  # gateway.events (session_revoked), written with the change it announces
    caller = Caller()
    metrics = Metrics()
    log_context = LogContext()
    idempotency = Idempotency()  # the gateway's own creating routes are @idempotent (plumbing.idempotency)
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
