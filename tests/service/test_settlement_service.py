"""The settlement service in a real container, on this run's PostgreSQL and RabbitMQ.

Redemption and support events are dispatched as their outboxes would; what
settlement emits is read from its own outbox table.
"""
import csv
import io
import re
from datetime import datetime, timedelta, timezone

import eventlet
import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nameko.extensions import DependencyProvider
from nameko.testing.services import entrypoint_hook, entrypoint_waiter, worker_factory

from plumbing.contracts import event_of
from plumbing.db import ConnectionPool, Database, Transaction, find_dependency
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.redemption.contract.events import RedemptionReversed, VoucherRedeemed
from services.settlement import cli, domain, ledger, payouts, storage
from services.settlement.service import SettlementService
from services.support.contract.events import TicketCreated, TicketResolved
from tests.conftest import component_database_url
from tests.events import example
from tests.service.conftest import call, handling, new_id, started, wait_until

NOW = datetime.now(timezone.utc)
LAST_MONTH = (NOW.replace(day=1) - timedelta(days=1)).replace(day=15, hour=12)
TWO_MONTHS_AGO = (LAST_MONTH.replace(day=1) - timedelta(days=1)).replace(day=15, hour=12)
PERIOD = LAST_MONTH.strftime("%Y-%m")
EARLIER_PERIOD = TWO_MONTHS_AGO.strftime("%Y-%m")


# what the redemption service answers for reconciliation, per merchant; by default it agrees with
# the ledger (the integration tests reconcile against the real one)
REDEMPTION_SAYS = {}


class RedemptionTotals(DependencyProvider):
    """The redemption service's side of reconciliation, for a settlement container on its own."""

    def get_dependency(self, worker_ctx):
        db = find_dependency(self.container, Database)

        class Redemption:
            @staticmethod
            def reconciliation_totals(query):
                if query["merchant_id"] in REDEMPTION_SAYS:
                    return {"items": REDEMPTION_SAYS[query["merchant_id"]]}
                rows = db.pool.run(lambda tx: storage.ledger_totals(tx, query["merchant_id"], query["since"],
                                                                   query["until"]))
                return {"items": [dict(r, store_id=str(r["store_id"]) if r["store_id"] else None,
                                       currency=r["currency"].strip()) for r in rows]}
        return Redemption()


class Settlement(SettlementService):
    redemption = RedemptionTotals()


@pytest.fixture(scope="module")
def settlement(make_config):
    # a reversal that arrives before its redemption is retried after 0.3s, then 1s, then 3s
    # no cooling-off unless a test sets one (see test_a_changed_address_holds_payouts_while_it_cools_off)
    with started(Settlement, make_config("settlement", EVENT_RETRY_DELAYS=[0.3, 1.0, 3.0],
                                         PAYOUT_COOLING_OFF_HOURS=0)) as c:
        yield c


@pytest.fixture
def record(settlement, dispatch):
    """``record(payload)``: dispatch a ``voucher_redeemed`` and wait until it is handled."""
    def send(payload, event_id=None):
        event_id = event_id or new_id()
        with handling(settlement, "record_redemption", event_id) as result:
            dispatch(payload, event_id=event_id)
        return result.get()
    return send


@pytest.fixture
def reverse(settlement, dispatch):
    def send(redeemed, event_id=None):
        event_id = event_id or new_id()
        with handling(settlement, "record_reversal", event_id) as result:
            dispatch(reversal_of(redeemed), event_id=event_id)
        return result.get()
    return send


@pytest.fixture
def rpc(settlement, as_user):
    """``rpc("close_batch", "finance", merchant_id, data)``: call as a user of that merchant."""
    def invoke(method, role, merchant_id, *args, **kwargs):
        return call(settlement, method, as_user(role, merchant_id=merchant_id), *args, **kwargs)
    return invoke


def redemption(merchant_id, amount=2500, currency="ZAR", at=LAST_MONTH, **extra):
    return example(VoucherRedeemed, reference="RD-" + new_id()[:10].upper(), merchant_id=merchant_id,
                   amount=amount, currency=currency, redeemed_at=at, **extra)


def reversal_of(redeemed, at=None):
    return example(RedemptionReversed, redemption_id=redeemed.redemption_id, reference=redeemed.reference,
                   voucher_id=redeemed.voucher_id, merchant_id=redeemed.merchant_id, store_id=redeemed.store_id,
                   amount=redeemed.amount, currency=redeemed.currency, reason="customer changed their mind",
                   reversed_at=at or NOW)


@pytest.fixture
def platform(settlement, as_user):
    """``platform("confirm_payout_account", data)``: call as platform finance (``role=`` another)."""
    def invoke(method, *args, role="platform_finance", user_id=None):
        return call(settlement, method, as_user(role, user_id=user_id), *args)
    return invoke


def call_note(merchant_id, address, **extra):
    return dict({"merchant_id": merchant_id, "wallet_address": address, "method": "call_note",
                 "call_note": {"person": "Thandi (owner)", "phone_number": "+27 21 555 0100",
                               "read_back": address}}, **extra)


def funded(query, merchant_id, amount=2500, funding="platform", commission_bp=0, **extra):
    """A platform- or partner-funded redemption under an agreement whose terms settlement already
    holds (as if asked of the campaign service before; the integration tests ask the real one)."""
    agreement = new_id()
    query("INSERT INTO settlement.funding_terms (agreement_id, merchant_id, funder_kind, funder_name, currency, "
          "commission_bp) VALUES (%s, %s, %s, %s, 'ZAR', %s)",
          (agreement, merchant_id, funding, "Acme Partners" if funding == "partner" else None, commission_bp))
    return redemption(merchant_id, amount, funding=funding, funding_agreement_id=agreement, **extra)


def batch_membership(query, merchant_id):
    """Each of the merchant's entries with every batch whose range holds it (straight from the tables)."""
    return query("SELECT e.id, e.kind, e.source_id, e.amount, e.payable, array_remove(array_agg(b.reference), NULL) "
                 "AS batches, array_remove(array_agg(b.id::text), NULL) AS batch_ids, "
                 "(SELECT sum(amount) FROM settlement.postings p WHERE p.entry_id = e.id) AS balance "
                 "FROM settlement.journal_entries e LEFT JOIN settlement.settlement_batches b "
                 "ON b.merchant_id = e.merchant_id AND b.currency = e.currency AND e.seq > b.first_seq "
                 "AND e.seq <= b.last_seq AND e.kind IN ('redemption', 'reversal', 'correction') "
                 "WHERE e.merchant_id = %s GROUP BY e.id", (merchant_id,))


def entries(rpc, merchant_id, **filters):
    return rpc("list_entries", "finance", merchant_id, filters)["items"]


def exceptions(rpc, merchant_id):
    return rpc("list_exceptions", "finance", merchant_id)["items"]


def confirmed_wallet(rpc, platform, merchant_id):
    address = "wallet-" + merchant_id[:8]
    rpc("set_payout_account", "owner", merchant_id, {"wallet_address": address})
    return platform("confirm_payout_account", call_note(merchant_id, address))


def app_error(error_type, fn, *args, **kwargs):
    with pytest.raises(error_type) as raised:
        fn(*args, **kwargs)
    return raised.value


# -- the ledger --------------------------------------------------------------------------

def test_a_redemption_records_one_balanced_entry(record, rpc, emitted, query):
    merchant = new_id()
    redeemed = funded(query, merchant, 2500, points_value=700, funding="partner", commission_bp=1000)
    record(redeemed)

    [entry] = entries(rpc, merchant)
    assert entry["kind"] == "redemption"
    assert entry["redemption_id"] == redeemed.redemption_id
    assert entry["redemption_reference"] == redeemed.reference
    assert entry["store_id"] == redeemed.store_id
    assert (entry["amount"], entry["currency"]) == (3200, "ZAR")
    assert (entry["counterparty"], entry["funded"], entry["fee"], entry["payable"]) == ("partner", 2500, 250, 2250)
    assert entry["batch_reference"] is None and entry["seq"] == 1
    store = redeemed.store_id
    assert sorted((p["account"], p["amount"]) for p in entry["postings"]) == sorted([
        ("partner_receivable:%s" % redeemed.funding_agreement_id, 2500),
        ("merchant_payable:%s:%s" % (merchant, store), -2250), ("platform_fees:%s" % merchant, -250),
        ("points_liability:%s" % merchant, 700), ("points_redeemed:%s:%s" % (merchant, store), -700)])
    assert emitted("settlement", "entry_recorded", merchant_id=merchant) == [{
        "entry_id": entry["id"], "kind": "redemption", "merchant_id": merchant,
        "redemption_id": redeemed.redemption_id, "amount": 3200, "currency": "ZAR"}]


def test_a_redelivered_redemption_event_adds_nothing(record, rpc, emitted):
    merchant = new_id()
    redeemed = redemption(merchant)
    event_id = new_id()
    for _ in range(3):
        record(redeemed, event_id=event_id)
    assert [e["amount"] for e in entries(rpc, merchant)] == [2500]
    assert exceptions(rpc, merchant) == []  # a redelivery is not a duplicate redemption
    assert len(emitted("settlement", "entry_recorded", merchant_id=merchant)) == 1


