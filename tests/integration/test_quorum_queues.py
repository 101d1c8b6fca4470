"""Quorum queues (production's ``AMQP_QUEUE_TYPE=quorum``) against the local RabbitMQ.

The whole system runs in a vhost of its own whose topology the operator's bootstrap declared with
quorum queues; each component connects as its own broker user and declares its queues again, as
it does in production. RabbitMQ refuses a redeclaration whose queue type differs, so the system
starting at all, and a redemption reaching the ledger, shows the bootstrap and every process agree.
"""
import secrets
import time
from urllib.parse import quote

import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection, Queue

from plumbing import config as cfg
from plumbing.events import retry_delays_ms, retry_exchange
from plumbing.topology import SUBSCRIPTIONS, declare_topology, queue_name
from tests.conftest import RUN_ID
from tests.integration.conftest import ok, wait_for

QUORUM = {"AMQP_QUEUE_TYPE": "quorum", "EVENT_RETRY_DELAYS": [0.2, 0.4]}


@pytest.fixture(scope="module")
def quorum_vhost():
    from devtools.servers import create_vhost, delete_vhost
    base = cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI)
    vhost = "vowtest-%s-quorum" % RUN_ID
    create_vhost(base, vhost)
    uri = cfg.with_vhost(base, vhost)
    try:
        declare_topology(uri, dict(QUORUM))
        yield uri
    finally:
        delete_vhost(base, vhost)


@pytest.fixture(scope="module")
def quorum_users(quorum_vhost):
    from devtools.servers import delete_broker_users, provision_broker_users
    credentials = {c: ("vowtest-%s-q-%s" % (RUN_ID, c), secrets.token_hex(16)) for c in cfg.ALL_COMPONENTS}
    provision_broker_users(quorum_vhost, credentials)
    try:
        yield {c: (user, cfg.with_user(quorum_vhost, quote(user, safe=""), password))
               for c, (user, password) in credentials.items()}
    finally:
        delete_broker_users(quorum_vhost, [user for user, _ in credentials.values()])


@pytest.fixture(scope="module")
def make_config(make_config, quorum_users):
    """Every component of this module's system on the quorum vhost, as its own broker user."""
    def make(component, **overrides):
        user, uri = quorum_users[component]
        return make_config(component, AMQP_URI=uri, BROKER_USERS={c: u for c, (u, _) in quorum_users.items()},
                           **dict(QUORUM, **overrides))
    return make


def queue_types(uri):
    """name -> type of every queue in ``uri``'s vhost, as the broker reports it."""
    import json
    from urllib.parse import urlsplit, unquote
    from devtools.servers import _management_api, have_rabbitmqctl, rabbitmqctl
    vhost = unquote(urlsplit(uri).path[1:])
    if have_rabbitmqctl():
        result = rabbitmqctl("list_queues", "-p", vhost, "name", "type", "--formatter", "json")
        if result.returncode == 0:
            return {q["name"]: q["type"] for q in json.loads(result.stdout)}
    response = _management_api("GET", "/api/queues/" + quote(vhost, safe=""), uri)
    response.raise_for_status()
    return {q["name"]: q["type"] for q in response.json()}


def durable_queues():
    names = [queue_name(row) for row in SUBSCRIPTIONS]
    for subscriber in sorted({row.subscriber for row in SUBSCRIPTIONS}):
        names += ["%s.retry.%d" % (subscriber, delay) for delay in retry_delays_ms(QUORUM)]
    return names


def test_the_bootstrap_declares_every_durable_queue_as_quorum(quorum_vhost):
    names = durable_queues()
    assert len(names) > len(SUBSCRIPTIONS)
    types = queue_types(quorum_vhost)
    assert {name: types.get(name) for name in names} == {name: "quorum" for name in names}


def test_a_retry_waits_in_a_quorum_queue_and_comes_back_to_its_handler(quorum_vhost):
    row = SUBSCRIPTIONS[0]
    delay = retry_delays_ms(QUORUM)[0]
    with Connection(quorum_vhost) as connection:
        producer = connection.Producer()
        producer.publish({"probe": 1}, exchange=retry_exchange(row.subscriber, delay),
                         routing_key=queue_name(row), declare=[])
        queue = Queue(queue_name(row), durable=True, queue_arguments={"x-queue-type": "quorum"})
        deadline = time.monotonic() + 5
        message = None
        while message is None and time.monotonic() < deadline:
            message = queue(connection.channel()).get(no_ack=True)
            time.sleep(0.05)
    assert message is not None and message.payload == {"probe": 1}


def test_the_system_runs_on_quorum_queues_from_till_to_ledger(system, onboard, quorum_vhost):
    m = onboard()
    owner, till, finance = m["tokens"]["owner"], m["tokens"]["store_user"], m["tokens"]["finance"]
    voucher = ok(system.post("/api/v1/vouchers", owner, json={
        "kind": "discount_fixed", "currency": "ZAR", "value": 1500}), 201)
    redemption = ok(system.post("/api/v1/redemptions", till, json={
        "code": voucher["display_code"], "channel": "pos"}), 201)
    entries = wait_for(lambda: ok(system.get("/api/v1/settlements/entries", finance))["items"])
    assert [(e["redemption_id"], e["amount"]) for e in entries] == [(redemption["id"], 1500)]
    # each service's own RPC queue, declared by the process itself, is quorum too
    types = queue_types(quorum_vhost)
    services = ("redemption", "settlement", "campaign", "support", "notification", "gateway")
    assert {s: types.get("rpc-" + s) for s in services} == {s: "quorum" for s in services}


def test_a_classic_declaration_of_a_quorum_queue_is_refused(quorum_vhost):
    # what a process configured differently from its installation meets: a loud refusal at start
    with Connection(quorum_vhost) as connection:
        with pytest.raises(PreconditionFailed):
            Queue(queue_name(SUBSCRIPTIONS[0]), durable=True)(connection.channel()).declare()
