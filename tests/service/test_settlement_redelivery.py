"""Settlement's ledger, whatever the broker does: any order of a few redemptions and their
reversals, with redeliveries of any of them (and a reversal before its redemption), through the real
handlers, ends in the ledger the in-order, once-each delivery gives: the same entries, postings,
exceptions (none), nothing parked."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings

from services.redemption.contract.events import RedemptionReversed, VoucherRedeemed
from services.settlement.service import SettlementService
from tests.events import example as event_example
from tests.service.conftest import new_id, started
from tests.service.redelivery import deliver, event_ids, in_order, schedules

AT = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=2)


@pytest.fixture(scope="module")
def settlement(make_config):
    # a reversal that comes before its redemption is retried after 0.2 s, then 0.5, 1 and 2
    with started(SettlementService, make_config("settlement", EVENT_RETRY_DELAYS=[0.2, 0.5, 1.0, 2.0])) as c:
        yield c


def payloads(shape, merchant_id, store_id, ids):
    """``key -> (event_id, payload)`` for the redemptions (and reversals) ``shape`` describes."""
    redemptions = [new_id() for _ in shape]
    built = {}
    for kind, i in in_order(shape):
        fields = dict(redemption_id=redemptions[i], reference="RD-PROP%04d" % i, voucher_id=redemptions[i],
                      merchant_id=merchant_id, store_id=store_id, amount=1000 + 250 * i, currency="ZAR")
        if kind == "redeemed":
            body = event_example(VoucherRedeemed, redeemed_at=AT + timedelta(minutes=i), **fields)
        else:
            body = event_example(RedemptionReversed, reversed_at=AT + timedelta(hours=1, minutes=i), **fields)
        built[(kind, i)] = (ids[(kind, i)], body)
    return built, redemptions


def ledger(query, merchant_id, store_id, redemptions):
    """The merchant's ledger with redemption ids as their index, and its accounts named without
    the merchant's and store's ids (two runs compare)."""
    index = {rid: i for i, rid in enumerate(redemptions)}
    entries = sorted(
        (row["kind"], index[str(row["source_id"])], row["amount"], row["funded"], row["fee"], row["payable"],
         row["corrects"] is not None)
        for row in query("SELECT kind, source_id, amount, funded, fee, payable, corrects FROM "
                         "settlement.journal_entries WHERE merchant_id = %s", (merchant_id,)))
    postings = {row["account"].replace(merchant_id, "M").replace(store_id, "S"): row["total"] for row in query(
        "SELECT account, sum(amount) AS total FROM settlement.postings WHERE merchant_id = %s GROUP BY account",
        (merchant_id,))}
    exceptions = sorted(row["kind"] for row in query(
        "SELECT kind FROM settlement.settlement_exceptions WHERE merchant_id = %s", (merchant_id,)))
    parked = query("SELECT count(*) AS n FROM settlement.parked_events WHERE payload->>'merchant_id' = %s",
                   (merchant_id,))[0]["n"]
    recorded = query("SELECT count(*) AS n FROM settlement.outbox WHERE event_type = 'entry_recorded' "
                     "AND payload->>'merchant_id' = %s", (merchant_id,))[0]["n"]
    return {"entries": entries, "postings": postings, "exceptions": exceptions, "parked": parked,
            "entry_recorded events": recorded}


def test_any_order_with_redeliveries_books_what_in_order_once_each_books(settlement, dispatch, query):
    baselines = {}

    def applied(shape, order):
        merchant_id, store_id = new_id(), new_id()
        built, redemptions = payloads(shape, merchant_id, store_id, event_ids(shape))
        deliver(settlement, dispatch, order, built)
        return ledger(query, merchant_id, store_id, redemptions)

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(schedules())
    # a reversal first, then its redemption twice, then the reversal again
    @example(((True,), [("reversed", 0), ("redeemed", 0), ("redeemed", 0), ("reversed", 0)]))
    def check(schedule):
        shape, order = schedule
        if shape not in baselines:
            baselines[shape] = applied(shape, in_order(shape))
            assert baselines[shape]["exceptions"] == [] and baselines[shape]["parked"] == 0
        assert applied(shape, order) == baselines[shape], (shape, order)

    check()
