"""Routing keys and bindings against this run's real RabbitMQ: a narrow subscriber (campaign's
``spend_budget_and_points``) is never copied a redemption without a campaign or points, every other
subscriber hears every redemption, whichever key an older or newer publisher used."""
import json
import uuid

import pytest
from kombu import Connection, Queue

from plumbing import topology
from plumbing.contracts import event_class
from services.redemption.contract.events import VoucherRedeemed

SETTLEMENT = "evt-redemption-voucher_redeemed--settlement.record_redemption"
CAMPAIGN = "evt-redemption-voucher_redeemed--campaign.spend_budget_and_points"


@pytest.fixture
def copies(amqp_uri):
    """Queues bound exactly as the bootstrap binds the two subscribers' (``topology.declarations``),
    under names of their own: queue name -> what it received."""
    _, declared = topology.declarations({"AMQP_URI": amqp_uri, "EVENT_RETRY_DELAYS": [1]})
    with Connection(amqp_uri, connect_timeout=5) as connection:
        channel = connection.channel()
        names = {}
        for queue in declared:
            if queue.name in (SETTLEMENT, CAMPAIGN):
                copy = Queue("test-routing-%s-%s" % (queue.name.rsplit(".", 1)[1], uuid.uuid4().hex[:6]),
                             exclusive=True, auto_delete=True,
                             bindings=[b for b in queue.bindings if b.exchange.name == "redemption.events"])
                copy(channel).declare()
                names[queue.name] = copy.name

        def publish(routing_key, payload):
            channel.basic_publish(channel.prepare_message(json.dumps(payload).encode(),
                                                          content_type="application/json"),
                                  exchange="redemption.events", routing_key=routing_key)

        def received():
            got = {}
            for original, name in names.items():
                got[original] = []
                while True:
                    message = channel.basic_get(name, no_ack=True)
                    if message is None:
                        break
                    got[original].append(json.loads(message.body)["redemption_id"])
            return got
        yield publish, received


def wire(**values):
    return dict({"redemption_id": str(uuid.uuid4()), "campaign_id": None, "points_reservation_id": None}, **values)


def test_a_redemption_without_a_campaign_reaches_settlement_but_not_campaign(copies):
    publish, received = copies
    plain = wire()
    budget = wire(campaign_id=str(uuid.uuid4()))
    points = wire(points_reservation_id=str(uuid.uuid4()))
    for payload in (plain, budget, points):
        publish(VoucherRedeemed.routing_key(payload), payload)
    got = received()
    assert got[SETTLEMENT] == [plain["redemption_id"], budget["redemption_id"], points["redemption_id"]]
    assert got[CAMPAIGN] == [budget["redemption_id"], points["redemption_id"]]


def test_an_older_publisher_under_the_bare_type_still_reaches_everyone(copies):
    """Before qualifiers every redemption went as ``voucher_redeemed``: the narrow queue gets those too
    (its handler skips the plain ones: tests/unit/test_contracts.py), and settlement all of them."""
    publish, received = copies
    plain, budget = wire(), wire(campaign_id=str(uuid.uuid4()))
    for payload in (plain, budget):
        publish("voucher_redeemed", payload)
    got = received()
    assert got[SETTLEMENT] == [plain["redemption_id"], budget["redemption_id"]]
    assert got[CAMPAIGN] == [plain["redemption_id"], budget["redemption_id"]]


def test_the_outbox_finds_the_contract_of_its_own_events():
    assert event_class("redemption", "voucher_redeemed") is VoucherRedeemed
    assert event_class("redemption", "no_such_event") is None