def test_a_second_event_for_the_same_redemption_raises_a_duplicate_exception(record, rpc, emitted):
    merchant = new_id()
    redeemed = redemption(merchant, 1800)
    record(redeemed)
    record(redeemed)  # another event id, the same redemption

    assert [e["amount"] for e in entries(rpc, merchant)] == [1800]  # money moves once
    [exception] = exceptions(rpc, merchant)
    assert exception["kind"] == "duplicate" and exception["status"] == "open"
    assert (exception["amount"], exception["currency"]) == (1800, "ZAR")
    assert exception["store_id"] == redeemed.store_id
    assert redeemed.redemption_id in exception["message"]
    [raised] = emitted("settlement", "exception_raised", merchant_id=merchant)
    assert raised["kind"] == "duplicate" and raised["exception_id"] == exception["id"]
    assert len(emitted("settlement", "entry_recorded", merchant_id=merchant)) == 1


def test_redemptions_delivered_together_are_booked_in_batches_each_once(dispatch, rpc, emitted, query):
    merchant = new_id()
    redeemed = [redemption(merchant, 100 + n) for n in range(30)]
    event_ids = [new_id() for _ in redeemed]
    for payload, event_id in zip(redeemed, event_ids):
        dispatch(payload, event_id=event_id)
    dispatch(redeemed[7], event_id=event_ids[7])  # a redelivery, likely inside a batch with its first copy
    wait_until(lambda: len(entries(rpc, merchant)) == 30, timeout=20)
    eventlet.sleep(0.5)  # the redelivery too
    assert sorted(e["amount"] for e in entries(rpc, merchant)) == [100 + n for n in range(30)]
    assert exceptions(rpc, merchant) == [] and len(emitted("settlement", "entry_recorded", merchant_id=merchant)) == 30
    assert rpc("verify_ledger", "finance", merchant)["valid"]
    # one transaction per batch: its claims share a timestamp, and thirty events took fewer
    commits = query("SELECT count(DISTINCT handled_at) AS n FROM settlement.handled_events WHERE event_id = "
                    "ANY(%s::uuid[]) AND handler = 'record_redemption'", (event_ids,))[0]["n"]
    assert commits < 30


def test_each_redemption_in_a_batch_keeps_its_own_correlation_id(dispatch, rpc, query):
    """A batch is booked in one worker, but each entry_recorded names the request its redemption
    came from (an operator follows one id from the till to the ledger), not the batch's first."""
    merchant = new_id()
    redeemed = [redemption(merchant, 300 + n) for n in range(20)]
    correlation_ids = {r.redemption_id: "till-%02d-%s" % (n, new_id()[:8]) for n, r in enumerate(redeemed)}
    event_ids = [dispatch(r, headers={"nameko.correlation_id": correlation_ids[r.redemption_id]}) for r in redeemed]
    wait_until(lambda: len(entries(rpc, merchant)) == 20, timeout=20)
    rows = query("SELECT payload->>'redemption_id' AS redemption_id, correlation_id FROM settlement.outbox "
                 "WHERE event_type = 'entry_recorded' AND payload->>'merchant_id' = %s", (merchant,))
    assert {row["redemption_id"]: row["correlation_id"] for row in rows} == correlation_ids
    commits = query("SELECT count(DISTINCT handled_at) AS n FROM settlement.handled_events WHERE event_id = "
                    "ANY(%s::uuid[]) AND handler = 'record_redemption'", (event_ids,))[0]["n"]
    assert commits < 20  # some were booked together: what this test is about


def test_a_batch_with_a_failing_event_books_the_others_and_that_one_on_its_retry(dispatch, rpc, monkeypatch):
    merchant = new_id()
    redeemed = [redemption(merchant, 200 + n) for n in range(12)]
    failing, failures, book = redeemed[6].reference, [], ledger.book_redemption

    def flaky(svc, event, parked=None):
        if event.reference == failing and not failures:
            failures.append(event.reference)
            raise RuntimeError("the database went away")
        return book(svc, event, parked)
    monkeypatch.setattr(ledger, "book_redemption", flaky)
    for payload in redeemed:
        dispatch(payload)
    wait_until(lambda: len(entries(rpc, merchant)) == 12, timeout=20)
    assert failures == [failing]
    assert sorted(e["amount"] for e in entries(rpc, merchant)) == [200 + n for n in range(12)]
    assert exceptions(rpc, merchant) == [] and rpc("verify_ledger", "finance", merchant)["valid"]


def test_a_reversal_before_its_redemption_is_retried_then_mirrors_it(settlement, dispatch, record, rpc, query):
    merchant = new_id()
    redeemed = redemption(merchant, 4000, points_value=500)
    reversal_id = new_id()
    with handling(settlement, "record_reversal", reversal_id, succeeded=False) as first:
        dispatch(reversal_of(redeemed), event_id=reversal_id)
    with pytest.raises(LookupError):
        first.get()  # raised, so the plumbing sends it to a retry queue
    assert entries(rpc, merchant) == []

    with handling(settlement, "record_reversal", reversal_id, succeeded=True, timeout=20):
        record(redeemed)
    by_kind = {e["kind"]: e for e in entries(rpc, merchant)}
    assert set(by_kind) == {"redemption", "reversal"}
    original, reversal = by_kind["redemption"], by_kind["reversal"]
    assert (reversal["amount"], reversal["currency"]) == (-4500, "ZAR")
    assert reversal["redemption_id"] == redeemed.redemption_id
    assert sorted((p["account"], -p["amount"]) for p in reversal["postings"]) == \
        sorted((p["account"], p["amount"]) for p in original["postings"])
    assert exceptions(rpc, merchant) == []  # reversed before any batch closed: nothing to flag
    assert query("SELECT 1 FROM settlement.parked_events WHERE event_id = %s", (reversal_id,)) == []


def test_a_redelivered_reversal_mirrors_once(record, reverse, rpc):
    merchant = new_id()
    redeemed = redemption(merchant)
    record(redeemed)
    event_id = new_id()
    reverse(redeemed, event_id=event_id)
    reverse(redeemed, event_id=event_id)
    reverse(redeemed)  # another event for the same reversal
    assert sorted(e["amount"] for e in entries(rpc, merchant)) == [-2500, 2500]


def test_a_reversal_after_its_batch_closed_raises_reversal_after_close(record, reverse, rpc, platform, emitted, query):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    redeemed = funded(query, merchant, 2500)
    record(redeemed)
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert batch["exception"] is None

    reverse(redeemed)
    [exception] = exceptions(rpc, merchant)
    assert exception["kind"] == "reversal_after_close"
    assert exception["batch_reference"] == batch["reference"]
    assert (exception["amount"], exception["currency"]) == (2500, "ZAR")
    assert exception["store_id"] == redeemed.store_id
    assert batch["reference"] in exception["message"] and redeemed.reference in exception["message"]
    [raised] = emitted("settlement", "exception_raised", merchant_id=merchant)
    assert (raised["kind"], raised["batch_reference"], raised["amount"]) == \
        ("reversal_after_close", batch["reference"], 2500)
    # the reversal itself waits, unbatched, for the next batch
    [reversal] = entries(rpc, merchant, unbatched=True)
    assert (reversal["kind"], reversal["amount"]) == ("reversal", -2500)


def test_a_duplicate_is_raised_without_a_broker(database_url, as_user):
    # worker_factory: the handler on a real transaction, with a fake outbox to see what it emits
    pool = ConnectionPool(component_database_url(database_url, "settlement"), size=1, schema="settlement")
    tx = Transaction(pool)
    try:
        service = worker_factory(SettlementService, db=tx)
        merchant = new_id()
        redeemed = redemption(merchant, 900, currency="EUR")
        service.record_redemption(redeemed)
        service.record_redemption(redeemed)
        emits = [args[0] for args, _ in service.events.emit.call_args_list]
        assert [event_of(payload).event_type for payload in emits] == ["entry_recorded", "exception_raised"]
        raised = emits[1]
        assert (raised.kind, raised.merchant_id, raised.amount, raised.currency) == \
            ("duplicate", merchant, 900, "EUR")
        assert raised.batch_reference is None
        assert tx.scalar("SELECT count(*) FROM journal_entries WHERE merchant_id = %s", (merchant,)) == 1
    finally:
        tx.rollback()
        tx.release()
        pool.close()


# -- batches -------------------------------------------------------------------------------

