"""A service's own work (a timer, a handler) calling another service acts as that service.

It carries no user's token; the callee knows the caller by the broker user RabbitMQ validated
for the request (the message's ``user_id``), never by what a header says, and only a service's
user counts (not the gateway's: a request it passes on without a token stays anonymous).
"""
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from nameko.timer import timer

from plumbing.auth import SYSTEM, Caller
from plumbing.entrypoints import rpc
from plumbing.errors import Forbidden, Unauthenticated
from plumbing.rpc import RpcProxy


class Callee:
    name = "identity_callee"
    caller = Caller()

    @rpc
    def whoami(self):
        identity = self.caller.identity
        return {"role": identity.role, "user_id": identity.user_id}


def caller_class(service_name):
    class Calling:
        name = service_name  # its reply queue must be one its broker user may declare
        callee = RpcProxy("identity_callee")

        @timer(interval=3600)
        def ask(self):
            return self.callee.whoami()
    return Calling


@pytest.fixture(scope="module")
def callee(make_config, amqp_uri):
    # a service of its own name declares its own queue: as the broker admin
    container = ServiceContainer(Callee, make_config("settlement", AMQP_URI=amqp_uri))
    container.start()
    yield container
    container.stop()


def ask_as(make_config, component):
    container = ServiceContainer(caller_class(component), make_config(component))
    container.start()
    try:
        with entrypoint_hook(container, "ask") as ask:
            return ask()
    finally:
        container.stop()


def test_a_services_own_work_acts_as_that_service(callee, make_config):
    assert ask_as(make_config, "redemption") == {"role": SYSTEM, "user_id": "service:redemption"}
    assert ask_as(make_config, "support") == {"role": SYSTEM, "user_id": "service:support"}


def test_the_gateway_passing_a_request_on_without_a_token_stays_anonymous(callee, make_config):
    with pytest.raises(Unauthenticated) as refused:
        ask_as(make_config, "gateway")
    assert refused.value.code == "token_missing"


def test_a_header_cannot_claim_a_service(callee, make_config, amqp_uri, broker_users):
    redemption_user = broker_users["redemption"]["user"]
    for claim in ({"broker_user": redemption_user}, {"nameko.broker_user": redemption_user}):
        # a standalone client (the broker admin) puts the claim in its headers
        with ServiceRpcProxy("identity_callee", make_config("settlement", AMQP_URI=amqp_uri),
                             context_data=dict(claim), timeout=10) as proxy:
            with pytest.raises(Unauthenticated) as refused:
                proxy.whoami()
            assert refused.value.code == "token_missing"


# -- the gateway's directory: whom a service's own work must reach --------------------------------
def directory_caller(query):
    class Asking:
        name = "notification"
        gateway = RpcProxy("gateway")

        @timer(interval=3600)
        def ask(self):
            return self.gateway.directory(query)
    return Asking


def test_a_service_finds_the_people_of_a_merchant_in_the_gateways_directory(system, onboard, make_config):
    shop = onboard()
    merchant = shop["merchant"]["id"]
    container = ServiceContainer(directory_caller({"merchant_id": merchant, "roles": ["owner", "support_agent"]}),
                                 make_config("notification"))
    container.start()
    try:
        with entrypoint_hook(container, "ask") as ask:
            found = ask()["items"]
    finally:
        container.stop()
    assert sorted(entry["role"] for entry in found) == ["owner", "support_agent"]
    assert all(entry["merchant_id"] == merchant and entry["username"] for entry in found)


def test_a_merchants_staff_read_only_their_own_merchants_directory(system, onboard, make_config, amqp_uri):
    shop, other = onboard(), onboard()
    context = {"auth_token": shop["tokens"]["support_agent"]}
    with ServiceRpcProxy("gateway", make_config("gateway", AMQP_URI=amqp_uri), context_data=context,
                         timeout=10) as gateway:
        own = gateway.directory({"roles": ["finance"]})["items"]
        assert [entry["merchant_id"] for entry in own] == [shop["merchant"]["id"]]
        with pytest.raises(Forbidden) as refused:
            gateway.directory({"merchant_id": other["merchant"]["id"]})
        assert refused.value.code == "merchant_forbidden"
        # the platform's own users are the services' to look up, not a merchant's staff's
        assert gateway.directory({"roles": ["admin"]})["items"] == []
