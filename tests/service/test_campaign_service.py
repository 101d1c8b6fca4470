"""The campaign service's points ledger and budgets, in a real container.

Hybrid redemptions reserve points, and the redemption's own event commits them:
no points lost, none spent twice, whatever order things happen in.
"""
import eventlet
import psycopg2
import pytest

from plumbing.errors import Conflict, NotFound
from services.campaign.service import CampaignService
from services.redemption.contract.events import RedemptionReversed, VoucherRedeemed
from tests.events import example
from tests.service.conftest import call, handling, new_id, started, wait_until


@pytest.fixture(scope="module")
def campaign(make_config):
    with started(CampaignService, make_config("campaign", EVENT_RETRY_DELAYS=[0.2, 0.5])) as container:
        yield container


@pytest.fixture
def merchant(campaign, as_user):
    """A merchant with one customer holding 1,000 points, and ways to act as its users."""
    merchant_id = new_id()

    def rpc(method, role, *args, **kwargs):
        return call(campaign, method, as_user(role, merchant_id=merchant_id, store_id=new_id()), *args, **kwargs)

    customer = rpc("create_customer", "owner", {"name": "Naledi"})
    rpc("adjust_points", "owner", customer["id"], {"points": 1000, "reference": "welcome-1", "reason": "welcome bonus"})
    return {"id": merchant_id, "rpc": rpc, "customer": customer["id"]}


def points(merchant):
    return merchant["rpc"]("get_customer", "owner", merchant["customer"])["points"]


def redeemed(campaign, dispatch, merchant, **payload):
    event_id = new_id()
    body = example(VoucherRedeemed, **dict(dict(reference="RD-TEST", merchant_id=merchant["id"], amount=0), **payload))
    with handling(campaign, "spend_budget_and_points", event_id) as result:
        dispatch(body, event_id=event_id)
    result.get()
    return event_id, body


def test_an_adjustment_is_once_per_reference(merchant):
    with pytest.raises(Conflict) as raised:
        merchant["rpc"]("adjust_points", "owner", merchant["customer"],
                        {"points": 5, "reference": "welcome-1", "reason": "again"})
    assert raised.value.code == "reference_already_used"
    assert points(merchant)["balance"] == 1000


def test_reserved_points_are_not_available_twice(merchant):
    rpc = merchant["rpc"]
    rpc("reserve_points", "store_user", {"customer_id": merchant["customer"], "points": 700, "reference": "r1"})
    with pytest.raises(Conflict) as raised:
        rpc("reserve_points", "store_user", {"customer_id": merchant["customer"], "points": 400, "reference": "r2"})
    assert raised.value.code == "insufficient_points"
    assert points(merchant) == dict(points(merchant), balance=1000, reserved=700, available=300)


def test_the_redemption_event_commits_the_reservation_once(campaign, dispatch, merchant):
    reservation = merchant["rpc"]("reserve_points", "store_user", {
        "customer_id": merchant["customer"], "points": 300, "reference": "r1"})
    event_id, body = redeemed(campaign, dispatch, merchant, points=300,
                              points_reservation_id=reservation["reservation_id"])
    after = points(merchant)
    assert (after["balance"], after["reserved"], after["available"]) == (700, 0, 700)
    with handling(campaign, "spend_budget_and_points", event_id) as result:
        dispatch(body, event_id=event_id)  # redelivered
    result.get()
    assert points(merchant)["balance"] == 700


def test_a_released_reservation_gives_the_points_back(merchant):
    rpc = merchant["rpc"]
    reservation = rpc("reserve_points", "store_user", {"customer_id": merchant["customer"], "points": 250})
    assert rpc("release_points", "store_user", reservation["reservation_id"])["status"] == "released"
    assert points(merchant)["available"] == 1000
    with pytest.raises(NotFound):
        rpc("release_points", "store_user", new_id())


def test_a_late_commit_after_expiry_still_spends_once(campaign, dispatch, merchant, query):
    reservation = merchant["rpc"]("reserve_points", "store_user", {
        "customer_id": merchant["customer"], "points": 100, "reference": "late"})
    query("UPDATE campaign.points_reservations SET expires_at = now() - interval '1 minute' WHERE id = %s",
          (reservation["reservation_id"],))
    call(campaign, "release_expired_reservations", {})  # what the timer runs every 30 seconds
    assert points(merchant)["available"] == 1000  # released by the timer
    redeemed(campaign, dispatch, merchant, points=100, points_reservation_id=reservation["reservation_id"])
    after = points(merchant)
    assert (after["balance"], after["reserved"]) == (900, 0)
    assert [line["kind"] for line in after["recent"]] == ["spend", "adjust"]


