"""The system stays up when the broker or the database goes away under it, and every redemption
answered 2xx still exists once with one ledger entry.

Broker loss is made by closing this run's own connections (``rabbitmqctl close_connection``,
only those of this run's vhost: other runs share the broker); database loss by
``pg_terminate_backend`` on this run's own database. The full restarts of both servers are in
``make faults`` (devtools/faults.py), on servers of its own.
"""
import json
import uuid
from unittest import mock

import eventlet
import psycopg2
import pytest
import requests
from kombu.exceptions import OperationalError

from devtools import servers
from plumbing import framework
from tests.integration.conftest import ok, wait_for

pytestmark = pytest.mark.skipif(not servers.have_rabbitmqctl(), reason="needs rabbitmqctl")


@pytest.fixture(scope="module")
def system_config():
    # the gateway gives up on a service after two seconds, and after three in a row stops asking
    return {"gateway": {"RPC_TIMEOUT": 2.0, "CIRCUIT_FAILURES": 3, "CIRCUIT_OPEN_SECONDS": 4.0}}


@pytest.fixture(scope="module")
def shop(onboard):
    return onboard()


def redeem_fresh(system, shop, value=700):
    voucher = ok(system.post("/api/v1/vouchers", shop["tokens"]["owner"],
                             json={"kind": "discount_fixed", "currency": "ZAR", "value": value}), 201)
    response = system.post("/api/v1/redemptions", shop["tokens"]["store_user"],
                           json={"code": voucher["display_code"], "channel": "pos"},
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    return voucher, response


def running(system):
    """The services whose containers are still alive."""
    return sorted(name for name, runner in system.runners.items()
                  if all(not container._died.ready() for container in runner.containers))


def vhost_of(amqp_uri):
    from urllib.parse import unquote, urlparse
    return unquote(urlparse(amqp_uri).path[1:]) or "/"


def close_connections(vhost):
    """Close every client connection of ``vhost`` as a broker restart would; returns how many."""
    listed = servers.rabbitmqctl("list_connections", "vhost", "--formatter", "json", "-q")
    assert listed.returncode == 0, listed.stderr
    count = sum(1 for row in json.loads(listed.stdout or "[]") if row.get("vhost") == vhost)
    closed = servers.rabbitmqctl("close_all_connections", "--vhost", vhost, "fault test")
    assert closed.returncode == 0, closed.stderr
    return count


def test_a_reply_that_cannot_be_sent_does_not_stop_the_service(system, shop):
    """nameko ends the whole container when publishing an RPC reply fails (the broker went away
    between the commit and the reply); the work is committed, the caller times out, the service
    goes on."""
    original = framework.ReplyResponder.send_response
    failures = []

    def broker_gone(self, result, exc_info):
        if self.message.delivery_info.get("routing_key") == "redemption.redeem" and not failures:
            failures.append(1)
            raise OperationalError("[Errno 111] ECONNREFUSED")
        return original(self, result, exc_info)

    with mock.patch.object(framework.ReplyResponder, "send_response", broker_gone):
        voucher, lost = redeem_fresh(system, shop)
    assert failures
    assert lost.status_code == 503 and lost.json()["error"]["code"] == "service_timeout"
    assert "redemption" in running(system)
    # the work was done once: the voucher is redeemed, and another redemption goes through
    state = ok(system.get("/api/v1/vouchers/" + voucher["display_code"], shop["tokens"]["owner"]))
    assert state["status"] == "redeemed"
    _, again = redeem_fresh(system, shop)
    assert again.status_code == 201, again.text


def test_broker_connections_lost_under_the_services(system, shop, amqp_uri, db_query):
    _, before = redeem_fresh(system, shop, value=300)
    assert before.status_code == 201
    assert close_connections(vhost_of(amqp_uri)) >= len(system.runners)

    def redeemed():
        _, response = redeem_fresh(system, shop, value=400)
        return response if response.status_code == 201 else None
    after = wait_for(redeemed, timeout=30, interval=0.5).json()
    assert running(system) == sorted(system.runners)  # every process reconnected; none restarted
    # the redemption after the outage reached settlement through the reconnected consumers
    wait_for(lambda: db_query("SELECT 1 FROM settlement.journal_entries WHERE kind = 'redemption' AND source_id = %s",
                              (after["id"],)), timeout=20)
    assert db_query("SELECT count(*) FROM redemption.outbox WHERE published_at IS NULL "
                    "AND occurred_at < now() - interval '20 seconds'") == [(0,)]


def test_database_connections_dropped_under_the_services(system, shop, database_url):
    assert redeem_fresh(system, shop)[1].status_code == 201  # the pools hold open connections
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cur.fetchone()[0] > 0
    conn.close()
    # every pooled connection is dead: the first request on each finds out and reconnects
    for _ in range(3):
        voucher, response = redeem_fresh(system, shop)
        assert response.status_code == 201, response.text
    assert running(system) == sorted(system.runners)


# -- a service that is down or too slow: the gateway ------------------------------------------
def test_a_slow_service_costs_a_timeout_then_the_circuit_answers_at_once_until_a_probe_gets_through(
        system, shop):
    from services.support.service import SupportService
    agent = shop["tokens"]["support_agent"]
    answering = SupportService.list_tickets

    def too_slow(self, *args, **kwargs):
        eventlet.sleep(5)  # the gateway gives up after 2
        return answering(self, *args, **kwargs)

    with mock.patch.object(SupportService, "list_tickets", too_slow):
        timed_out = [system.get("/api/v1/support/tickets", agent) for _ in range(3)]
        assert [(r.status_code, r.json()["error"]["code"]) for r in timed_out] == \
            [(503, "service_timeout")] * 3

        # open: refused before any request is sent, and the answer says when to come back
        refused = system.get("/api/v1/support/tickets", agent)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "circuit_open"
        assert refused.headers["Retry-After"] in ("1", "2", "3", "4")

        # many callers of the slow service hold no worker: the other services are answered meanwhile
        pile = [eventlet.spawn(requests.get, system.url("/api/v1/support/tickets"), timeout=30,
                               headers={"Authorization": "Bearer " + agent}) for _ in range(30)]
        _, redeemed = redeem_fresh(system, shop)
        assert redeemed.status_code == 201, redeemed.text
        assert {r.status_code for r in (each.wait() for each in pile)} == {503}

    # after the pause one probe goes through; its answer closes the circuit
    assert wait_for(lambda: system.get("/api/v1/support/tickets", agent).status_code == 200, timeout=20)
    assert system.get("/api/v1/support/tickets", agent).status_code == 200
