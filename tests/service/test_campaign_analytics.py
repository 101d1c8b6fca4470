"""Campaign analytics against a hand-computed fixture; the per-customer limit and the budget under
concurrent issuance; the contact other services ask for.

The fixture (one campaign, two stores S1 and S2, all today):

    vouchers issued: 4 of 1000 (committed 4000 of a budget of 10000)
    purchases:  A  S1 10000, S1 5000, S2 2000      B  S1 4000 (and S1 6000 after the redemptions)
                C  S2 3000                         E  S1 700           anonymous  S1 1000
    redeemed:   A at S1 1000, C at S2 800, D (who bought nothing) at S1 500

    redeemers  (A, C; D bought nothing): 2 customers, 4 purchases, 20000; repeat 1 of 2 = 0.5
    others     (B, E):                   2 customers, 3 purchases, 10700; repeat 1 of 2 = 0.5
    S1: redeemers A (2, 15000, repeat 1.0); others B, E (3, 10700, 0.5); 2 redeemed for 1500;
        6 purchases, 26700
    S2: redeemers A, C (2, 5000, repeat 0.0); others none (repeat null); 1 redeemed for 800;
        2 purchases, 5000
    issued 4, redeemed 3 (rate 0.75), discount 2300, budget used 0.23; today: 8 purchases, 31700
"""
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook
from nameko.timer import timer

from devtools.bench_analytics import campaign_transaction
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from plumbing.rpc import RpcProxy
from services.campaign import analytics
from services.campaign.service import CampaignService
from services.redemption.contract.events import VoucherRedeemed
from tests.events import example
from tests.service.conftest import call, handling, new_id, started


@pytest.fixture(scope="module")
def campaign_service(make_config):
    with started(CampaignService, make_config("campaign")) as container:
        yield container


@pytest.fixture
def shop(campaign_service, as_user):
    merchant_id, stores = new_id(), {"S1": new_id(), "S2": new_id()}

    def rpc(method, *args, role="owner", **kwargs):
        return call(campaign_service, method, as_user(role, merchant_id=merchant_id, store_id=stores["S1"]),
                    *args, **kwargs)
    return {"id": merchant_id, "stores": stores, "rpc": rpc}


def active_campaign(shop, **fields):
    created = shop["rpc"]("create_campaign", dict({"name": "Autumn", "currency": "ZAR", "budget": 10000}, **fields))
    return shop["rpc"]("change_campaign_state", created["id"], "activate")


def redeem(campaign_service, dispatch, shop, campaign_id, customer_id, store, amount):
    event_id = new_id()
    body = example(VoucherRedeemed, merchant_id=shop["id"], campaign_id=campaign_id, customer_id=customer_id,
                   store_id=shop["stores"][store], amount=amount, redeemed_at=datetime.now(timezone.utc))
    with handling(campaign_service, "spend_budget_and_points", event_id) as result:
        dispatch(body, event_id=event_id)
    result.get()


