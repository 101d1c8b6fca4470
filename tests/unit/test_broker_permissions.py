"""The broker permissions each component's user gets, and how a component finds its credentials.

RabbitMQ grants an operation when the resource's name matches the user's configure, write or
read regular expression (unanchored, hence the anchors): these check the expressions against
the names the services really use, and against every other component's.
"""
import base64
import hashlib
import re
import uuid
from types import SimpleNamespace

import pytest

from plumbing import broker
from plumbing import config as cfg
from plumbing import topology
from plumbing.events import PUBLISHER_HEADER, ReliableEventHandler
from plumbing.publishers import EventPublisher
from services.redemption.contract.events import VoucherRedeemed

COMPONENTS = cfg.ALL_COMPONENTS
QUEUES = topology.subscriber_queues()


def allowed(component, permission, name):
    return re.search(broker.permissions(component)[permission], name) is not None


def own_queues(component):
    return QUEUES.get(component, []) + [
        "rpc-" + component, "rpc.reply-%s-%s" % (component, uuid.uuid4()),
        component + ".retry.1000", component + ".retry.600000", "broadcast.%s.%s" % (component, uuid.uuid4().hex)]


def test_every_service_subscribes_through_queues_the_permissions_know():
    assert sum(len(q) for q in QUEUES.values()) >= 8
    for service, queues in QUEUES.items():
        for name in queues:
            assert name.startswith("evt-") and name.split("--")[1].startswith(service + ".")


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_declares_binds_and_consumes_its_own_queues(component):
    for name in own_queues(component):
        for permission in ("configure", "write", "read"):
            assert allowed(component, permission, name), (permission, name)


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_touches_no_other_components_queue(component):
    for other in COMPONENTS:
        if other == component:
            continue
        for name in own_queues(other):
            for permission in ("configure", "write", "read"):
                assert not allowed(component, permission, name), (component, permission, name)


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_publishes_only_on_its_own_exchanges_and_rpc(component):
    assert allowed(component, "write", component + ".events")
    assert allowed(component, "write", component + ".redeliver")
    assert allowed(component, "write", "nameko-rpc")
    for other in COMPONENTS:
        if other != component:
            for exchange in (other + ".events", other + ".redeliver", other + ".retry.1000"):
                assert not allowed(component, "write", exchange), exchange
    for name in ("amq.default", "", "amq.topic", broker.TOPOLOGY_MARKER):
        assert not allowed(component, "write", name), name


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_configures_no_shared_exchange(component):
    """configure is also delete: never the RPC exchange or any events exchange, even its own."""
    for exchange in ["nameko-rpc", broker.TOPOLOGY_MARKER, "amq.default"] + [c + ".events" for c in COMPONENTS]:
        assert not allowed(component, "configure", exchange), exchange
    assert allowed(component, "configure", component + ".redeliver")


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_component_binds_to_every_events_exchange_and_rpc(component):
    for exchange in ["nameko-rpc", component + ".redeliver"] + [c + ".events" for c in COMPONENTS]:
        assert allowed(component, "read", exchange), exchange


@pytest.mark.parametrize("component", COMPONENTS)
def test_on_the_rpc_exchange_a_component_binds_only_its_own_requests_and_replies(component):
    (topic,) = broker.topic_permissions(component)
    assert topic["exchange"] == "nameko-rpc"
    assert re.search(topic["read"], component + ".*") and re.search(topic["read"], str(uuid.uuid4()))
    for key in ["#", "*.*", "*", component + ".#", component + ".redeem", str(uuid.uuid4()) + ".x"] + \
            [other + ".*" for other in COMPONENTS if other != component]:
        assert not re.search(topic["read"], key), key


def test_the_expressions_are_anchored():
    for name in ("xrpc-settlement", "rpc-settlement2", "rpc-settlement.evil", "evil.settlement.events",
                 "settlement.events.evil", "evt-redemption-voucher_redeemed--settlementx.record",
                 "evt-a-b--support.x--settlement.y", "settlement.retry.x"):
        for permission in ("configure", "write", "read"):
            assert not allowed("settlement", permission, name), (permission, name)


def test_definitions_create_the_users_with_their_permissions():
    users = {"settlement": ("vow_settlement", "s3cret"), "gateway": ("vow_gateway", "other")}
    document = broker.definitions("/", users)
    assert {u["name"] for u in document["users"]} == {"vow_settlement", "vow_gateway"}
    (user,) = [u for u in document["users"] if u["name"] == "vow_settlement"]
    assert user["tags"] == [] and user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    raw = base64.b64decode(user["password_hash"])
    assert raw[4:] == hashlib.sha256(raw[:4] + b"s3cret").digest()  # RabbitMQ's salted SHA-256
    (grant,) = [p for p in document["permissions"] if p["user"] == "vow_settlement"]
    assert grant == dict(user="vow_settlement", vhost="/", **broker.permissions("settlement"))
    (topic,) = [p for p in document["topic_permissions"] if p["user"] == "vow_settlement"]
    assert topic == dict(user="vow_settlement", vhost="/", **broker.topic_permissions("settlement")[0])
    assert "vhosts" not in document and "queues" not in document  # nothing else is touched


