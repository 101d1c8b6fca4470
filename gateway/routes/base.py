"""What every group of routes shares: its dependencies and how it reads a request."""
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider

from plumbing.auth import ACTING_CUSTOMER_KEY, BUYER_APP, TOKEN_CONTEXT_KEY, Caller
from plumbing.db import Database
from plumbing.errors import Forbidden, NotFound, ValidationFailed
from plumbing.idempotency import Idempotency
from plumbing.logs import LogContext
from plumbing.metrics import Metrics
from plumbing.outbox import Outbox
from plumbing.rpc import RpcProxy
from plumbing.validation import bounded_fields, flatten_messages, instance_of, load, require_id
from gateway import storage
from gateway.auth import SessionIssuer
from gateway.http import json_body
from gateway.throttle import SignInThrottle


def read_field(schema, name, data):
    """``data[name]`` as ``schema``'s field of that name loads it (None when absent or not a field
    of it); ValidationError when it does not load."""
    field = instance_of(schema).fields.get(name)
    if field is None or data.get(name) is None:
        return None
    return field.deserialize(data[name], name, data)


def read_own_field(schema, name, data):
    """``read_field``, for a field the gateway acts on itself: one that does not load is refused
    (422) here, as the service would refuse it."""
    try:
        return read_field(schema, name, data)
    except ValidationError as error:
        raise ValidationFailed("Some fields are not valid",
                               fields=bounded_fields(flatten_messages({name: error.messages})))


CUSTOMER_HEADER = "X-Customer-Id"


class WorkerData(DependencyProvider):
    """The worker's context data (what follows it into every RPC call)."""

    def get_dependency(self, worker_ctx):
        return worker_ctx.data


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
    worker_data = WorkerData()

    def before_route(self, request):
        """A buyer app names the customer it acts for in ``X-Customer-Id``; the gateway vouches for
        it (campaign says it is a customer of the app's merchant) before the request goes on, and
        services read it as ``Identity.customer_id``. Nobody else may name one."""
        customer_id = request.headers.get(CUSTOMER_HEADER)
        if not customer_id or not self.worker_data.get(TOKEN_CONTEXT_KEY):
            return  # no token: a public route (signing in), or one that answered 401 already
        customer_id = require_id(customer_id, CUSTOMER_HEADER)
        self.worker_data[ACTING_CUSTOMER_KEY] = customer_id  # before the identity is read: it carries it
        if self.identity.role != BUYER_APP:
            self.worker_data.pop(ACTING_CUSTOMER_KEY, None)
            raise Forbidden("Only a buyer app acts for a customer (%s)" % CUSTOMER_HEADER,
                            code="customer_not_allowed")
        try:
            self.campaign.get_customer_contact(customer_id)
        except (NotFound, Forbidden):
            self.worker_data.pop(ACTING_CUSTOMER_KEY, None)
            raise Forbidden("That customer is not one of this merchant's", code="customer_forbidden",
                            fields={CUSTOMER_HEADER: ["Not a customer of this merchant."]})

    # -- reading requests ----------------------------------------------------------
    def body(self, request, schema=None):
        """The JSON body, loaded by ``schema`` when given: only for what the gateway itself owns
        (a body meant for a service is passed on as sent, and the service validates it)."""
        data = json_body(request)
        return load(schema, data) if schema is not None else data

    def query(self, request, schema):
        return load(schema, request.args.to_dict(), message="Some query parameters are not valid")

    @property
    def identity(self):
        """The caller (the route verified the token before the handler started)."""
        return self.caller.identity

    # -- stores: the gateway owns them, so it vouches for a store a caller names --------
    def check_stores(self, identity, data, schema):
        """Vouch for the stores a body for a service names (``store_id``, ``store_ids``) at the
        merchant it names (``merchant_id``), reading each field as ``schema``, the service's
        contract, loads it. A field that does not load is left for the service to refuse."""
        try:
            merchant_id = read_field(schema, "merchant_id", data)
            store_ids = [read_field(schema, "store_id", data)] + list(read_field(schema, "store_ids", data) or ())
        except ValidationError:
            return
        for store_id in store_ids:
            self.check_store(identity, store_id, merchant_id)

    def check_store(self, identity, store_id, merchant_id=None):
        if store_id is None:
            return None
        store = storage.store_by_id(self.db, store_id)
        owner = merchant_id or identity.merchant_id
        if store is None or str(store["merchant_id"]) != str(owner):
            raise NotFound("No store %s at this merchant" % store_id, code="store_not_found",
                           fields={"store_id": ["Not a store of this merchant."]})
        return store
