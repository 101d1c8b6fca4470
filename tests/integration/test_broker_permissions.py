"""The broker itself keeps each component to its own: against this run's real RabbitMQ, with the
users and permissions ``make run`` creates (tests/conftest.py ``broker_users``)."""
import uuid

import pytest
from amqp import Message
from amqp.exceptions import AccessRefused, PreconditionFailed
from kombu import Connection

from plumbing.broker import topology_declared
from plumbing.topology import subscriber_queues


@pytest.fixture(scope="module")
def users(broker_users):
    if not broker_users:
        pytest.skip("no broker user per component could be created on this broker")
    return broker_users


@pytest.fixture
def channel_of(users):
    """``channel_of("settlement")``: a fresh AMQP channel of that component's own user."""
    connections = []

    def open_channel(component):
        connection = Connection(users[component]["uri"], connect_timeout=5)
        connection.connect()
        connections.append(connection)
        return connection.connection.channel()
    yield open_channel
    for connection in connections:
        try:
            connection.release()
        except Exception:
            pass


def publish(channel, exchange, routing_key="x", **properties):
    channel.confirm_select()
    channel.basic_publish_confirm(Message(b"{}", content_type="application/json", **properties),
                                  exchange=exchange, routing_key=routing_key)


def handler_queue(consumer):
    """One of ``consumer``'s event-handler queues, as the bootstrap declared it."""
    return subscriber_queues()[consumer][0]


def test_a_service_publishes_only_on_its_own_exchange(channel_of):
    publish(channel_of("redemption"), "redemption.events", "voucher_redeemed")  # its own: fine
    with pytest.raises(AccessRefused, match="redemption.events"):
        publish(channel_of("settlement"), "redemption.events", "voucher_redeemed")
    with pytest.raises(AccessRefused, match="support.events"):
        publish(channel_of("gateway"), "support.events", "ticket_resolved")
    with pytest.raises(AccessRefused, match="settlement.redeliver"):
        publish(channel_of("campaign"), "settlement.redeliver", handler_queue("settlement"))


def test_a_forged_user_id_is_refused_by_the_broker(channel_of, users):
    with pytest.raises(PreconditionFailed, match="user_id"):
        publish(channel_of("redemption"), "redemption.events", "voucher_redeemed",
                user_id=users["settlement"]["user"])
    publish(channel_of("redemption"), "redemption.events", "voucher_redeemed",
            user_id=users["redemption"]["user"])


def test_a_service_cannot_consume_another_services_queue(channel_of):
    with pytest.raises(AccessRefused, match="access to queue"):
        channel_of("settlement").basic_consume(handler_queue("campaign"), callback=lambda m: None)
    with pytest.raises(AccessRefused, match="rpc-redemption"):
        channel_of("gateway").basic_consume("rpc-redemption", callback=lambda m: None)


def test_a_service_cannot_delete_what_others_rely_on(channel_of):
    with pytest.raises(AccessRefused, match="access to queue"):
        channel_of("settlement").queue_delete(handler_queue("support"))
    with pytest.raises(AccessRefused, match="access to queue"):
        channel_of("settlement").queue_purge(handler_queue("campaign"))
    for exchange in ("redemption.events", "nameko-rpc"):
        with pytest.raises(AccessRefused, match=exchange):
            channel_of("redemption").exchange_delete(exchange)  # not even its own events exchange
    assert channel_of("support").queue_declare(handler_queue("support"), passive=True)  # still there


def test_a_service_cannot_bind_its_queue_to_be_fed_from_anothers_retry(channel_of):
    channel = channel_of("notification")
    name = "broadcast.notification." + uuid.uuid4().hex
    channel.queue_declare(name, exclusive=True)
    with pytest.raises(AccessRefused, match="settlement.redeliver"):
        channel.queue_bind(name, "settlement.redeliver", handler_queue("settlement"))


def test_every_component_may_listen_to_the_gateway_broadcast_but_only_on_its_own_queues(channel_of):
    for component in ("gateway", "support", "redemption", "campaign", "settlement", "notification"):
        channel = channel_of(component)
        name = "broadcast.%s.%s" % (component, uuid.uuid4().hex)
        channel.queue_declare(name, exclusive=True, auto_delete=True)
        channel.queue_bind(name, "gateway.events", "session_revoked")
        channel.basic_consume(name, callback=lambda m: None)
    publish(channel_of("gateway"), "gateway.events", "session_revoked")
    with pytest.raises(AccessRefused, match="broadcast.support"):
        channel_of("settlement").queue_declare("broadcast.support." + uuid.uuid4().hex, exclusive=True)


def test_components_see_the_operators_topology_marker(users):
    assert all(topology_declared(user["uri"]) for user in users.values())


def test_a_service_cannot_listen_in_on_rpc_requests_for_another(channel_of):
    """RPC requests carry the caller's bearer token: only the target service may bind to them."""
    def bind_own_queue(key):
        channel = channel_of("settlement")
        name = "broadcast.settlement." + uuid.uuid4().hex  # a queue it may own
        channel.queue_declare(name, exclusive=True)
        channel.queue_bind(name, "nameko-rpc", key)

    for key in ("redemption.*", "#", "*.*", "redemption.redeem"):
        with pytest.raises(AccessRefused, match="nameko-rpc"):
            bind_own_queue(key)
    bind_own_queue("settlement.*")  # its own requests: fine
    bind_own_queue(str(uuid.uuid4()))  # a reply id: fine