# -- credentials ---------------------------------------------------------------------------------

def test_each_component_connects_as_its_own_user(tmp_path, monkeypatch):
    monkeypatch.setattr(cfg, "LOCAL_DIR", tmp_path)
    environ = {"AMQP_URI": "amqp://admin:pw@rabbit:5672/vh", "SETTLEMENT_AMQP_PASSWORD": "p/w"}
    assert cfg.service_amqp_uri("settlement", environ) == "amqp://vow_settlement:p%2Fw@rabbit:5672/vh"
    assert broker.user_of(cfg.service_amqp_uri("settlement", environ)) == "vow_settlement"
    (tmp_path / "keys").mkdir()
    cfg.broker_password_file("vow_support").write_text("from-file\n")
    assert cfg.service_amqp_uri("support", environ) == "amqp://vow_support:from-file@rabbit:5672/vh"
    explicit = dict(environ, REDEMPTION_AMQP_URI="amqp://r:x@elsewhere/")
    assert cfg.service_amqp_uri("redemption", explicit) == "amqp://r:x@elsewhere/"
    with pytest.raises(cfg.ConfigError, match="CAMPAIGN_AMQP_URI"):
        cfg.service_amqp_uri("campaign", environ)
    assert cfg.broker_users(environ)["campaign"] == "vow_campaign"
    prefixed = dict(environ, BROKER_USER_PREFIX="run1-", GATEWAY_BROKER_USER="edge")
    assert cfg.broker_users(prefixed) == dict({c: "run1-" + c for c in COMPONENTS}, gateway="edge")


def test_one_shared_user_when_turned_off():
    environ = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/", "BROKER_USER_PER_SERVICE": "0"}
    assert cfg.service_amqp_uri("campaign", environ) == environ["AMQP_URI"]
    assert cfg.broker_users(environ) == {}


def test_health_listens_on_loopback_unless_told(monkeypatch):
    monkeypatch.delenv("HEALTH_ADDRESS", raising=False)
    monkeypatch.setenv("BROKER_USER_PER_SERVICE", "0")
    assert cfg.service_config("settlement")["HEALTH_ADDRESS"] == "127.0.0.1"
    monkeypatch.setenv("HEALTH_ADDRESS", "0.0.0.0")
    assert cfg.service_config("settlement")["HEALTH_ADDRESS"] == "0.0.0.0"


def test_events_are_stamped_with_the_connections_user():
    publisher = EventPublisher("amqp://vow%5Fredemption:pw@127.0.0.1:5672/")
    assert publisher.user_id == "vow_redemption"
    assert publisher.publish_kwargs["user_id"] == "vow_redemption"


# -- who published an event ----------------------------------------------------------------------

def handler(own_user="vow_settlement", expected="vow_redemption", checks=True):
    entrypoint = ReliableEventHandler(VoucherRedeemed)
    entrypoint.own_user, entrypoint.expected_publisher = own_user, expected
    entrypoint.checks_publisher = checks
    return entrypoint


def message(user_id=None, **headers):
    return SimpleNamespace(properties={"user_id": user_id} if user_id else {}, headers=headers)


def test_the_publisher_is_the_brokers_user_id():
    assert handler().publisher_of(message("vow_redemption")) == "vow_redemption"
    assert handler().refusal("vow_redemption") is None
    assert handler().refusal("guest") == "forged_publisher: user_id guest is not redemption's"
    assert handler().refusal(None) == "forged_publisher: user_id (none) is not redemption's"
    assert handler(expected=None, checks=False).refusal("anyone") is None  # one shared user: unchecked
    assert handler(expected=None).refusal(None) == "forged_publisher: user_id (none) is not redemption's"
    assert handler(expected=None).refusal("anyone")  # a source without a known user: refused


def test_a_carried_publisher_is_believed_only_from_the_consumer_itself():
    carried = {PUBLISHER_HEADER: "vow_redemption"}
    assert handler().publisher_of(message("vow_settlement", **carried)) == "vow_redemption"  # its retry
    assert handler().publisher_of(message("guest", **carried)) == "guest"
    assert handler().publisher_of(message(None, **carried)) is None
    assert handler().publisher_of(message("vow_settlement", **{PUBLISHER_HEADER: "guest"})) == "guest"
