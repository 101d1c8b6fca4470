"""The topology table and the services' ``@event_handler`` declarations say the same, both ways: a
handler the table forgot would get its queue only when its process first starts (and miss what was
published before), a row no handler consumes would fill a queue nobody reads."""
import importlib

import pytest
from nameko.containers import ServiceContainer

from plumbing import config as cfg
from plumbing import topology
from plumbing.contracts import events_in
from plumbing.events import ReliableEventHandler
from tests.conftest import service_classes

CONFIG = {"AMQP_URI": cfg.DEFAULT_AMQP_URI, "EVENT_RETRY_DELAYS": [1, 10]}


@pytest.fixture(scope="module")
def handlers():
    """Every event handler of every service, as its container sees it."""
    containers = [ServiceContainer(service_cls, CONFIG) for service_cls in service_classes()]
    yield [entrypoint for container in containers for entrypoint in container.entrypoints
           if isinstance(entrypoint, ReliableEventHandler)]


def subscription(entrypoint):
    return topology.Subscription(entrypoint.source_service, entrypoint.event_type,
                                 entrypoint.container.service_name, entrypoint.method_name, entrypoint.on_demand,
                                 entrypoint.narrow)


def test_every_handler_is_in_the_table_and_every_row_has_its_handler(handlers):
    declared = {subscription(entrypoint) for entrypoint in handlers}
    table = set(topology.SUBSCRIPTIONS)
    assert sorted(declared - table) == [], "handlers the table does not name"
    assert sorted(table - declared) == [], "rows no handler consumes"
    assert len(table) == len(topology.SUBSCRIPTIONS), "a row twice"


def test_each_process_declares_the_queue_the_bootstrap_declared(handlers):
    queues = topology.subscriber_queues()
    for entrypoint in handlers:
        assert entrypoint.queue_name in queues[entrypoint.container.service_name]
        own, retries = entrypoint.declarations()
        _, declared = topology.declarations(CONFIG)
        [bootstrapped] = [queue for queue in declared if queue.name == own.name]
        assert {(b.exchange.name, b.routing_key) for b in own.bindings} == \
            {(b.exchange.name, b.routing_key) for b in bootstrapped.bindings}
        assert {retry.name for retry in retries} <= {queue.name for queue in declared}


def test_the_bootstrap_declares_every_events_exchange_and_every_rows_queue():
    exchanges, queues = topology.declarations(CONFIG)
    assert {c + ".events" for c in cfg.ALL_COMPONENTS} <= set(exchanges)
    assert {"nameko-rpc"} | {s + ".redeliver" for s in topology.subscriber_queues()} <= set(exchanges)
    names = {queue.name for queue in queues}
    assert {topology.queue_name(row) for row in topology.SUBSCRIPTIONS} <= names
    assert "evt-redemption-voucher_redeemed--settlement.record_redemption" in names
    assert {"settlement.retry.1000", "settlement.retry.10000"} <= names


def test_every_row_names_an_event_its_publishers_contract_declares():
    declared = {(event.event_source, event.event_type)
                for module in topology.EVENT_CONTRACTS.values()
                for event in events_in(importlib.import_module(module))}
    assert {(row.source, row.event_type) for row in topology.SUBSCRIPTIONS} <= declared
    for name in cfg.SERVICES:
        if (cfg.REPO_ROOT / "services" / name / "contract" / "events.py").exists():
            assert topology.EVENT_CONTRACTS[name] == "services.%s.contract.events" % name
