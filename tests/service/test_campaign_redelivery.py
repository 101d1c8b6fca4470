"""The campaign service's budget and points, whatever the broker does: any order of a few
hybrid redemptions (a campaign's voucher plus reserved points) and their reversals, with
redeliveries of any of them (and a reversal before its redemption), through the real handlers,
ends where the in-order, once-each delivery ends: the campaign's spend, count, status and
budget-exhausted notice, its daily figures and redeemers, the customer's points and reservations."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings

from services.campaign.service import CampaignService
from services.redemption.contract.events import RedemptionReversed, VoucherRedeemed
from tests.events import example as event_example
from tests.service.conftest import call, new_id, started
from tests.service.redelivery import deliver, event_ids, in_order, schedules

AT = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)


@pytest.fixture(scope="module")
def campaign(make_config):
    # a reversal that comes before its redemption is retried after 0.2 s, then 0.5, 1 and 2
    with started(CampaignService, make_config("campaign", EVENT_RETRY_DELAYS=[0.2, 0.5, 1.0, 2.0])) as c:
        yield c


def amount(i):
    return 300 + 100 * i


def points(i):
    return 40 * (i + 1)


def prepared(campaign, as_user, shape):
    """A merchant whose active campaign's budget is exactly what the redemptions spend, and a
    customer holding points reserved for each redemption."""
    merchant_id, store_id = new_id(), new_id()
    owner = as_user("owner", merchant_id=merchant_id)
    till = as_user("store_user", merchant_id=merchant_id, store_id=store_id)
    customer = call(campaign, "create_customer", owner, {"name": "Property"})["id"]
    call(campaign, "adjust_points", owner, customer, {"points": 1000, "reference": "welcome", "reason": "welcome"})
    budget = sum(amount(i) for i in range(len(shape)))
    created = call(campaign, "create_campaign", owner, {"name": "Redelivered", "currency": "ZAR", "budget": budget})
    call(campaign, "change_campaign_state", owner, created["id"], "activate")
    reservations = [call(campaign, "reserve_points", till, {"customer_id": customer, "points": points(i),
                                                            "reference": new_id()})["reservation_id"]
                    for i in range(len(shape))]
    return {"merchant_id": merchant_id, "store_id": store_id, "customer": customer, "campaign": created["id"],
            "reservations": reservations, "redemptions": [new_id() for _ in shape]}


def payloads(shape, world, ids):
    built = {}
    for kind, i in in_order(shape):
        fields = dict(redemption_id=world["redemptions"][i], voucher_id=world["redemptions"][i],
                      reference="RD-CAMP%04d" % i, merchant_id=world["merchant_id"], store_id=world["store_id"],
                      amount=amount(i), currency="ZAR", points=points(i), points_value=points(i),
                      customer_id=world["customer"], campaign_id=world["campaign"])
        if kind == "redeemed":
            body = event_example(VoucherRedeemed, points_reservation_id=world["reservations"][i],
                                 redeemed_at=AT + timedelta(minutes=i), **fields)
        else:
            body = event_example(RedemptionReversed, reversed_at=AT + timedelta(hours=1, minutes=i), **fields)
        built[(kind, i)] = (ids[(kind, i)], body)
    return built


def state(query, world):
    """What the events changed, with ids left out (two runs compare)."""
    campaign_id, customer = world["campaign"], world["customer"]
    [row] = query("SELECT spent, redeemed_count, status, pause_reason FROM campaign.campaigns WHERE id = %s",
                  (campaign_id,))
    [daily] = query("SELECT coalesce(sum(redeemed), 0) AS redeemed, coalesce(sum(discount), 0) AS discount "
                    "FROM campaign.campaign_daily WHERE campaign_id = %s", (campaign_id,))
    [account] = query("SELECT balance, reserved FROM campaign.points_accounts WHERE customer_id = %s", (customer,))
    ledger = sorted((line["kind"], line["points"]) for line in query(
        "SELECT kind, points FROM campaign.points_ledger WHERE customer_id = %s", (customer,)))
    reservations = [query("SELECT status FROM campaign.points_reservations WHERE id = %s", (rid,))[0]["status"]
                    for rid in world["reservations"]]
    return {
        "campaign": dict(row), "daily": dict(daily), "points": dict(account), "points ledger": ledger,
        "reservations": reservations,
        "redeemers": query("SELECT count(*) AS n FROM campaign.campaign_redeemers WHERE campaign_id = %s",
                           (campaign_id,))[0]["n"],
        "history": sorted(h["action"] for h in query(
            "SELECT action FROM campaign.campaign_history WHERE campaign_id = %s", (campaign_id,))),
        "budget_exhausted events": query(
            "SELECT count(*) AS n FROM campaign.outbox WHERE event_type = 'budget_exhausted' "
            "AND payload->>'campaign_id' = %s", (campaign_id,))[0]["n"],
        "parked": query("SELECT count(*) AS n FROM campaign.parked_events WHERE payload->>'campaign_id' = %s",
                        (campaign_id,))[0]["n"],
    }


def test_any_order_with_redeliveries_ends_where_in_order_once_each_ends(campaign, dispatch, query, as_user):
    baselines = {}

    def applied(shape, order):
        world = prepared(campaign, as_user, shape)
        deliver(campaign, dispatch, order, payloads(shape, world, event_ids(shape)))
        return state(query, world)

    @settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(schedules())
    # the reversal first: the budget must still be found spent (and the campaign paused) in between
    @example(((True,), [("reversed", 0), ("redeemed", 0), ("reversed", 0)]))
    @example(((False, True), [("reversed", 1), ("redeemed", 0), ("redeemed", 1), ("redeemed", 0)]))
    @example(((True, False), [("redeemed", 1), ("reversed", 0), ("redeemed", 0)]))
    def check(schedule):
        shape, order = schedule
        if shape not in baselines:
            baselines[shape] = applied(shape, in_order(shape))
            assert baselines[shape]["parked"] == 0
        assert applied(shape, order) == baselines[shape], (shape, order)

    check()