def test_a_campaign_budget_is_spent_and_exhausted(campaign, dispatch, merchant, emitted, as_user):
    rpc = merchant["rpc"]
    agreement = call(campaign, "create_agreement", as_user("platform_finance"), {
        "merchant_id": merchant["id"], "funder_kind": "partner", "funder_name": "Acme", "currency": "ZAR",
        "budget": 100000, "max_voucher_value": 5000})
    created = rpc("create_campaign", "owner", {"name": "Winter", "currency": "ZAR", "budget": 1000,
                                                "funding_agreement_id": agreement["id"]})
    assert (created["funding"], created["funder_name"]) == ("partner", "Acme")
    rpc("change_campaign_state", "owner", created["id"], "activate")
    redeemed(campaign, dispatch, merchant, campaign_id=created["id"], amount=600)
    assert rpc("get_campaign", "owner", created["id"])["spent"] == 600
    redeemed(campaign, dispatch, merchant, campaign_id=created["id"], amount=500)
    spent = rpc("get_campaign", "owner", created["id"])
    assert (spent["spent"], spent["status"], spent["pause_reason"]) == (1100, "paused", "budget_exhausted")
    assert [e["spent"] for e in emitted("campaign", "budget_exhausted", campaign_id=created["id"])] == [1100]
    # the till's copy hears it, with the reason
    assert [(e["status"], e["pause_reason"]) for e in emitted("campaign", "campaign_changed",
                                                              campaign_id=created["id"])][-1] == \
        ("paused", "budget_exhausted")


def test_a_reversal_refunds_points_once(campaign, dispatch, merchant):
    redemption_id = new_id()
    event_id = new_id()
    body = example(RedemptionReversed, redemption_id=redemption_id, merchant_id=merchant["id"], points=40,
                   customer_id=merchant["customer"], amount=0)
    for _ in range(2):
        with handling(campaign, "refund_reversed_redemption", event_id) as result:
            dispatch(body, event_id=event_id)
        result.get()
    assert points(merchant)["balance"] == 1040


def test_a_commit_and_an_expiry_at_once_take_their_locks_in_one_order(campaign, dispatch, merchant, query,
                                                                       database_url):
    """A hybrid redemption's commit spends the lots its points came from while the expiry timer
    takes what is left of an expired one: both lock the customer's account before any lot or
    reservation, so neither waits on the other holding what it needs (a deadlock, one of them
    aborted) and the balance ends at what both leave, never below zero."""
    rpc, customer = merchant["rpc"], merchant["customer"]
    reservation = rpc("reserve_points", "store_user", {"customer_id": customer, "points": 600, "reference": "hy"})
    query("UPDATE campaign.points_lots SET expires_at = now() - interval '1 minute' WHERE customer_id = %s",
          (customer,))
    waiting = ("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock'")
    blocker = psycopg2.connect(database_url)  # a till's transaction holding the account a moment
    try:
        cursor = blocker.cursor()
        cursor.execute("SELECT 1 FROM campaign.points_accounts WHERE customer_id = %s FOR UPDATE", (customer,))
        event_id = new_id()
        body = example(VoucherRedeemed, reference="RD-HY", merchant_id=merchant["id"], amount=0, campaign_id=None,
                       customer_id=customer, points=600, points_reservation_id=reservation["reservation_id"])
        with handling(campaign, "spend_budget_and_points", event_id) as committed:
            dispatch(body, event_id=event_id)
            wait_until(lambda: query(waiting)[0]["n"] >= 1)  # the commit queues for the account first
            expiry = eventlet.spawn(call, campaign, "expire_points", {})
            wait_until(lambda: query(waiting)[0]["n"] >= 2)  # then the expiry
            blocker.rollback()
            expiry.wait()  # a deadlock aborts one of them: here, the expiry
        committed.get()
    finally:
        blocker.close()
    after = points(merchant)
    assert (after["balance"], after["reserved"]) == (0, 0)  # 600 spent, the other 400 expired
    assert [line["kind"] for line in after["recent"]] == ["expire", "spend", "adjust"]
