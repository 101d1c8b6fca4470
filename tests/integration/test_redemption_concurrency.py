"""Money moves once: many tills, at once, on one voucher.

Two redemption service containers (as two replicas would) serve the gateway,
and dozens of green threads, each its own HTTP client, confirm redemptions of
the same voucher at the same moment. The database decides.
"""
import uuid

import eventlet
import pytest
import requests
from nameko.runners import ServiceRunner

from services.redemption.service import RedemptionService
from tests.integration.conftest import ok

TILLS = 24


@pytest.fixture(scope="module")
def second_replica(system, make_config):
    runner = ServiceRunner(make_config("redemption"))
    runner.add_service(RedemptionService)
    runner.start()
    yield
    runner.stop()


def all_at_once(system, token, bodies, headers=None):
    """POST every body to /api/v1/redemptions concurrently; returns the responses."""
    start = eventlet.event.Event()

    def till(body):
        session = requests.Session()  # one connection per till, never shared
        start.wait()
        return session.post(system.url("/api/v1/redemptions"), json=body, timeout=60,
                            headers=dict(headers or {}, Authorization="Bearer " + token))

    pool = eventlet.GreenPool(len(bodies))
    results = [pool.spawn(till, body) for body in bodies]
    eventlet.sleep(0.1)
    start.send()
    return [result.wait() for result in results]


def issue(system, shop, **fields):
    body = {"kind": "discount_fixed", "currency": "ZAR", "value": 1000}
    body.update(fields)
    return ok(system.post("/api/v1/vouchers", shop["tokens"]["owner"], json=body), 201)


def test_a_single_use_voucher_redeemed_by_many_tills_at_once_succeeds_once(system, onboard, second_replica, db_query):
    shop = onboard()
    voucher = issue(system, shop)
    responses = all_at_once(system, shop["tokens"]["store_user"],
                            [{"code": voucher["code"], "channel": "pos"} for _ in range(TILLS)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (TILLS - 1), statuses
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"voucher_already_redeemed"}
    assert db_query("SELECT count(*), sum(amount) FROM redemption.redemptions WHERE voucher_id = %s",
                    (voucher["id"],)) == [(1, 1000)]


def test_stored_value_never_goes_below_zero(system, onboard, second_replica, db_query):
    shop = onboard()
    voucher = issue(system, shop, kind="stored_value", value=10000)
    responses = all_at_once(system, shop["tokens"]["store_user"],
                            [{"code": voucher["code"], "channel": "pos", "amount": 700} for _ in range(TILLS)])
    succeeded = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(succeeded) == 14  # 14 x 7.00 = 98.00 of 100.00; the 15th would overdraw
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_balance"}
    balance, redeemed = db_query(
        "SELECT v.balance, (SELECT sum(amount) FROM redemption.redemptions r WHERE r.voucher_id = v.id) "
        "FROM redemption.vouchers v WHERE v.id = %s", (voucher["id"],))[0]
    assert (balance, redeemed) == (200, 9800)
    # the balances seen by the tills are each a distinct step down: no two tills saw the same money
    assert sorted(r.json()["voucher_balance"] for r in succeeded) == list(range(200, 10000, 700))


def test_one_idempotency_key_sent_by_many_tills_at_once_redeems_once(system, onboard, second_replica, db_query):
    shop = onboard()
    voucher = issue(system, shop, kind="stored_value", value=10000)
    key = uuid.uuid4().hex
    responses = all_at_once(system, shop["tokens"]["store_user"],
                            [{"code": voucher["code"], "channel": "pos", "amount": 1000} for _ in range(8)],
                            headers={"Idempotency-Key": key})
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1  # everybody got the first answer
    assert db_query("SELECT balance FROM redemption.vouchers WHERE id = %s", (voucher["id"],)) == [(9000,)]