def test_a_batch_takes_this_merchants_unbatched_entries_up_to_its_period_end(record, rpc, as_user, settlement,
                                                                           query):
    merchant, other = new_id(), new_id()
    record(redemption(merchant, 4000, at=TWO_MONTHS_AGO))
    earlier = rpc("close_batch", "finance", merchant, {"period": EARLIER_PERIOD})
    assert earlier["reference"] == "SET-%s-001" % EARLIER_PERIOD
    assert (earlier["total"], earlier["entry_count"]) == (4000, 1)
    for amount in (1000, 2000):
        record(funded(query, merchant, amount, commission_bp=500))
    record(redemption(merchant, 300))  # the merchant's own voucher: recorded, owed by nobody
    record(redemption(merchant, 600, at=TWO_MONTHS_AGO))  # late for a closed period: goes in the next batch
    record(redemption(other, 8000))

    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert re.fullmatch(r"SET-%s-\d{3,}" % PERIOD, batch["reference"])
    assert (batch["total"], batch["entry_count"], batch["currency"]) == (3900, 4, "ZAR")
    assert (batch["funded"], batch["fees"], batch["payout_amount"]) == (3000, 150, 2850)
    assert (batch["merchant_id"], batch["period"], batch["frequency"]) == (merchant, PERIOD, "monthly")
    assert batch["period_start"].startswith(PERIOD + "-01T00:00:00")
    assert batch["closed_by"]["role"] == "finance"
    assert batch["status"] == "closed"  # no payout wallet yet (see the payout tests)
    assert [(t["from_status"], t["to_status"]) for t in batch["transitions"]] == [
        (None, "open"), ("open", "closing"), ("closing", "closed")]
    assert batch["reconciliation"]["matched"] is True
    lines = {(l["counterparty"], l["store_id"] is not None): l for l in batch["lines"]}
    assert sum(l["payable"] for l in batch["lines"]) == 2850
    assert {l["counterparty"] for l in batch["lines"]} == {"platform", "merchant"}
    assert sum(l["redemptions"] for l in batch["lines"]) == 4
    assert all(l["payable"] == 0 for l in batch["lines"] if l["counterparty"] == "merchant")
    assert lines
    batched = {e["amount"]: e["batch_reference"] for e in entries(rpc, merchant)}
    assert batched == {4000: earlier["reference"], 1000: batch["reference"], 2000: batch["reference"],
                       300: batch["reference"], 600: batch["reference"]}

    # the other merchant's entry is untouched; references are numbered per merchant, so its first
    # batch of the period is 001 too and tells it nothing about anyone else's
    admin = as_user("admin")
    [theirs] = call(settlement, "list_entries", admin, {"merchant_id": other})["items"]
    assert theirs["batch_reference"] is None
    other_batch = rpc("close_batch", "finance", other, {"period": PERIOD})
    assert batch["reference"] == other_batch["reference"] == "SET-%s-001" % PERIOD
    assert other_batch["total"] == 8000
    record(redemption(other, 100))
    assert rpc("close_batch", "finance", other, {"period": PERIOD})["reference"] == "SET-%s-002" % PERIOD

    listed = rpc("list_batches", "owner", merchant)["items"]
    assert [b["reference"] for b in listed] == [batch["reference"], earlier["reference"]]
    shown = rpc("get_batch", "support_agent", merchant, batch["reference"])
    assert shown["total"] == 3900 and shown["exception"]["kind"] == "payout_account_unconfirmed"



def test_nothing_left_to_settle_is_a_409(record, rpc):
    merchant = new_id()
    error = app_error(Conflict, rpc, "close_batch", "finance", merchant, {"period": PERIOD})
    assert (error.status, error.code) == (409, "nothing_to_settle")

    record(redemption(merchant, 500))
    rpc("close_batch", "finance", merchant, {"period": PERIOD})
    error = app_error(Conflict, rpc, "close_batch", "finance", merchant, {"period": PERIOD})
    assert error.code == "nothing_to_settle"


def test_several_currencies_need_one_named(record, rpc):
    merchant = new_id()
    record(redemption(merchant, 1000, currency="ZAR"))
    record(redemption(merchant, 700, currency="EUR"))
    record(redemption(merchant, 300, currency="EUR"))

    error = app_error(ValidationFailed, rpc, "close_batch", "finance", merchant, {"period": PERIOD})
    assert (error.status, error.code) == (422, "currency_required")
    assert error.fields == {"currency": ["One of EUR, ZAR."]}

    eur = rpc("close_batch", "finance", merchant, {"period": PERIOD, "currency": "EUR"})
    assert (eur["currency"], eur["total"], eur["entry_count"]) == ("EUR", 1000, 2)
    zar = rpc("close_batch", "finance", merchant, {"period": PERIOD})  # only one currency is left
    assert (zar["currency"], zar["total"]) == ("ZAR", 1000)
    error = app_error(Conflict, rpc, "close_batch", "finance", merchant, {"period": PERIOD, "currency": "USD"})
    assert error.code == "nothing_to_settle"


@pytest.mark.parametrize("data,code,field", [
    ({"period": "2999-01"}, "period_in_future", "period"),
    ({"period": "May 2026"}, "period_invalid", "period"),
    ({"period": "2026-05\n"}, "period_invalid", "period"),
    ({}, "validation_failed", "period"),
    ({"period": 202605}, "validation_failed", "period"),
    ({"period": PERIOD, "currency": "ZZZ"}, "validation_failed", "currency"),
    ({"period": PERIOD, "merchant_id": "not-a-uuid"}, "validation_failed", "merchant_id"),
])
def test_a_bad_close_request_names_the_bad_field(rpc, data, code, field):
    error = app_error(ValidationFailed, rpc, "close_batch", "finance", new_id(), data)
    assert error.code == code and field in error.fields


def test_closing_while_redemptions_arrive_puts_every_entry_in_exactly_one_batch(settlement, dispatch, rpc,
                                                                                 query):
    merchant = new_id()
    sent = [redemption(merchant, 100 + n) for n in range(60)]
    closed = []

    def keep_closing():
        for _ in range(8):
            try:
                closed.append(rpc("close_batch", "finance", merchant, {"period": PERIOD}))
            except Conflict:
                pass  # nothing booked since the last close
            eventlet.sleep(0.01)

    closer = eventlet.spawn(keep_closing)
    for event in sent:  # booked by the container's handler while the closes run
        dispatch(event, event_id=new_id())
    closer.wait()
    wait_until(lambda: query("SELECT count(*) AS n FROM settlement.journal_entries WHERE merchant_id = %s",
                             (merchant,))[0]["n"] == len(sent), timeout=30)
    try:
        closed.append(rpc("close_batch", "finance", merchant, {"period": PERIOD}))
    except Conflict:
        pass
    rows = batch_membership(query, merchant)
    assert sorted(str(r["source_id"]) for r in rows) == sorted(e.redemption_id for e in sent)  # none lost or doubled
    assert all(len(r["batches"]) == 1 for r in rows)  # each in exactly one batch
    for r in rows:
        r["reference"] = r["batches"][0]
    assert len(closed) >= 2 or all(r["reference"] == closed[0]["reference"] for r in rows)
    per_batch = {}
    for r in rows:
        per_batch[r["reference"]] = per_batch.get(r["reference"], 0) + r["amount"]
    # what each batch says it holds is exactly what it holds
    assert {b["reference"]: b["total"] for b in closed} == per_batch
    assert sum(b["entry_count"] for b in closed) == len(sent)


# -- payout accounts ---------------------------------------------------------------------------

def test_a_confirmed_wallet_is_paid_without_an_exception(record, rpc, platform, emitted, query):
    merchant = new_id()
    address = "wallet-" + merchant[:12]
    account = rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    assert (account["status"], account["set_by"]["role"]) == ("unconfirmed", "owner")

    error = app_error(ValidationFailed, platform, "confirm_payout_account", call_note(merchant, address + "X"))
    assert (error.status, error.code) == (422, "wallet_address_mismatch")
    assert "wallet_address" in error.fields
    assert rpc("get_payout_account", "owner", merchant)["status"] == "unconfirmed"

    confirmed = platform("confirm_payout_account", call_note(merchant, address))
    assert confirmed["status"] == "confirmed" and confirmed["confirmed_by"]["role"] == "platform_finance"

    record(funded(query, merchant, 2500))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert (batch["status"], batch["exception"]) == ("payout_pending", None)
    assert exceptions(rpc, merchant) == []
    assert emitted("settlement", "exception_raised", merchant_id=merchant) == []
    [closed] = emitted("settlement", "batch_closed", merchant_id=merchant)
    assert (closed["reference"], closed["status"], closed["total"]) == (batch["reference"], "closed", 2500)


def test_an_unconfirmed_wallet_turns_the_close_into_an_exception(record, rpc, emitted, query):
    merchant = new_id()
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-0123456789abcdef"})
    record(funded(query, merchant, 2500))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert batch["status"] == "closed"
    assert batch["exception"]["kind"] == "payout_account_unconfirmed"
    [raised] = emitted("settlement", "exception_raised", merchant_id=merchant)
    assert (raised["batch_reference"], raised["amount"], raised["currency"]) == (batch["reference"], 2500, "ZAR")
    assert "wallet…cdef" in raised["message"] and "0123456789" not in raised["message"]


def test_changing_a_confirmed_address_needs_a_new_confirmation(rpc, platform):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    changed = rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-changed-1"})
    assert (changed["status"], changed["confirmed_by"]) == ("unconfirmed", None)


def test_whoever_entered_the_address_cannot_confirm_it(settlement, as_user):
    merchant, admin_id = new_id(), new_id()
    data = call_note(merchant, "wallet-" + merchant[:8])
    call(settlement, "set_payout_account", as_user("admin", user_id=admin_id),
         {"wallet_address": data["wallet_address"], "merchant_id": merchant})
    with pytest.raises(Forbidden) as raised:
        call(settlement, "confirm_payout_account", as_user("admin", user_id=admin_id), data)
    assert (raised.value.status, raised.value.code) == (403, "four_eyes_required")
    confirmed = call(settlement, "confirm_payout_account", as_user("admin"), data)  # a second admin
    assert confirmed["status"] == "confirmed"


