"""How the gateway's routes are declared: a pass-through is one ``forward(...)`` that calls a method
the target service really has, with the arguments it takes; a route that is not public cannot be
built without a way to verify its caller."""
import inspect
import uuid
import warnings

import pytest
from nameko.containers import ServiceContainer
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.http import forward, route
from gateway.openapi import build_spec, routes_of
from gateway.service import GatewayService
from plumbing.errors import ValidationFailed
from plumbing.framework import Rpc
from tests.conftest import service_classes

SERVICES = {service.name: service for service in service_classes()}


def forwarded_routes():
    return [(name, getattr(GatewayService, name).forwarded) for name, _ in routes_of(GatewayService)
            if hasattr(getattr(GatewayService, name), "forwarded")]


def request(query=None, json=None, method="GET"):
    return Request(EnvironBuilder(path="/", method=method, query_string=query, json=json).get_environ())


def test_most_routes_are_declared_pass_throughs():
    assert len(forwarded_routes()) >= 40


@pytest.mark.parametrize("spec", [spec for _, spec in forwarded_routes()],
                         ids=[name for name, _ in forwarded_routes()])
def test_a_forwarded_route_calls_an_rpc_its_service_has_with_the_arguments_it_takes(spec):
    method = getattr(SERVICES[spec.service], spec.rpc_method)
    assert any(isinstance(entrypoint, Rpc) for entrypoint in method.nameko_entrypoints), spec.target
    inspect.signature(method).bind(None, *range(spec.arity))  # a TypeError when they disagree


def test_forward_sends_path_values_constants_the_body_as_sent_then_the_query_or_merchant():
    customer, merchant = uuid.uuid4(), str(uuid.uuid4())
    points = GatewayService.adjust_points.forwarded
    body = {"points": "not even a number", "unknown": True}  # the service's schema judges it, not the gateway
    sent = points.arguments(request(query={"merchant_id": merchant}, json=body, method="POST"),
                            {"customer_id": customer})
    assert sent == [str(customer), body, merchant]
    suspend = GatewayService.suspend_agreement.forwarded
    assert suspend.arguments(request(json={"reason": "audit"}, method="POST"), {"agreement_id": customer}) == \
        [str(customer), "suspend", {"reason": "audit"}]
    listing = GatewayService.list_campaigns.forwarded
    assert listing.arguments(request(query={"limit": "5", "anything": "x"}), {}) == [{"limit": "5", "anything": "x"}]
    # only ?merchant_id reaches the service: the rest of a declared query is checked here
    with pytest.raises(ValidationFailed) as refused:
        GatewayService.get_campaign.forwarded.arguments(request(query={"merchant": merchant}),
                                                        {"campaign_id": customer})
    assert "merchant" in refused.value.fields
    # undeclared, as before: passed on untouched
    assert GatewayService.get_ticket.forwarded.arguments(request(query={"merchant_id": "m"}),
                                                         {"reference": "SUP-1"}) == ["SUP-1", "m"]


def test_a_forwarded_route_is_named_and_documented_like_a_written_one():
    handler = GatewayService.list_vouchers
    [entrypoint] = handler.nameko_entrypoints
    assert handler.__name__ == "list_vouchers" and entrypoint.url == "/api/v1/vouchers"
    assert entrypoint.query is not None and entrypoint.response is not None and not entrypoint.public


class Unverifiable:
    name = "unverifiable"

    @route("GET", "/api/v1/somewhere", summary="Not public, and nothing to verify a token with")
    def somewhere(self, request):
        return {}

    nowhere = forward("GET", "/api/v1/nowhere", "campaign.list_campaigns", summary="Likewise")


def test_a_route_that_is_not_public_cannot_start_without_a_caller():
    container = ServiceContainer(Unverifiable, {"WEB_SERVER_ADDRESS": "127.0.0.1:0"})
    with pytest.raises(RuntimeError, match="not public"):
        container.start()


def test_every_schema_in_the_api_document_has_a_name_of_its_own():
    # apispec renames a second schema class of one name ("Reason1") with a warning; a client generator
    # would then name types after the order routes happen to be read in
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        schemas = build_spec(GatewayService)["components"]["schemas"]
    assert not [name for name in schemas if name[-1].isdigit()]
