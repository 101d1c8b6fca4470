"""The shared plumbing against the real PostgreSQL and RabbitMQ, with two small services.

``toyshop`` changes state and emits events through the outbox; ``toyledger``
handles them. Between them they show the guarantees every real service
relies on: commit before reply, rollback on error, no event lost across a
crash, none applied twice, failures retried then parked (and replayable),
slow queries not stalling other workers, RPC deadlines.
"""
import time
import uuid

import eventlet
import psycopg2
import pytest
import requests
from marshmallow import fields
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_waiter

from plumbing.contracts import Event
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, ServiceUnavailable
from plumbing.events import event_handler
from plumbing.migrations import MESSAGING_TABLES_SQL
from plumbing.outbox import Outbox
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase

failing = {"fail": True}


class Sold(Event):
    event_source, event_type = "toyshop", "sold"
    sku = fields.String()


class ToyShop(ServiceBase):
    name = "toyshop"

    @rpc
    def sell(self, sku, fail_after_write=False):
        self.db.execute("INSERT INTO sales (sku) VALUES (%s)", (sku,))
        self.events.emit(Sold.of(sku=sku))
        if fail_after_write:
            raise Conflict("changed my mind", code="changed_mind")
        return {"sku": sku}

    @rpc
    def sell_then_fail(self, kept, undone):
        with self.db.separately():  # durable on its own: this event must go out
            self.events.emit(Sold.of(sku=kept))
        self.events.emit(Sold.of(sku=undone))
        raise Conflict("the rest failed", code="rest_failed")

    @rpc
    def slow(self, seconds):
        self.db.execute("SELECT pg_sleep(%s)", (seconds,))
        return "slow done"

    @rpc
    def fast(self):
        return self.db.scalar("SELECT 'fast done'")

    @rpc
    def nap(self, seconds):
        eventlet.sleep(seconds)
        return "woke"


class ToyLedger(ServiceBase):
    name = "toyledger"
    shop = RpcProxy("toyshop", timeout=0.5)
    nowhere = RpcProxy("no_such_service", timeout=0.5)

    @event_handler(Sold)
    def record_sale(self, event):
        if event.sku.startswith("poison") and failing["fail"]:
            raise RuntimeError("cannot handle %s" % event.sku)
        self.db.execute("INSERT INTO ledger (sku) VALUES (%s)", (event.sku,))

    @rpc
    def ask_shop_to_nap(self, seconds):
        return self.shop.nap(seconds)

    @rpc
    def ask_nowhere(self):
        return self.nowhere.anything()