def test_payout_account_mistakes_get_clear_answers(rpc, platform, settlement, as_user):
    merchant = new_id()
    error = app_error(NotFound, rpc, "get_payout_account", "owner", merchant)
    assert error.code == "payout_account_missing"
    error = app_error(NotFound, platform, "confirm_payout_account", call_note(merchant, "wallet-12345678"))
    assert error.code == "payout_account_missing"
    error = app_error(ValidationFailed, rpc, "set_payout_account", "owner", merchant,
                      {"wallet_address": "short"})
    assert "wallet_address" in error.fields
    error = app_error(ValidationFailed, call, settlement, "get_payout_account", as_user("admin"),
                      "not-a-uuid")
    assert "merchant_id" in error.fields
    # only owners (and admins naming the merchant) set it
    assert app_error(Forbidden, rpc, "set_payout_account", "finance", merchant,
                     {"wallet_address": "wallet-12345678"}).code == "role_not_allowed"


@pytest.mark.parametrize("role", ["owner", "finance", "store_user", "support_agent"])
def test_nobody_of_the_merchant_confirms_its_own_address(rpc, role):
    # the owner can create a finance user and sign in as it: a merchant's users prove nothing
    merchant = new_id()
    address = "wallet-" + merchant[:12]
    rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    error = app_error(Forbidden, rpc, "confirm_payout_account", role, merchant, call_note(None, address))
    assert (error.status, error.code) == (403, "role_not_allowed")
    assert rpc("get_payout_account", "owner", merchant)["status"] == "unconfirmed"


def test_only_owners_and_admins_set_the_address_and_the_platform_names_the_merchant(rpc, platform):
    merchant = new_id()
    for role in ("finance", "store_user", "support_agent"):
        assert app_error(Forbidden, rpc, "set_payout_account", role, merchant,
                         {"wallet_address": "wallet-12345678"}).code == "role_not_allowed"
    assert app_error(Forbidden, platform, "set_payout_account",
                     {"wallet_address": "wallet-12345678", "merchant_id": merchant}).code == "role_not_allowed"
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-12345678"})
    error = app_error(Forbidden, platform, "confirm_payout_account", call_note(None, "wallet-12345678"))
    assert error.code == "merchant_required"


def test_setting_an_address_is_told_and_recorded_and_the_same_address_again_changes_nothing(rpc, emitted):
    merchant = new_id()
    first = rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-first-0123456789",
                                                          "contact_email": "owner@shop.example",
                                                          "merchant_name": "The Shop"})
    assert (first["status"], first["payable"], first["payable_from"]) == ("unconfirmed", False, None)
    again = rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-first-0123456789"})
    assert again["updated_at"] == first["updated_at"]
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-second-0123456789",
                                                  "contact_email": "owner@shop.example"})
    told = emitted("settlement", "payout_account_set", merchant_id=merchant)
    assert [(e["wallet_address"], e["previous_address"]) for e in told] == [
        ("wallet…6789", None), ("wallet…6789", "wallet…6789")]
    assert told[0]["contact_email"] == "owner@shop.example" and told[0]["merchant_name"] == "The Shop"
    assert told[0]["set_by"]["role"] == "owner" and told[0]["cooling_off_until"]
    history = rpc("payout_account_history", "finance", merchant)["items"]
    assert [(h["action"], h["wallet_address"]) for h in history] == [
        ("set", "wallet-second-0123456789"), ("set", "wallet-first-0123456789")]
    assert history[0]["details"]["previous_address"] == "wallet-first-0123456789"
    assert history[0]["actor"]["role"] == "owner"


def request_code(platform, merchant, email="owner@shop.example"):
    return platform("request_payout_verification",
                    {"merchant_id": merchant, "contact_email": email, "merchant_name": "The Shop"})


def sent_code(emitted, merchant):
    return emitted("settlement", "payout_verification_requested", merchant_id=merchant)[-1]["code"]


def by_code(merchant, address, code):
    return {"merchant_id": merchant, "wallet_address": address, "method": "email_code", "code": code}


def test_a_code_emailed_to_the_contact_and_read_back_confirms_the_address(rpc, platform, emitted, query):
    merchant = new_id()
    address = "wallet-" + merchant[:12]
    rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    assert app_error(Forbidden, rpc, "request_payout_verification", "owner", merchant,
                     {"contact_email": "me@evil.example"}).code == "role_not_allowed"

    requested = request_code(platform, merchant)
    assert requested["sent_to"] == "o***@shop.example" and requested["max_attempts"] == 5
    assert "code" not in requested  # the requester never sees it: the merchant reads it back
    [event] = emitted("settlement", "payout_verification_requested", merchant_id=merchant)
    assert (event["contact_email"], event["wallet_address"], event["verification_id"]) == \
        ("owner@shop.example", address, requested["verification_id"])
    code = event["code"]
    assert re.fullmatch(r"\d{4} \d{4}", code)
    [row] = query("SELECT code_hash, status FROM settlement.payout_verifications WHERE merchant_id = %s",
                  (merchant,))
    assert row["status"] == "pending" and code.replace(" ", "") not in row["code_hash"]

    confirmed = platform("confirm_payout_account", by_code(merchant, address, code.replace(" ", "-")))
    assert confirmed["status"] == "confirmed" and confirmed["payable"] is True
    assert confirmed["confirmation"] == {"method": "email_code", "verification_id": requested["verification_id"],
                                         "sent_to": "o***@shop.example"}
    [told] = emitted("settlement", "payout_account_confirmed", merchant_id=merchant)
    assert (told["method"], told["confirmed_by"]["role"]) == ("email_code", "platform_finance")
    history = rpc("payout_account_history", "owner", merchant)["items"]
    assert [h["action"] for h in history] == ["confirmed", "verification_requested", "set"]
    assert history[1]["details"]["sent_to"] == "o***@shop.example"
    assert history[0]["actor"]["role"] == "platform_finance"
    assert app_error(Conflict, request_code, platform, merchant).code == "payout_account_confirmed"


def test_wrong_codes_are_counted_until_the_code_is_used_up(rpc, platform, emitted, settlement, monkeypatch):
    monkeypatch.setitem(settlement.config, "PAYOUT_CODE_TRIES", 3)
    merchant = new_id()
    address = "wallet-" + merchant[:12]
    rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    request_code(platform, merchant)
    code = sent_code(emitted, merchant)
    wrong = "%08d" % ((int(code.replace(" ", "")) + 1) % 10 ** 8)

    answers = []
    for _ in range(3):
        with pytest.raises((ValidationFailed, Conflict)) as raised:
            platform("confirm_payout_account", by_code(merchant, address, wrong))
        answers.append((raised.value.status, raised.value.code, raised.value.message))
    assert answers == [(422, "verification_code_wrong", "Wrong code: 2 tries left"),
                       (422, "verification_code_wrong", "Wrong code: 1 try left"),
                       (409, "verification_code_exhausted", "Wrong code, and no tries are left: request a new code")]
    # used up: even the right code is refused now
    error = app_error(Conflict, platform, "confirm_payout_account", by_code(merchant, address, code))
    assert error.code == "verification_not_requested"
    history = rpc("payout_account_history", "finance", merchant)["items"]
    assert [h["details"].get("attempts") for h in history if h["action"] == "verification_failed"] == [3, 2, 1]
    assert rpc("get_payout_account", "owner", merchant)["status"] == "unconfirmed"

    request_code(platform, merchant)  # a new code, new tries
    assert platform("confirm_payout_account", by_code(merchant, address, sent_code(emitted, merchant)))["status"] \
        == "confirmed"


def test_an_expired_code_is_refused(rpc, platform, emitted, query):
    merchant = new_id()
    address = "wallet-" + merchant[:12]
    rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    request_code(platform, merchant)
    code = sent_code(emitted, merchant)
    query("UPDATE settlement.payout_verifications SET expires_at = now() - interval '1 second' "
          "WHERE merchant_id = %s", (merchant,))  # the clock moved on
    error = app_error(Conflict, platform, "confirm_payout_account", by_code(merchant, address, code))
    assert error.code == "verification_code_expired"
    [row] = query("SELECT status FROM settlement.payout_verifications WHERE merchant_id = %s", (merchant,))
    assert row["status"] == "expired"
    [failed] = [h for h in rpc("payout_account_history", "owner", merchant)["items"]
                if h["action"] == "verification_failed"]
    assert failed["details"]["reason"] == "expired"
    assert rpc("get_payout_account", "owner", merchant)["status"] == "unconfirmed"


def test_a_code_sent_for_an_old_address_does_not_confirm_a_new_one(rpc, platform, emitted):
    merchant = new_id()
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-old-0123456789"})
    request_code(platform, merchant)
    code = sent_code(emitted, merchant)
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-new-0123456789"})
    error = app_error(Conflict, platform, "confirm_payout_account",
                      by_code(merchant, "wallet-new-0123456789", code))
    assert error.code == "verification_not_requested"


