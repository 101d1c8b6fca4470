"""The points ledger under any sequence of credits, debits, holds, releases, commits and expiries
(hypothesis drives the real service and database): a balance never goes negative, reserved points
are never more than the balance, the ledger and the unexpired lots always add up to the balance,
and a credit is accepted once per reference."""
import itertools

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from plumbing.errors import AppError
from services.campaign.service import CampaignService
from services.redemption.contract.events import VoucherRedeemed
from tests.events import example
from tests.service.conftest import call, handling, new_id, started

POINTS = st.integers(min_value=1, max_value=400)


@pytest.fixture(scope="module")
def points_service(make_config):
    with started(CampaignService, make_config("campaign")) as container:
        yield container


def test_points_invariants_hold_under_any_sequence(points_service, as_user, query, dispatch):
    references = itertools.count()

    class Ledger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.merchant = new_id()
            self.owner = as_user("owner", merchant_id=self.merchant)
            self.till = as_user("store_user", merchant_id=self.merchant, store_id=new_id())
            self.customer = call(points_service, "create_customer", self.owner, {"name": "Prop"})["id"]
            self.balance, self.reserved, self.holds, self.used = 0, 0, {}, []

        def rpc(self, method, who, *args):
            return call(points_service, method, who, *args)

        @rule(points=POINTS)
        def credit(self, points):
            reference = "ref-%d" % next(references)
            self.rpc("adjust_points", self.owner, self.customer, {"points": points, "reference": reference,
                                                                   "reason": "property test"})
            self.balance += points
            self.used.append(reference)

        @precondition(lambda self: self.used)
        @rule(data=st.data())
        def credit_again(self, data):
            reference = data.draw(st.sampled_from(self.used))
            with pytest.raises(AppError) as refused:
                self.rpc("adjust_points", self.owner, self.customer, {"points": 5, "reference": reference,
                                                                       "reason": "replayed"})
            assert refused.value.code == "reference_already_used"

        @rule(points=POINTS)
        def debit(self, points):
            try:
                self.rpc("adjust_points", self.owner, self.customer, {"points": -points, "reason": "property test",
                                                                       "reference": "ref-%d" % next(references)})
            except AppError as refused:
                assert refused.code == "insufficient_points" and points > self.balance - self.reserved
                return
            self.balance -= points

        @rule(points=POINTS)
        def reserve(self, points):
            try:
                hold = self.rpc("reserve_points", self.till, {"customer_id": self.customer, "points": points,
                                                              "reference": new_id()})
            except AppError as refused:
                assert refused.code == "insufficient_points" and points > self.balance - self.reserved
                return
            self.holds[hold["reservation_id"]] = points
            self.reserved += points

        @precondition(lambda self: self.holds)
        @rule(data=st.data())
        def release(self, data):
            reservation = data.draw(st.sampled_from(sorted(self.holds)))
            self.rpc("release_points", self.till, reservation)
            self.reserved -= self.holds.pop(reservation)

        @precondition(lambda self: self.holds)
        @rule(data=st.data())
        def commit(self, data):
            reservation = data.draw(st.sampled_from(sorted(self.holds)))
            event_id = new_id()
            body = example(VoucherRedeemed, merchant_id=self.merchant, amount=0, points=self.holds[reservation],
                           points_reservation_id=reservation)
            with handling(points_service, "spend_budget_and_points", event_id) as result:
                dispatch(body, event_id=event_id)
            result.get()
            points = self.holds.pop(reservation)
            self.reserved -= points
            self.balance -= points

        @rule()
        def expire_oldest(self):
            query("UPDATE campaign.points_lots SET expires_at = now() - interval '1 second' WHERE id = ("
                  "SELECT id FROM campaign.points_lots WHERE customer_id = %s AND remaining > 0 "
                  "ORDER BY expires_at, id LIMIT 1)", (self.customer,))
            call(points_service, "expire_points", {})
            after = query("SELECT balance FROM campaign.points_accounts WHERE customer_id = %s",
                          (self.customer,))[0]["balance"]
            assert self.reserved <= after <= self.balance  # only what was free can expire
            self.balance = after

        @invariant()
        def adds_up(self):
            [account] = query("SELECT balance, reserved FROM campaign.points_accounts WHERE customer_id = %s",
                              (self.customer,))
            assert (account["balance"], account["reserved"]) == (self.balance, self.reserved)
            assert 0 <= account["reserved"] <= account["balance"]
            [sums] = query("SELECT (SELECT coalesce(sum(points), 0) FROM campaign.points_ledger WHERE customer_id = %s) "
                           "AS ledger, (SELECT coalesce(sum(remaining), 0) FROM campaign.points_lots "
                           "WHERE customer_id = %s) AS lots", (self.customer, self.customer))
            assert sums["ledger"] == sums["lots"] == account["balance"]

    Ledger.TestCase.settings = settings(max_examples=4, stateful_step_count=8, deadline=None,
                                        suppress_health_check=list(HealthCheck))
    Ledger.TestCase().runTest()
