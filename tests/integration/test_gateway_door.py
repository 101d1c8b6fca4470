"""The gateway as a door: every route but sign-in, refresh, logout, the document and the portal
answers 401 to a caller without a token, whatever its handler does; and a request's
Idempotency-Key reaches the service the route calls, and no further."""
import uuid

import pytest
from nameko.extensions import DependencyProvider
from nameko.runners import ServiceRunner

from gateway.http import ApiServer, route
from gateway.openapi import routes_of
from gateway.service import GatewayService
from plumbing.auth import Caller
from plumbing.entrypoints import rpc
from plumbing.rpc import RpcProxy
from tests.integration.conftest import Api

PUBLIC_API = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"),
              ("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/openapi.json")}
PORTAL = "/portal"  # the portal's static files are public too
SAMPLE_VALUES = {"uuid": lambda: str(uuid.uuid4()), "int": lambda: "1"}


def sample_url(url):
    """``url`` with a value in each path parameter (of the converter's type)."""
    from gateway.http import PATH_PARAMETER
    return PATH_PARAMETER.sub(lambda m: SAMPLE_VALUES.get(m.group(1), lambda: "x")(), url)


def start(config, *service_classes):
    runner = ServiceRunner(config)
    for service_cls in service_classes:
        runner.add_service(service_cls)
    runner.start()
    return runner


def api_of(runner):
    container = next(iter(runner.containers))
    return Api("http://127.0.0.1:%d" % container.shared_extensions[ApiServer]._sock.getsockname()[1])


@pytest.fixture(scope="module")
def door_config(make_config, jwt_keys, amqp_uri):
    """Config on an RPC exchange of this module's own (declared by the admin, who connects here),
    so the services below are the only ones the gateway reaches."""
    exchange = "door-" + uuid.uuid4().hex[:8]

    def config(component, **overrides):
        return make_config(component, AMQP_URI=amqp_uri, BROKER_USERS={}, rpc_exchange=exchange, **overrides)
    return config


@pytest.fixture(scope="module")
def gateway(door_config, jwt_keys):
    runner = start(door_config("gateway", WEB_SERVER_ADDRESS="127.0.0.1:0", JWT_PRIVATE_KEY=jwt_keys[0]),
                   GatewayService)
    yield api_of(runner)
    runner.stop()


# -- authenticated unless declared public ---------------------------------------------------------
def test_every_route_but_the_public_ones_answers_401_without_a_token(gateway):
    routes = [entrypoint for _, entrypoint in routes_of(GatewayService)]
    assert len(routes) > 50  # the walk reaches every route the document lists
    public = {(r.method, r.url) for r in routes if r.public}
    assert {key for key in public if not key[1].startswith(PORTAL)} == PUBLIC_API
    for entrypoint in routes:
        url = sample_url(entrypoint.url)
        anonymous = gateway.request(entrypoint.method, url)
        if entrypoint.public:
            assert anonymous.status_code != 401, (entrypoint.method, url, anonymous.text)
            continue
        assert anonymous.status_code == 401, (entrypoint.method, url, anonymous.text)
        assert anonymous.json()["error"]["code"] == "token_missing"
        assert anonymous.headers["X-Request-ID"]  # a refusal names its log lines too
        forged = gateway.request(entrypoint.method, url, token="not.a.token")
        assert forged.status_code == 401 and forged.json()["error"]["code"] == "token_invalid", url


class Forgetful:
    """Routes whose handlers never ask who is calling."""
    name = "forgetful"
    caller = Caller()

    @route("GET", "/api/v1/forgotten", summary="A handler that forgot to check")
    def forgotten(self, request):
        return {"reached": True}

    @route("GET", "/api/v1/open", summary="Meant for everyone", public=True)
    def open_door(self, request):
        return {"open": True}


def test_a_route_is_signed_in_even_when_its_handler_forgets(door_config, jwt_keys, token_for):
    runner = start(door_config("gateway", WEB_SERVER_ADDRESS="127.0.0.1:0"), Forgetful)
    try:
        api = api_of(runner)
        refused = api.get("/api/v1/forgotten")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_missing"
        assert api.get("/api/v1/forgotten", token_for("finance", merchant_id=str(uuid.uuid4()))).json() == \
            {"reached": True}
        assert api.get("/api/v1/open").json() == {"open": True}
    finally:
        runner.stop()


# -- the Idempotency-Key travels one hop ------------------------------------------------------------
class Context(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return worker_ctx.data


class Notification:
    """Stands in for the notification service: says what its worker's context carried, and what
    the worker of a service it calls was given."""
    name = "notification"
    context = Context()
    campaign = RpcProxy("campaign")

    @rpc
    def mark_all_read(self):
        return {"here": self.context.get("idempotency_key"),
                "onward": self.campaign.idempotency_key_seen(),
                "correlated": self.context.get("correlation_id") is not None}


class Campaign:
    name = "campaign"
    context = Context()

    @rpc
    def idempotency_key_seen(self):
        return self.context.get("idempotency_key")


@pytest.fixture(scope="module")
def services(door_config, gateway):
    runner = start(door_config("notification"), Notification, Campaign)
    yield
    runner.stop()


def test_the_idempotency_key_reaches_the_service_the_route_calls_and_no_further(gateway, services, token_for):
    owner = token_for("owner", merchant_id=str(uuid.uuid4()))
    read_all = "/api/v1/notifications/read-all"
    key = "till-3-" + uuid.uuid4().hex
    seen = gateway.post(read_all, owner, headers={"Idempotency-Key": key}).json()
    assert seen == {"here": key, "onward": None, "correlated": True}
    assert gateway.post(read_all, owner).json()["here"] is None
    for bad in ("k" * 201, "tab\tinside"):
        refused = gateway.post(read_all, owner, headers={"Idempotency-Key": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "idempotency_key_invalid"
        assert list(refused.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert gateway.post(read_all, owner, headers={"Idempotency-Key": "k" * 200}).json()["here"] == "k" * 200