def test_a_changed_address_holds_payouts_while_it_cools_off(record, rpc, platform, emitted, query, settlement,
                                                            monkeypatch):
    monkeypatch.setitem(settlement.config, "PAYOUT_COOLING_OFF_HOURS", 72)
    merchant = new_id()
    address = "wallet-" + merchant[:12]
    record(funded(query, merchant, 2500))
    account = rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    held = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert held["status"] == "closed" and "not confirmed" in held["exception"]["message"]
    error = app_error(Conflict, rpc, "release_batch", "finance", merchant, held["reference"])
    assert error.code == "payout_account_not_ready" and "not confirmed" in error.message

    confirmed = platform("confirm_payout_account", call_note(merchant, address))
    assert (confirmed["status"], confirmed["payable"]) == ("confirmed", False)
    assert confirmed["payable_from"] == confirmed["cooling_off_until"]
    assert datetime.fromisoformat(confirmed["cooling_off_until"]) - \
        datetime.fromisoformat(account["updated_at"]) == timedelta(hours=72)
    error = app_error(Conflict, rpc, "release_batch", "finance", merchant, held["reference"])
    assert error.code == "payout_account_not_ready" and "cooling-off" in error.message

    record(funded(query, merchant, 700))
    cooling = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert cooling["status"] == "closed" and cooling["exception"]["kind"] == "payout_account_unconfirmed"
    assert "held until" in cooling["exception"]["message"] and "cooling-off" in cooling["exception"]["message"]

    query("UPDATE settlement.payout_accounts SET cooling_off_until = now() - interval '1 second' "
          "WHERE merchant_id = %s", (merchant,))  # the cooling-off is over
    assert rpc("get_payout_account", "finance", merchant)["payable"] is True
    released = rpc("release_batch", "finance", merchant, held["reference"])
    assert (released["status"], released["released_by"]["role"]) == ("payout_pending", "finance")
    assert platform("release_batch", cooling["reference"], merchant)["status"] == "payout_pending"
    assert app_error(Conflict, rpc, "release_batch", "finance", merchant, held["reference"]).code == \
        "batch_not_held"
    assert {e["batch_reference"]: e["status"] for e in exceptions(rpc, merchant)} == {
        held["reference"]: "resolved", cooling["reference"]: "resolved"}
    assert [e["reference"] for e in emitted("settlement", "batch_released", merchant_id=merchant)] == \
        [held["reference"], cooling["reference"]]
    assert len(emitted("settlement", "exception_resolved", merchant_id=merchant)) == 2
    assert app_error(Forbidden, rpc, "release_batch", "owner", merchant, held["reference"]).code == \
        "role_not_allowed"


def test_the_payout_history_is_for_the_merchants_owners_and_finance_and_the_platform(rpc, platform):
    merchant = new_id()
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-12345678"})
    for role in ("store_user", "support_agent"):
        assert app_error(Forbidden, rpc, "payout_account_history", role, merchant).code == "role_not_allowed"
    assert app_error(Forbidden, rpc, "payout_account_history", "finance", new_id(),
                     {"merchant_id": merchant}).code == "merchant_forbidden"
    assert rpc("payout_account_history", "owner", new_id())["items"] == []
    assert [h["action"] for h in platform("payout_account_history", {"merchant_id": merchant})["items"]] == ["set"]


# -- who may do what ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["store_user", "support_agent", "owner"])
def test_only_finance_and_admins_close_batches(record, rpc, role):
    merchant = new_id()
    record(redemption(merchant))
    error = app_error(Forbidden, rpc, "close_batch", role, merchant, {"period": PERIOD})
    assert (error.status, error.code) == (403, "role_not_allowed")
    assert len(entries(rpc, merchant, unbatched=True)) == 1


def test_store_users_see_no_ledger_and_agents_only_exceptions_and_batches(rpc):
    merchant = new_id()
    for method in ("list_entries", "list_batches", "list_exceptions"):
        assert app_error(Forbidden, rpc, method, "store_user", merchant).code == "role_not_allowed"
    for method in ("list_entries", "list_batches"):
        assert app_error(Forbidden, rpc, method, "support_agent", merchant).code == "role_not_allowed"
    assert rpc("list_exceptions", "support_agent", merchant)["items"] == []


def test_one_merchant_never_sees_another(record, rpc, settlement, as_user, query):
    mine, theirs = new_id(), new_id()
    record(funded(query, mine, 1200))
    batch = rpc("close_batch", "finance", mine, {"period": PERIOD})  # with an exception: no wallet
    assert exceptions(rpc, mine)

    for method in ("list_entries", "list_batches", "list_exceptions"):
        assert rpc(method, "finance", theirs)["items"] == []
        error = app_error(Forbidden, rpc, method, "finance", theirs, {"merchant_id": mine})
        assert error.code == "merchant_forbidden"
    assert app_error(NotFound, rpc, "get_batch", "owner", theirs, batch["reference"]).code == "batch_not_found"
    assert app_error(Forbidden, rpc, "close_batch", "finance", theirs,
                     {"period": PERIOD, "merchant_id": mine}).code == "merchant_forbidden"

    admin = as_user("admin")
    error = app_error(Forbidden, call, settlement, "list_entries", admin, {})
    assert error.code == "merchant_required"
    assert [e["amount"] for e in call(settlement, "list_entries", admin, {"merchant_id": mine})["items"]] == [1200]
    assert call(settlement, "get_batch", admin, batch["reference"], mine)["merchant_id"] == mine
    # references repeat across merchants: the platform names whose batch it means
    assert app_error(Forbidden, call, settlement, "get_batch", admin, batch["reference"]).code == \
        "merchant_required"


def test_entries_walk_page_by_page(record, rpc):
    merchant = new_id()
    amounts = [100 * n for n in range(1, 6)]
    for amount in amounts:
        record(redemption(merchant, amount))
    seen, cursor = [], None
    while True:
        page = rpc("list_entries", "owner", merchant, {"limit": 2, "cursor": cursor})
        assert len(page["items"]) <= 2
        seen.extend(e["amount"] for e in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(amounts))  # newest first, each exactly once


# -- exceptions and their tickets -----------------------------------------------------------------

def test_resolving_the_ticket_resolves_the_exception(settlement, dispatch, record, rpc, emitted, query):
    merchant = new_id()
    record(funded(query, merchant, 2500))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    exception_id = batch["exception"]["id"]
    refs = {"exception_id": exception_id, "batch_reference": batch["reference"], "merchant_id": merchant}

    event_id = new_id()
    with handling(settlement, "link_exception_ticket", event_id) as linked:
        dispatch(example(TicketCreated, reference="SUP-101", merchant_id=merchant, category="settlement",
                         priority="critical", refs=refs), event_id=event_id)
    linked.get()
    [exception] = exceptions(rpc, merchant)
    assert (exception["ticket_reference"], exception["status"]) == ("SUP-101", "open")

    resolved = example(TicketResolved, reference="SUP-101", merchant_id=merchant, action="no_action",
                       resolution="Owner confirmed the wallet by phone", refs=refs,
                       resolved_by={"user_id": "u-1", "username": "agent", "role": "support_agent"})
    for _ in range(2):  # a second resolution event changes nothing
        event_id = new_id()
        with handling(settlement, "resolve_exception_from_ticket", event_id) as result:
            dispatch(resolved, event_id=event_id)
        result.get()

    [exception] = exceptions(rpc, merchant)
    assert exception["status"] == "resolved" and exception["resolved_at"]
    assert exception["resolution"] == {"ticket": "SUP-101", "action": "no_action",
                                       "resolution": "Owner confirmed the wallet by phone",
                                       "resolved_by": resolved.resolved_by}
    assert emitted("settlement", "exception_resolved", merchant_id=merchant) == [{
        "exception_id": exception_id, "kind": "payout_account_unconfirmed", "merchant_id": merchant,
        "batch_reference": batch["reference"], "ticket_reference": "SUP-101"}]


def test_a_resolved_ticket_without_an_exception_changes_nothing(settlement, dispatch, record, rpc, emitted, query):
    merchant = new_id()
    record(funded(query, merchant))
    rpc("close_batch", "finance", merchant, {"period": PERIOD})
    event_id = new_id()
    with handling(settlement, "resolve_exception_from_ticket", event_id) as result:
        dispatch(example(TicketResolved, reference="SUP-102", merchant_id=merchant, action="refund",
                         resolution="done", refs={}), event_id=event_id)
    result.get()
    assert [e["status"] for e in exceptions(rpc, merchant)] == ["open"]
    assert emitted("settlement", "exception_resolved", merchant_id=merchant) == []


# == settlement in full: payouts through the development provider, reconciliation, balances, the hash
# chain, parked entries, reads, schedules, and properties over random sequences (same container) ==

def move_on(settlement):
    """One round of the batch timer (finish closings, release, pay), now."""
    with entrypoint_hook(settlement, "move_batches_on") as hook:
        hook()


def batch_of(rpc, merchant, reference):
    return rpc("get_batch", "finance", merchant, reference)


def transfers(query, merchant):
    return query("SELECT t.* FROM settlement.devpay_transfers t JOIN settlement.payouts p "
                 "ON p.idempotency_key = t.idempotency_key WHERE p.merchant_id = %s", (merchant,))