def test_analytics_match_the_hand_computed_fixture(campaign_service, dispatch, shop, as_user):
    rpc = shop["rpc"]
    autumn = active_campaign(shop)
    for _ in range(4):
        rpc("authorize_issuance", {"reference": new_id(), "merchant_id": shop["id"], "campaign_id": autumn["id"],
                                   "kind": "discount_fixed", "currency": "ZAR", "value": 1000})
    people = {name: rpc("create_customer", {"name": name})["id"] for name in "ABCDE"}
    receipts = iter(range(100))

    def buy(who, store, amount):
        rpc("record_purchase", {"customer_id": people[who] if who else None, "amount": amount, "currency": "ZAR",
                                "receipt_id": "R-%d" % next(receipts), "store_id": shop["stores"][store]})
    for who, store, amount in (("A", "S1", 10000), ("A", "S1", 5000), ("A", "S2", 2000), ("B", "S1", 4000),
                               ("C", "S2", 3000), ("E", "S1", 700), (None, "S1", 1000)):
        buy(who, store, amount)
    for who, store, amount in (("A", "S1", 1000), ("C", "S2", 800), ("D", "S1", 500)):
        redeem(campaign_service, dispatch, shop, autumn["id"], people[who], store, amount)
    buy("B", "S1", 6000)

    expected = {
        "issued": 4, "redeemed": 3, "redemption_rate": 0.75, "discount_cost": 2300, "budget": 10000,
        "committed": 4000, "budget_used": 0.23,
        "redeemers": {"customers": 2, "purchases": 4, "revenue": 20000, "repeat_purchase_rate": 0.5},
        "non_redeemers": {"customers": 2, "purchases": 3, "revenue": 10700, "repeat_purchase_rate": 0.5},
        "repeat_purchase_rate": {"redeemers": 0.5, "non_redeemers": 0.5},
    }
    s1 = {"store_id": shop["stores"]["S1"], "redeemed": 2, "discount_cost": 1500, "purchases": 6, "revenue": 26700,
          "redeemers": {"customers": 1, "purchases": 2, "revenue": 15000, "repeat_purchase_rate": 1.0},
          "non_redeemers": {"customers": 2, "purchases": 3, "revenue": 10700, "repeat_purchase_rate": 0.5},
          "repeat_purchase_rate": {"redeemers": 1.0, "non_redeemers": 0.5}}
    s2 = {"store_id": shop["stores"]["S2"], "redeemed": 1, "discount_cost": 800, "purchases": 2, "revenue": 5000,
          "redeemers": {"customers": 2, "purchases": 2, "revenue": 5000, "repeat_purchase_rate": 0.0},
          "non_redeemers": {"customers": 0, "purchases": 0, "revenue": 0, "repeat_purchase_rate": None},
          "repeat_purchase_rate": {"redeemers": 0.0, "non_redeemers": None}}
    today = datetime.now(timezone.utc).date().isoformat()

    def check(answer):
        assert {k: answer[k] for k in expected} == expected
        assert sorted(answer["stores"], key=lambda s: s["store_id"]) == sorted([s1, s2], key=lambda s: s["store_id"])
        assert answer["daily"] == [{"day": today, "issued": 4, "redeemed": 3, "discount_cost": 2300, "purchases": 8,
                                    "revenue": 31700}]
        assert answer["forecast"]["pace_per_day"] == 2300.0 and answer["forecast"]["exhausted_at"]

    check(rpc("campaign_analytics", autumn["id"]))
    only_s2 = rpc("campaign_analytics", autumn["id"], {"store_id": shop["stores"]["S2"]})
    assert only_s2["stores"] == [s2]
    # a backfill from the purchases themselves gives the same figures as counting them one by one
    with plain_transaction(campaign_service) as tx:
        analytics.rebuild(tx, autumn["id"])
    check(rpc("campaign_analytics", autumn["id"]))
    # other merchants see nothing; the figures are for the merchant's staff
    with pytest.raises(NotFound):
        call(campaign_service, "campaign_analytics", as_user("owner", merchant_id=new_id()), autumn["id"])


STORE_FIXTURE = """Per store across campaigns, hand-computed (all today; X runs everywhere, Y at S2 only):

    issued:     X 3, Y 2 (of 1000 each)
    purchases:  A  S1 1000, S1 2000, S2 3000     B  S1 4000 (and S1 600 after the redemptions)
                C  S2 500, S2 700                 D  S2 900           anonymous  S1 100
    redeemed:   A X at S1 300, C Y at S2 200, A Y at S2 150 (A counts once, however many campaigns)

    merchant:  issued 5, redeemed 3 (0.6), discount 650; 9 purchases, 12800
               redeemers A, C: 2 customers, 5 purchases, 7200, repeat 2 of 2 = 1.0
               others    B, D: 2 customers, 3 purchases, 5500, repeat 1 of 2 = 0.5
    S1:        issued 3 (X only runs there), redeemed 1 (0.3333), discount 300; 5 purchases, 7700
               redeemers A: 1, 2, 3000, 1.0;  others B: 1, 2, 4600, 1.0
    S2:        issued 5, redeemed 2 (0.4), discount 350; 4 purchases, 5100
               redeemers A, C: 2, 3, 4200, repeat 1 of 2 = 0.5;  others D: 1, 1, 900, 0.0
    A's two S1 purchases then moved 10 days back: over the last 6 days A bought once (S2), so the
    redeemers' repeat rate there is 1 of 2; over the last 11 days it is 2 of 2 again.
"""