@pytest.fixture(scope="module")
def toy_schemas(bare_database_url):
    conn = psycopg2.connect(bare_database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for schema, table in (("toyshop", "sales"), ("toyledger", "ledger")):
            cur.execute("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s; SET search_path TO %s"
                        % (schema, schema, schema))
            cur.execute(MESSAGING_TABLES_SQL)
            cur.execute("CREATE TABLE %s (id serial PRIMARY KEY, sku text NOT NULL)" % table)
    conn.close()
    return bare_database_url


@pytest.fixture
def toy_config(toy_schemas, amqp_uri, jwt_keys):
    def make(schema, **overrides):
        config = {
            "AMQP_URI": amqp_uri, "DATABASE_URL": toy_schemas, "DB_SCHEMA": schema,
            "DB_POOL_SIZE": 6, "JWT_PUBLIC_KEY": jwt_keys[1], "HEALTH_PORT": None,
            "EVENT_RETRY_DELAYS": [0.2, 0.3], "OUTBOX_SWEEP_INTERVAL": 0.2,
            "OUTBOX_SWEEP_MIN_AGE": 0.5, "RPC_TIMEOUT": 5,
            "REVOCATIONS_CATCH_UP": False,  # no gateway here to ask for past revocations
        }
        config.update(overrides)
        return config
    return make


def query(url, schema, sql, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET search_path TO " + schema)
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def wait_until(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        eventlet.sleep(interval)
    raise AssertionError("condition not met within %ss" % timeout)


@pytest.fixture
def shop(container_factory, toy_config):
    container = container_factory(ToyShop, toy_config("toyshop"))
    container.start()
    return container


@pytest.fixture
def ledger(container_factory, toy_config):
    container = container_factory(ToyLedger, toy_config("toyledger"))
    container.start()
    return container


def rpc_proxy(config, service):
    return ServiceRpcProxy(service, config, timeout=10)


def test_commit_happens_before_the_caller_hears_success(shop, toy_config, toy_schemas):
    sku = "sku-" + uuid.uuid4().hex
    with rpc_proxy(toy_config("toyshop"), "toyshop") as proxy:
        assert proxy.sell(sku) == {"sku": sku}
    # read at once, from another connection: the row is already committed
    assert query(toy_schemas, "toyshop", "SELECT sku FROM sales WHERE sku = %s", (sku,)) == [(sku,)]


def test_an_error_rolls_back_the_state_and_its_event(shop, toy_config, toy_schemas):
    sku = "sku-" + uuid.uuid4().hex
    with rpc_proxy(toy_config("toyshop"), "toyshop") as proxy:
        with pytest.raises(Conflict) as raised:
            proxy.sell(sku, fail_after_write=True)
    assert raised.value.code == "changed_mind"  # arrives as our own type, not RemoteError
    assert query(toy_schemas, "toyshop", "SELECT 1 FROM sales WHERE sku = %s", (sku,)) == []
    assert query(toy_schemas, "toyshop",
                 "SELECT 1 FROM outbox WHERE payload->>'sku' = %s", (sku,)) == []


def test_an_event_reaches_its_handler_once(shop, ledger, toy_config, toy_schemas):
    sku = "sku-" + uuid.uuid4().hex
    with entrypoint_waiter(ledger, "record_sale", timeout=10):
        with rpc_proxy(toy_config("toyshop"), "toyshop") as proxy:
            proxy.sell(sku)
    assert query(toy_schemas, "toyledger", "SELECT sku FROM ledger WHERE sku = %s", (sku,)) == [(sku,)]
    # marked published by the outbox's marker thread, in a batch, moments later
    wait_until(lambda: query(toy_schemas, "toyshop", "SELECT 1 FROM outbox "
                             "WHERE payload->>'sku' = %s AND published_at IS NOT NULL", (sku,)))


def test_only_committed_events_are_published(shop, ledger, toy_config, toy_schemas):
    kept, undone = "sku-" + uuid.uuid4().hex, "sku-" + uuid.uuid4().hex
    with entrypoint_waiter(ledger, "record_sale", timeout=10):
        with rpc_proxy(toy_config("toyshop"), "toyshop") as proxy:
            with pytest.raises(Conflict):
                proxy.sell_then_fail(kept, undone)
    eventlet.sleep(0.5)
    assert query(toy_schemas, "toyledger", "SELECT sku FROM ledger WHERE sku IN (%s, %s)",
                 (kept, undone)) == [(kept,)]
    assert query(toy_schemas, "toyshop", "SELECT payload->>'sku' FROM outbox WHERE payload->>'sku' IN (%s, %s)",
                 (kept, undone)) == [(kept,)]


def test_a_crash_between_commit_and_publish_loses_no_event(
        container_factory, toy_config, toy_schemas, ledger, monkeypatch):
    # the process "dies" right after its commit: the after-commit publish never runs
    monkeypatch.setattr(Outbox, "publish_rows", lambda self, rows: None)
    shop = container_factory(ToyShop, toy_config("toyshop"))
    shop.start()
    sku = "sku-" + uuid.uuid4().hex
    with rpc_proxy(toy_config("toyshop"), "toyshop") as proxy:
        proxy.sell(sku)
    assert query(toy_schemas, "toyshop",
                 "SELECT published_at FROM outbox WHERE payload->>'sku' = %s", (sku,)) == [(None,)]
    # the sweep finds the row once it is older than OUTBOX_SWEEP_MIN_AGE and publishes it
    wait_until(lambda: query(toy_schemas, "toyledger", "SELECT 1 FROM ledger WHERE sku = %s", (sku,)))
    eventlet.sleep(1.0)
    assert query(toy_schemas, "toyledger", "SELECT count(*) FROM ledger WHERE sku = %s", (sku,)) == [(1,)]
    assert query(toy_schemas, "toyshop", "SELECT published_at IS NOT NULL FROM outbox "
                 "WHERE payload->>'sku' = %s", (sku,)) == [(True,)]


def publish_raw(amqp_uri, event_id, sku, config):
    Publisher(amqp_uri).publish(
        {"sku": sku}, exchange=get_event_exchange("toyshop", config), routing_key="sold",
        headers={"nameko.event_id": event_id, "nameko.event_source": "toyshop"})


def test_a_redelivered_event_is_not_applied_twice(ledger, toy_config, toy_schemas, amqp_uri):
    sku = "sku-" + uuid.uuid4().hex
    event_id = str(uuid.uuid4())
    config = toy_config("toyledger")
    for _ in range(3):
        with entrypoint_waiter(ledger, "record_sale", timeout=10):
            publish_raw(amqp_uri, event_id, sku, config)
    assert query(toy_schemas, "toyledger", "SELECT count(*) FROM ledger WHERE sku = %s", (sku,)) == [(1,)]


def test_concurrent_copies_of_one_event_apply_once(ledger, toy_config, toy_schemas, amqp_uri):
    sku = "sku-" + uuid.uuid4().hex
    event_id = str(uuid.uuid4())
    config = toy_config("toyledger")
    for _ in range(5):
        publish_raw(amqp_uri, event_id, sku, config)
    wait_until(lambda: query(toy_schemas, "toyledger", "SELECT 1 FROM ledger WHERE sku = %s", (sku,)))
    eventlet.sleep(0.5)
    assert query(toy_schemas, "toyledger", "SELECT count(*) FROM ledger WHERE sku = %s", (sku,)) == [(1,)]


def test_a_payload_its_contract_refuses_is_parked_at_once_and_never_handled(
        ledger, toy_config, toy_schemas, amqp_uri):
    event_id = str(uuid.uuid4())
    Publisher(amqp_uri).publish(
        {"sku": 42}, exchange=get_event_exchange("toyshop", toy_config("toyledger")), routing_key="sold",
        headers={"nameko.event_id": event_id, "nameko.event_source": "toyshop"})
    [(attempts, error)] = wait_until(lambda: query(
        toy_schemas, "toyledger", "SELECT attempts, error FROM parked_events WHERE event_id = %s", (event_id,)))
    assert attempts == 0  # no retry: it would not load any better
    assert error.startswith("invalid_event: toyshop.sold: ") and "sku" in error
    assert query(toy_schemas, "toyledger", "SELECT 1 FROM handled_events WHERE event_id = %s", (event_id,)) == []


def test_a_failing_handler_is_retried_then_parked_and_can_be_replayed(
        ledger, toy_config, toy_schemas, amqp_uri, as_user):
    failing["fail"] = True
    sku = "poison-" + uuid.uuid4().hex
    publish_raw(amqp_uri, str(uuid.uuid4()), sku, toy_config("toyledger"))
    parked = wait_until(lambda: query(
        toy_schemas, "toyledger", "SELECT id, attempts, error FROM parked_events "
        "WHERE payload->>'sku' = %s", (sku,)))
    parked_id, attempts, error = parked[0]
    assert attempts == 3  # the first try and one per retry delay
    assert "cannot handle" in error
    assert query(toy_schemas, "toyledger", "SELECT 1 FROM ledger WHERE sku = %s", (sku,)) == []

    failing["fail"] = False  # the operator fixed the cause; now replay
    admin = as_user("admin")
    with ServiceRpcProxy("toyledger", toy_config("toyledger"), context_data=admin, timeout=10) as p:
        listed = p.list_parked_events()["items"]
        assert any(item["id"] == parked_id for item in listed)
        with entrypoint_waiter(ledger, "record_sale", timeout=10):
            p.replay_parked_event(parked_id)
    assert query(toy_schemas, "toyledger", "SELECT count(*) FROM ledger WHERE sku = %s", (sku,)) == [(1,)]


def test_a_slow_query_does_not_stall_other_workers(shop, toy_config, toy_schemas):
    config = toy_config("toyshop")
    finished = []

    def call_slow():
        with rpc_proxy(config, "toyshop") as proxy:
            finished.append(proxy.slow(3))

    slow_caller = eventlet.spawn(call_slow)
    wait_until(lambda: slow_query_running(toy_schemas))
    with rpc_proxy(config, "toyshop") as proxy:
        assert proxy.fast() == "fast done"
    # the fast worker answered while the slow query was still running in the database
    assert slow_query_running(toy_schemas)
    assert finished == []
    slow_caller.wait()
    assert finished == ["slow done"]


def slow_query_running(url):
    return query(url, "public", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                 "AND pid <> pg_backend_pid() AND query LIKE '%%pg_sleep(%%'")[0][0] > 0


def test_rpc_calls_to_a_stuck_or_missing_service_fail_fast(shop, ledger, toy_config, as_user):
    with rpc_proxy(toy_config("toyledger"), "toyledger") as proxy:
        with pytest.raises(ServiceUnavailable) as raised:
            proxy.ask_shop_to_nap(3)
        assert raised.value.code == "service_timeout"
        with pytest.raises(ServiceUnavailable) as raised:
            proxy.ask_nowhere()
        assert raised.value.code == "service_timeout"
        assert proxy.ask_shop_to_nap(0) == "woke"


def test_health_metrics_and_readiness(container_factory, toy_config):
    container = container_factory(ToyShop, toy_config("toyshop", HEALTH_PORT=0))
    container.start()
    from plumbing.health import HealthServer
    port = container.shared_extensions[HealthServer].port
    base = "http://127.0.0.1:%d" % port
    with rpc_proxy(toy_config("toyshop"), "toyshop") as proxy:
        proxy.fast()
    assert requests.get(base + "/healthz", timeout=5).json()["status"] == "alive"
    ready = requests.get(base + "/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    metrics = requests.get(base + "/metrics", timeout=5).text
    assert 'vowrewards_entrypoint_duration_seconds_count{kind="rpc",method="fast",outcome="ok",' \
           'service="toyshop"} 1.0' in metrics
    assert "vowrewards_outbox_backlog" in metrics


def test_readiness_fails_when_the_database_is_unreachable(container_factory, toy_config):
    config = toy_config("toyshop", HEALTH_PORT=0,
                        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    container = container_factory(ToyShop, config)
    container.start()
    from plumbing.health import HealthServer
    port = container.shared_extensions[HealthServer].port
    ready = requests.get("http://127.0.0.1:%d/readyz" % port, timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] != "ok"
    assert ready.json()["checks"]["broker"] == "ok"


def test_pool_is_bounded(toy_schemas):
    from plumbing.db import ConnectionPool
    pool = ConnectionPool(toy_schemas, size=2, schema="toyshop", acquire_timeout=0.3)
    a, b = pool.acquire(), pool.acquire()
    with pytest.raises(ServiceUnavailable) as raised:
        pool.acquire()
    assert raised.value.code == "database_busy"
    pool.release(a)
    c = pool.acquire()
    pool.release(b)
    pool.release(c)
    pool.close()