def simulate(platform, merchant, mode, **extra):
    return platform("set_payout_simulation", dict({"merchant_id": merchant, "mode": mode}, **extra))


def payable_balance(rpc, merchant):
    accounts = rpc("get_balances", "finance", merchant)["accounts"]
    return sum(a["balance"] for a in accounts if a["account"].startswith("merchant_payable:"))


# -- paying out ------------------------------------------------------------------------------------

def test_a_payable_batch_is_paid_once_with_the_providers_reference(record, rpc, platform, settlement, query,
                                                                  emitted):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    record(funded(query, merchant, 10000, commission_bp=300))
    record(redemption(merchant, 5000))  # merchant-funded: in the batch, paid by nobody
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert (batch["status"], batch["payout_amount"], batch["fees"], batch["total"]) == \
        ("payout_pending", 9700, 300, 15000)
    assert payable_balance(rpc, merchant) == -9700  # owed to the merchant

    move_on(settlement)
    move_on(settlement)  # a second round finds nothing more to pay
    paid = batch_of(rpc, merchant, batch["reference"])
    assert paid["status"] == "paid" and paid["provider_reference"].startswith("DEVPAY-")
    assert [t["to_status"] for t in paid["transitions"]] == ["open", "closing", "closed", "payout_pending", "paid"]
    [transfer] = transfers(query, merchant)
    assert (transfer["amount"], transfer["status"], transfer["wallet_address"]) == (9700, "paid",
                                                                                    "wallet-" + merchant[:8])
    assert payable_balance(rpc, merchant) == 0  # the payout cleared what the store was owed
    [payout] = entries(rpc, merchant, kind="payout")
    assert (payout["amount"], payout["redemption_reference"]) == (-9700, batch["reference"])
    statement = rpc("get_statement", "owner", merchant, batch["reference"])
    [sent] = statement["payouts"]
    assert (sent["attempt"], sent["status"], sent["provider_reference"]) == (1, "paid", paid["provider_reference"])


def test_a_failed_payout_raises_payout_failed_and_is_retried_only_once_resolved(record, rpc, platform, settlement,
                                                                              query):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    simulate(platform, merchant, "fail", times=1)
    record(funded(query, merchant, 2000))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    move_on(settlement)
    failed = batch_of(rpc, merchant, batch["reference"])
    assert failed["status"] == "failed" and failed["exception"]["kind"] == "payout_failed"
    assert "refused" in failed["exception"]["message"]
    move_on(settlement)  # nothing is tried again while the exception is open
    assert len(transfers(query, merchant)) == 1

    # the merchant's own finance cannot release money by resolving it; the platform can, with a note
    exception_id = failed["exception"]["id"]
    error = app_error(Forbidden, rpc, "resolve_exception", "finance", merchant, exception_id, {"note": "try again"})
    assert error.code == "platform_required"
    resolved = platform("resolve_exception", exception_id, {"merchant_id": merchant,
                                                            "note": "Wallet provider fixed the account"})
    assert resolved["status"] == "resolved" and resolved["resolution"]["note"] == "Wallet provider fixed the account"
    move_on(settlement)
    paid = batch_of(rpc, merchant, batch["reference"])
    assert paid["status"] == "paid"
    assert sorted((t["status"], t["amount"]) for t in transfers(query, merchant)) == [("failed", 2000),
                                                                                     ("paid", 2000)]
    keys = [p["idempotency_key"] for p in rpc("get_statement", "finance", merchant, batch["reference"])["payouts"]]
    assert keys == [batch["id"] + ":1", batch["id"] + ":2"]


def test_an_answer_given_twice_pays_and_books_once(record, rpc, platform, settlement, query):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    simulate(platform, merchant, "answer_twice")
    record(funded(query, merchant, 3000))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    move_on(settlement)
    assert batch_of(rpc, merchant, batch["reference"])["status"] == "paid"
    [payout] = rpc("get_statement", "finance", merchant, batch["reference"])["payouts"]
    assert payout["answers"] >= 2  # (one more if the container's own payout round asked again meanwhile)
    assert len(transfers(query, merchant)) == 1
    assert len(entries(rpc, merchant, kind="payout")) == 1


def test_a_delayed_payout_is_followed_up_until_paid(record, rpc, platform, settlement, query):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    simulate(platform, merchant, "delay", delay_seconds=0.5)
    record(funded(query, merchant, 3000))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    move_on(settlement)
    [payout] = rpc("get_statement", "finance", merchant, batch["reference"])["payouts"]
    assert payout["status"] == "accepted"
    wait_until(lambda: move_on(settlement) or batch_of(rpc, merchant, batch["reference"])["status"] == "paid")
    assert len(transfers(query, merchant)) == 1


def test_a_payout_retried_after_a_crash_pays_nothing_twice(record, rpc, platform, settlement, query, monkeypatch):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    record(funded(query, merchant, 4100))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    original = payouts.record_answer

    def crash(*args, **kwargs):
        raise RuntimeError("settlement died after the provider paid")

    monkeypatch.setattr(payouts, "record_answer", crash)
    with pytest.raises(RuntimeError):
        move_on(settlement)
    monkeypatch.setattr(payouts, "record_answer", original)
    move_on(settlement)
    assert batch_of(rpc, merchant, batch["reference"])["status"] == "paid"
    [transfer] = transfers(query, merchant)  # the provider saw the same key again
    assert transfer["amount"] == 4100
    assert len(entries(rpc, merchant, kind="payout")) == 1


def test_no_payout_goes_to_an_address_changed_after_the_close(record, rpc, platform, settlement, query):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    record(funded(query, merchant, 2500))
    # just after a round of the container's own payout timer (every 2 s): the address changes before
    # the next round could pay the closed batch, rightly, to the address it had when it closed
    with entrypoint_waiter(settlement, "move_batches_on", timeout=10):
        pass
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert batch["status"] == "payout_pending"
    rpc("set_payout_account", "owner", merchant, {"wallet_address": "wallet-sockpuppet-99"})
    move_on(settlement)
    move_on(settlement)
    blocked = batch_of(rpc, merchant, batch["reference"])
    assert blocked["status"] == "payout_pending" and blocked["exception"]["kind"] == "payout_blocked"
    assert "not confirmed" in blocked["exception"]["message"]
    assert transfers(query, merchant) == []
    assert [e["kind"] for e in exceptions(rpc, merchant)] == ["payout_blocked"]  # told once

    platform("confirm_payout_account", {"merchant_id": merchant, "wallet_address": "wallet-sockpuppet-99",
                                        "method": "call_note", "call_note": {
                                            "person": "Thandi (owner)", "phone_number": "+27 21 555 0100",
                                            "read_back": "wallet-sockpuppet-99"}})
    platform("resolve_exception", blocked["exception"]["id"], {"merchant_id": merchant,
                                                               "note": "New address confirmed by phone"})
    move_on(settlement)
    assert batch_of(rpc, merchant, batch["reference"])["status"] == "paid"
    [transfer] = transfers(query, merchant)
    assert transfer["wallet_address"] == "wallet-sockpuppet-99"


def test_a_held_batch_is_released_when_its_exception_is_resolved_and_the_wallet_confirmed(
        record, rpc, platform, settlement, query):
    merchant = new_id()
    address = "wallet-" + merchant[:8]
    rpc("set_payout_account", "owner", merchant, {"wallet_address": address})
    record(funded(query, merchant, 2500))
    held = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert held["status"] == "closed" and held["exception"]["kind"] == "payout_account_unconfirmed"
    platform("resolve_exception", held["exception"]["id"], {"merchant_id": merchant, "note": "Calling them"})
    move_on(settlement)
    assert batch_of(rpc, merchant, held["reference"])["status"] == "closed"  # the wallet is still unconfirmed
    platform("confirm_payout_account", {"merchant_id": merchant, "wallet_address": address, "method": "call_note",
                                        "call_note": {"person": "Thandi (owner)", "phone_number": "+27 21 555 0100",
                                                      "read_back": address}})
    move_on(settlement)
    released = batch_of(rpc, merchant, held["reference"])
    assert released["status"] == "paid"
    assert [t["to_status"] for t in released["transitions"]][-2:] == ["payout_pending", "paid"]