def group(customers, purchases, revenue, repeat):
    return {"customers": customers, "purchases": purchases, "revenue": revenue, "repeat_purchase_rate": repeat}


def test_store_analytics_across_campaigns_match_the_hand_computed_fixture(campaign_service, dispatch, shop, as_user,
                                                                          query):
    rpc, stores = shop["rpc"], shop["stores"]
    x = active_campaign(shop, name="Everywhere")
    y = active_campaign(shop, name="Only S2", store_ids=[stores["S2"]])
    for campaign, count in ((x, 3), (y, 2)):
        for _ in range(count):
            rpc("authorize_issuance", {"reference": new_id(), "merchant_id": shop["id"], "campaign_id": campaign["id"],
                                       "kind": "discount_fixed", "currency": "ZAR", "value": 1000})
    people = {name: rpc("create_customer", {"name": name})["id"] for name in "ABCD"}
    receipts = iter(range(100))

    def buy(who, store, amount):
        rpc("record_purchase", {"customer_id": people[who] if who else None, "amount": amount, "currency": "ZAR",
                                "receipt_id": "R-%d" % next(receipts), "store_id": stores[store]})
    for who, store, amount in (("A", "S1", 1000), ("A", "S1", 2000), ("A", "S2", 3000), ("B", "S1", 4000),
                               ("C", "S2", 500), ("C", "S2", 700), ("D", "S2", 900), (None, "S1", 100)):
        buy(who, store, amount)
    for campaign, who, store, amount in ((x, "A", "S1", 300), (y, "C", "S2", 200), (y, "A", "S2", 150)):
        redeem(campaign_service, dispatch, shop, campaign["id"], people[who], store, amount)
    buy("B", "S1", 600)

    today = datetime.now(timezone.utc).date()
    merchant = {"store_id": None, "currency": "ZAR", "issued": 5, "redeemed": 3, "redemption_rate": 0.6,
                "discount_cost": 650, "purchases": 9, "revenue": 12800,
                "redeemers": group(2, 5, 7200, 1.0), "non_redeemers": group(2, 3, 5500, 0.5),
                "repeat_purchase_rate": {"redeemers": 1.0, "non_redeemers": 0.5},
                "daily": [{"day": today.isoformat(), "issued": 5, "redeemed": 3, "discount_cost": 650,
                           "purchases": 9, "revenue": 12800}]}
    s1 = {"store_id": stores["S1"], "issued": 3, "redeemed": 1, "redemption_rate": 0.3333, "discount_cost": 300,
          "purchases": 5, "revenue": 7700, "redeemers": group(1, 2, 3000, 1.0), "non_redeemers": group(1, 2, 4600, 1.0)}
    s2 = {"store_id": stores["S2"], "issued": 5, "redeemed": 2, "redemption_rate": 0.4, "discount_cost": 350,
          "purchases": 4, "revenue": 5100, "redeemers": group(2, 3, 4200, 0.5), "non_redeemers": group(1, 1, 900, 0.0)}

    def check():
        answer = rpc("store_analytics")
        assert {k: answer[k] for k in merchant} == merchant
        assert (answer["since"], answer["until"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
        for expected in (s1, s2):
            answer = rpc("store_analytics", {"store_id": expected["store_id"]})
            assert {k: answer[k] for k in expected} == expected

    check()
    # the backfill (what the migration runs) gives what counting purchase by purchase gave
    with plain_transaction(campaign_service) as tx:
        analytics.rebuild_store_sales(tx, shop["id"])
    check()

    # a store user sees their own store, and no other
    assert rpc("store_analytics", role="store_user")["store_id"] == stores["S1"]
    with pytest.raises(Forbidden):
        rpc("store_analytics", {"store_id": stores["S2"]}, role="store_user")
    # another merchant sees none of it
    elsewhere = call(campaign_service, "store_analytics", as_user("owner", merchant_id=new_id()))
    assert (elsewhere["purchases"], elsewhere["issued"], elsewhere["currency"]) == (0, 0, None)
    with pytest.raises(ValidationFailed):
        rpc("store_analytics", {"since": today.isoformat(), "until": (today - timedelta(days=1)).isoformat()})

    # repeat buyers are judged per customer over the range asked
    query("UPDATE campaign.purchases SET created_at = created_at - interval '10 days' WHERE customer_id = %s "
          "AND store_id = %s", (people["A"], stores["S1"]))
    with plain_transaction(campaign_service) as tx:
        analytics.rebuild_store_sales(tx, shop["id"])
    recent = rpc("store_analytics", {"since": (today - timedelta(days=5)).isoformat()})
    assert recent["redeemers"] == group(2, 3, 4200, 0.5)
    longer = rpc("store_analytics", {"since": (today - timedelta(days=10)).isoformat()})
    assert longer["redeemers"] == group(2, 5, 7200, 1.0)
    assert [d["purchases"] for d in longer["daily"]] == [2, 7]
    back_then = rpc("store_analytics", {"since": (today - timedelta(days=10)).isoformat(),
                                        "until": (today - timedelta(days=10)).isoformat()})
    assert (back_then["redeemers"], back_then["issued"]) == (group(1, 2, 3000, 1.0), 0)


def plain_transaction(container):
    """A transaction in the service's own schema, as its own database role (committed at the end)."""
    return campaign_transaction(container.config["DATABASE_URL"])


def test_the_per_customer_limit_holds_under_concurrent_issuance(shop, make_config, amqp_uri, as_user):
    limited = active_campaign(shop, per_customer_limit=2, budget=None)
    customer = shop["rpc"]("create_customer", {"name": "Sipho"})["id"]
    owner = as_user("owner", merchant_id=shop["id"])

    def issue(_):
        with ServiceRpcProxy("campaign", make_config("campaign", AMQP_URI=amqp_uri), context_data=owner,
                             timeout=20) as proxy:
            try:
                proxy.authorize_issuance({"reference": new_id(), "campaign_id": limited["id"], "customer_id": customer,
                                          "kind": "discount_fixed", "currency": "ZAR", "value": 100})
                return "issued"
            except Conflict as error:
                return error.code

    pile = eventlet.GreenPile(8)
    for n in range(8):
        pile.spawn(issue, n)
    assert sorted(pile) == ["issued"] * 2 + ["per_customer_limit_reached"] * 6


def test_the_contact_is_for_the_merchants_staff_and_the_services_own_work(shop, campaign_service, as_user):
    customer = shop["rpc"]("create_customer", {"name": "Lerato", "email": "lerato@example.com",
                                               "email_consent": True})
    contact = shop["rpc"]("get_customer_contact", customer["id"], role="support_agent")
    assert contact == {"customer_id": customer["id"], "merchant_id": shop["id"], "name": "Lerato",
                       "email": "lerato@example.com", "phone": None, "email_consent": True}
    with pytest.raises(NotFound):
        call(campaign_service, "get_customer_contact", as_user("owner", merchant_id=new_id()), customer["id"])


def test_another_services_own_work_reaches_a_customer(shop, campaign_service, make_config):
    """Notification (issue 9) asks with no token, as itself: the broker user it connects as says so."""
    customer = shop["rpc"]("create_customer", {"name": "Zanele", "phone": "+27 82 000 1111"})

    class Notifying:
        name = "notification"
        campaign = RpcProxy("campaign")

        @timer(interval=3600)
        def reach(self, customer_id, merchant_id=None):
            return self.campaign.get_customer_contact(customer_id, merchant_id)

    container = ServiceContainer(Notifying, make_config("notification"))
    container.start()
    try:
        with entrypoint_hook(container, "reach") as reach:
            assert reach(customer["id"])["phone"] == "+27820001111"
            assert reach(customer["id"], shop["id"])["name"] == "Zanele"
            with pytest.raises(NotFound):
                reach(customer["id"], new_id())  # named, it must be the customer's merchant
    finally:
        container.stop()