def test_a_funded_entry_booked_before_agreements_existed_holds_its_batch_rather_than_being_paid(
        record, rpc, platform, settlement, query, emitted):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    record(funded(query, merchant, 2500))  # under an agreement: owed by the platform, payable
    # booked before funding agreements existed (migration 0004 kept such entries): platform-funded,
    # owed to the store, and no agreement names who owes it
    old = redemption(merchant, 4000, funding="platform")
    entry = {"id": new_id(), "merchant_id": merchant, "store_id": old.store_id, "kind": "redemption",
             "source_id": old.redemption_id, "source_reference": old.reference, "source_event_id": None,
             "amount": 4000, "currency": "ZAR", "funding": "platform", "counterparty": "platform",
             "agreement_id": None, "funded": 4000, "fee": 0, "payable": 4000, "corrects": None,
             "campaign_id": old.campaign_id, "occurred_at": old.redeemed_at, "description": "Redemption (before 0004)"}
    postings = [(domain.funding_account("platform", merchant, old.campaign_id), 4000),
                (domain.merchant_payable(merchant, old.store_id), -4000)]
    assert find_dependency(settlement, Database).pool.run(lambda tx: storage.append_entry(tx, entry, postings))

    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert (batch["status"], batch["payout_amount"]) == ("closed", 6500)
    assert batch["exception"]["kind"] == "missing_agreement"
    [raised] = emitted("settlement", "exception_raised", merchant_id=merchant)  # support opens a Critical ticket
    assert (raised["kind"], raised["amount"], raised["batch_reference"]) == ("missing_agreement", 4000,
                                                                              batch["reference"])
    assert "no agreement" in raised["message"] and raised["store_id"] == old.store_id
    move_on(settlement)
    assert batch_of(rpc, merchant, batch["reference"])["status"] == "closed"  # held, never paid
    assert transfers(query, merchant) == []

    # finance establishes who funded it and resolves the exception: then the batch is paid, once
    platform("resolve_exception", batch["exception"]["id"], {
        "merchant_id": merchant, "note": "The platform funded that campaign before agreements existed"})
    move_on(settlement)
    assert batch_of(rpc, merchant, batch["reference"])["status"] == "paid"
    assert [t["amount"] for t in transfers(query, merchant)] == [6500]


# -- reconciliation ----------------------------------------------------------------------------------

def test_a_batch_that_does_not_reconcile_raises_a_mismatch_with_expected_and_actual(
        record, rpc, platform, settlement, query, emitted):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    redeemed = funded(query, merchant, 2500)
    record(redeemed)
    # redemption recorded two redemptions at that store; the ledger has one (an event never arrived)
    REDEMPTION_SAYS[merchant] = [{"store_id": redeemed.store_id, "currency": "ZAR", "redemptions": 2,
                                  "redeemed_amount": 5000, "reversals": 0, "reversed_amount": 0}]
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    assert batch["status"] == "closed" and batch["reconciliation"]["matched"] is False
    exception = batch["exception"]
    assert exception["kind"] == "reconciliation_mismatch" and exception["amount"] == 2500
    [difference] = exception["details"]["differences"]
    assert (difference["store_id"], difference["expected"]["redemptions"], difference["actual"]["redemptions"]) == \
        (redeemed.store_id, 2, 1)
    assert (difference["expected"]["redeemed_amount"], difference["actual"]["redeemed_amount"]) == (5000, 2500)
    [raised] = emitted("settlement", "exception_raised", merchant_id=merchant)
    assert raised["kind"] == "reconciliation_mismatch" and raised["batch_reference"] == batch["reference"]
    move_on(settlement)
    assert transfers(query, merchant) == []  # nothing is paid while it is open

    platform("resolve_exception", exception["id"], {"merchant_id": merchant,
                                                    "note": "Redemption RD-X was voided at the till"})
    move_on(settlement)
    assert batch_of(rpc, merchant, batch["reference"])["status"] == "paid"


# -- the ledger: balances, chain, parked ---------------------------------------------------------------

def test_balances_at_any_date_and_per_store_are_the_sum_of_postings(record, reverse, rpc, query):
    merchant, store = new_id(), new_id()
    early = funded(query, merchant, 1000, commission_bp=1000, store_id=store, at=LAST_MONTH)
    late = funded(query, merchant, 3000, at=LAST_MONTH + timedelta(days=2))
    record(early)
    record(late)
    record(redemption(merchant, 700, store_id=store, at=LAST_MONTH))
    reverse(late)
    day_after = (LAST_MONTH + timedelta(days=1)).isoformat()

    then = rpc("get_balances", "owner", merchant, {"at": day_after})
    assert payable(then, store) == -900 and sum(a["balance"] for a in then["accounts"]) == 0
    [mine] = [s for s in then["stores"] if s["store_id"] == store]
    assert (mine["gross"], mine["funded"], mine["fees"], mine["owed"], mine["outstanding"]) == (1700, 1000, 100, 900,
                                                                                             900)
    now = rpc("get_balances", "owner", merchant)
    assert payable(now, late.store_id) == 0  # redeemed, then reversed
    only = rpc("get_balances", "owner", merchant, {"store_id": store})
    assert {s["store_id"] for s in only["stores"]} == {store}
    # every balance is the sum of that account's postings, however they are read
    postings = [p for e in entries(rpc, merchant) for p in e["postings"]]
    totals = {}
    for p in postings:
        totals[p["account"]] = totals.get(p["account"], 0) + p["amount"]
    assert {a["account"]: a["balance"] for a in now["accounts"]} == totals
    error = app_error(ValidationFailed, rpc, "get_balances", "owner", merchant, {"at": "yesterday"})
    assert "at" in error.fields


def payable(balances, store):
    return sum(a["balance"] for a in balances["accounts"] if a["account"] == "merchant_payable:%s:%s"
               % (balances["merchant_id"], store))


def test_the_ledger_refuses_edits_and_the_chain_finds_one_made_behind_its_back(record, rpc, query, database_url):
    merchant = new_id()
    for amount in (100, 200, 300):
        record(redemption(merchant, amount))
    verified = rpc("verify_ledger", "finance", merchant)
    assert (verified["valid"], verified["entries_checked"], verified["first_problem"]) == (True, 3, None)
    second = next(e for e in entries(rpc, merchant) if e["amount"] == 200)

    for sql in ("UPDATE settlement.journal_entries SET amount = 20000 WHERE id = %s",
                "DELETE FROM settlement.journal_entries WHERE id = %s",
                "UPDATE settlement.postings SET amount = amount * 100 WHERE entry_id = %s"):
        with pytest.raises(psycopg2.Error) as refused:
            query(sql, (second["id"],))
        assert "never edited" in str(refused.value) or "never deleted" in str(refused.value)

    # someone with the database owner's rights switches the guard off and edits a row
    query("ALTER TABLE settlement.postings DISABLE TRIGGER USER; "
          "UPDATE settlement.postings SET amount = -amount WHERE entry_id = %s; "
          "ALTER TABLE settlement.postings ENABLE TRIGGER USER", (second["id"],))
    broken = rpc("verify_ledger", "finance", merchant)
    assert broken["valid"] is False
    assert broken["first_problem"] == {"seq": second["seq"], "entry_id": second["id"], "problem": "entry_altered"}
    lines = []
    assert cli.verify_ledger(["--merchant", merchant], component_database_url(database_url, "settlement"),
                             out=lines.append) == 1
    assert lines[-1].startswith("FAILED: 1")


def test_an_event_without_a_trustworthy_account_is_parked_with_its_reversal(record, reverse, rpc, platform, query,
                                                                         emitted):
    merchant, other = new_id(), new_id()
    no_agreement = redemption(merchant, 10 ** 9, funding="platform")  # the money printer of issue 6
    not_theirs = funded(query, other, 2500)  # an agreement granted to another merchant
    not_theirs = redemption(merchant, 2500, funding="platform", funding_agreement_id=not_theirs.funding_agreement_id)
    record(no_agreement)
    record(not_theirs)
    reverse(no_agreement)
    assert entries(rpc, merchant) == []  # nothing booked, nothing owed
    parked = rpc("list_parked_entries", "finance", merchant)["items"]
    assert sorted((p["kind"], p["redemption_id"]) for p in parked) == sorted([
        ("redemption", no_agreement.redemption_id), ("redemption", not_theirs.redemption_id),
        ("reversal", no_agreement.redemption_id)])
    kinds = [e["kind"] for e in exceptions(rpc, merchant)]
    assert kinds == ["unknown_account", "unknown_account"]  # one each, none for the reversal behind it
    assert len(emitted("settlement", "exception_raised", merchant_id=merchant, kind="unknown_account")) == 2
    [printer] = [p for p in parked if p["redemption_id"] == no_agreement.redemption_id and p["kind"] == "redemption"]
    error = app_error(Conflict, platform, "book_parked_entry", printer["id"])
    assert error.code == "account_still_unknown"
    assert app_error(Forbidden, rpc, "book_parked_entry", "finance", merchant, printer["id"]).code == \
        "role_not_allowed"


# -- reads: entries, statements, exceptions -------------------------------------------------------------

def test_entries_filter_by_store_period_redemption_batch_and_unbatched(record, rpc, query):
    merchant, store = new_id(), new_id()
    first = redemption(merchant, 100, store_id=store)
    record(first)
    record(redemption(merchant, 200))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    record(redemption(merchant, 300, at=NOW))

    def amounts(**filters):
        return sorted(e["amount"] for e in entries(rpc, merchant, **filters))
    assert amounts(store_id=store) == [100]
    assert amounts(batch=batch["reference"]) == [100, 200]
    assert amounts(unbatched=True) == [300] and amounts(unbatched=False) == [100, 200]
    assert amounts(redemption_id=first.redemption_id) == [100]
    assert amounts(period=PERIOD) == [100, 200]
    assert amounts(period=LAST_MONTH.strftime("%Y-%m-%d")) == [100, 200]
    assert amounts(period=NOW.strftime("%Y-%m")) == [300]
    error = app_error(ValidationFailed, rpc, "list_entries", "finance", merchant, {"status": "open"})
    assert "status" in error.fields  # entries have no status: refused, not ignored


def test_a_statement_as_json_and_csv(record, rpc, query):
    merchant = new_id()
    record(funded(query, merchant, 10000, commission_bp=250))
    record(redemption(merchant, 400))
    batch = rpc("close_batch", "finance", merchant, {"period": PERIOD})
    statement = rpc("get_statement", "owner", merchant, batch["reference"])
    assert statement["batch"]["reference"] == batch["reference"]
    assert sorted((l["counterparty"], l["gross"], l["fee"], l["payable"]) for l in statement["batch"]["lines"]) == [
        ("merchant", 400, 0, 0), ("platform", 10000, 250, 9750)]
    rows = list(csv.reader(io.StringIO(rpc("get_statement_csv", "finance", merchant, batch["reference"]))))
    assert rows[0] == ["statement", batch["reference"]]
    header = rows.index(["store_id", "counterparty", "agreement_id", "currency", "redemptions", "reversals",
                         "gross", "funded", "fee", "payable"])
    total = next(r for r in rows if r and r[0] == "total")
    assert total[-4:] == ["10400", "10000", "250", "9750"]
    assert len(rows[header + 1:rows.index(total)]) == 2
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row if not
                   cell.lstrip("-").isdigit())


def test_exceptions_filter_by_kind_and_status(record, rpc, query):
    merchant = new_id()
    redeemed = redemption(merchant, 100)
    record(redeemed)
    record(redeemed)  # a duplicate
    record(redemption(merchant, 1, funding="partner"))  # unknown account
    assert {e["kind"] for e in rpc("list_exceptions", "finance", merchant, {"kind": "duplicate"})["items"]} == \
        {"duplicate"}
    [duplicate] = rpc("list_exceptions", "finance", merchant, {"kind": "duplicate"})["items"]
    rpc("resolve_exception", "finance", merchant, duplicate["id"], {"note": "Till sent it twice; booked once"})
    assert [e["kind"] for e in rpc("list_exceptions", "finance", merchant, {"status": "open"})["items"]] == \
        ["unknown_account"]
    error = app_error(Conflict, rpc, "resolve_exception", "finance", merchant, duplicate["id"], {"note": "again"})
    assert error.code == "exception_resolved"


# -- periods on a schedule ----------------------------------------------------------------------------

def test_a_scheduled_period_is_closed_when_it_ends_in_the_merchants_time_zone(record, rpc, settlement, query):
    merchant = new_id()
    schedule = rpc("set_schedule", "finance", merchant, {"frequency": "daily", "time_zone": "Africa/Johannesburg"})
    assert schedule["next_close_at"].endswith("22:00:00+00:00")  # midnight in Johannesburg
    record(redemption(merchant, 800, at=NOW - timedelta(days=2)))
    # the period ended (as if the clock had reached it)
    query("UPDATE settlement.settlement_schedules SET next_close_at = %s WHERE merchant_id = %s",
          (NOW - timedelta(days=1, hours=1), merchant))
    with entrypoint_hook(settlement, "close_ended_periods") as hook:
        hook()
    [batch] = rpc("list_batches", "finance", merchant)["items"]
    assert batch["frequency"] == "daily" and batch["closed_by"]["role"] == "system"
    assert batch["time_zone"] == "Africa/Johannesburg" and batch["total"] == 800
    assert rpc("get_schedule", "owner", merchant)["next_close_at"] > NOW.isoformat()
    error = app_error(ValidationFailed, rpc, "set_schedule", "finance", merchant,
                      {"frequency": "daily", "time_zone": "Mars/Base"})
    assert error.code == "time_zone_invalid"


def test_a_schedule_can_be_stopped_and_periods_are_then_closed_on_demand(record, rpc, settlement, query):
    merchant = new_id()
    rpc("set_schedule", "owner", merchant, {"frequency": "weekly", "time_zone": "UTC"})
    assert app_error(Forbidden, rpc, "delete_schedule", "store_user", merchant).code
    assert rpc("delete_schedule", "finance", merchant) is None
    assert app_error(NotFound, rpc, "get_schedule", "finance", merchant).code == "schedule_missing"
    assert app_error(NotFound, rpc, "delete_schedule", "finance", merchant).code == "schedule_missing"
    record(redemption(merchant, 800, at=NOW - timedelta(days=2)))
    with entrypoint_hook(settlement, "close_ended_periods") as hook:
        hook()
    assert rpc("list_batches", "finance", merchant)["items"] == []  # nothing closes by itself any more


# -- properties over random sequences -------------------------------------------------------------------

STEPS = st.lists(st.one_of(
    st.tuples(st.just("redeem"), st.sampled_from(["merchant", "platform", "partner"]), st.integers(1, 50000),
              st.integers(0, 2000)),
    st.tuples(st.just("reverse"), st.integers(0, 20)),
    st.tuples(st.just("close")),
    st.tuples(st.just("pay"))), min_size=1, max_size=10)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_random_sequences_keep_the_books(steps, record, reverse, rpc, platform, settlement, query):
    merchant = new_id()
    confirmed_wallet(rpc, platform, merchant)
    redeemed, reversed_ = [], set()
    for step in steps:
        if step[0] == "redeem":
            _, funding, amount, points = step
            event = (redemption(merchant, amount, points_value=points) if funding == "merchant" else
                     funded(query, merchant, amount, funding=funding, commission_bp=amount % 1000,
                            points_value=points))
            record(event)
            redeemed.append(event)
        elif step[0] == "reverse" and redeemed:
            event = redeemed[step[1] % len(redeemed)]
            if event.redemption_id not in reversed_:
                reverse(event)
                reversed_.add(event.redemption_id)
        elif step[0] == "close":
            try:
                rpc("close_batch", "finance", merchant, {"period": NOW.strftime("%Y-%m")})
            except Conflict:
                pass
        elif step[0] == "pay":
            move_on(settlement)
    try:  # and a last close settles whatever is left
        rpc("close_batch", "finance", merchant, {"period": NOW.strftime("%Y-%m")})
    except Conflict:
        pass
    rows = batch_membership(query, merchant)
    # every entry balances, every redemption is booked exactly once, and each is in exactly one batch
    assert all(r["balance"] in (0, None) for r in rows)
    assert sorted(str(r["source_id"]) for r in rows if r["kind"] == "redemption") == \
        sorted(e.redemption_id for e in redeemed)
    assert all(len(r["batches"]) == 1 for r in rows if r["kind"] != "payout")
    # each batch holds exactly the entries it says, and a payout never happens twice
    for batch in rpc("list_batches", "finance", merchant, {"limit": 100})["items"]:
        held = [r for r in rows if batch["id"] in r["batch_ids"]]
        assert len(held) == batch["entry_count"]
        assert sum(r["payable"] for r in held) == batch["payout_amount"]
        statement = rpc("get_statement", "finance", merchant, batch["reference"])
        paid = [p for p in statement["payouts"] if p["status"] == "paid"]
        assert len(paid) <= 1
        if statement["batch"]["status"] == "paid" and batch["payout_amount"] > 0:
            assert len(paid) == 1
    # ...and the provider's books agree: no batch was ever transferred twice (the payout timer of the
    # container may be paying the last batch while this reads)
    paid_per_batch = query("SELECT p.batch_id, count(*) AS n FROM settlement.devpay_transfers t JOIN settlement.payouts p "
                           "ON p.idempotency_key = t.idempotency_key WHERE p.merchant_id = %s AND t.status = 'paid' "
                           "GROUP BY p.batch_id", (merchant,))
    assert all(row["n"] == 1 for row in paid_per_batch)
    assert len(paid_per_batch) >= len({str(r["source_id"]) for r in rows if r["kind"] == "payout"})
    # balances never drift from the sum of postings
    balances = rpc("get_balances", "finance", merchant)
    assert sum(a["balance"] for a in balances["accounts"]) == 0
    # what the entries say is owed is what the postings say (one statement: the payout timer may move)
    [books] = query("SELECT (SELECT coalesce(sum(payable), 0) FROM settlement.journal_entries WHERE merchant_id = %s) "
                    "AS owed, (SELECT coalesce(sum(amount), 0) FROM settlement.postings WHERE merchant_id = %s "
                    "AND account LIKE 'merchant_payable:%%') AS payable", (merchant, merchant))
    assert books["payable"] == -books["owed"]


def test_platform_finance_reads_batches_and_exceptions_across_merchants(record, rpc, platform, query):
    first, second = new_id(), new_id()
    for merchant in (first, second):
        record(funded(query, merchant, 1500))
        rpc("close_batch", "finance", merchant, {"period": PERIOD})  # held: no wallet
    batches = platform("list_batches", {"limit": 200})["items"]
    assert {first, second} <= {b["merchant_id"] for b in batches}
    held = platform("list_exceptions", {"kind": "payout_account_unconfirmed", "status": "open", "limit": 200})
    assert {first, second} <= {e["merchant_id"] for e in held["items"]}
    assert {b["merchant_id"] for b in platform("list_batches", {"merchant_id": first})["items"]} == {first}
    # a merchant's own people never see past their merchant
    assert {b["merchant_id"] for b in rpc("list_batches", "finance", first)["items"]} == {first}
