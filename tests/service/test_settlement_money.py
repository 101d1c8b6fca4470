"""Settlement in full, in a real container: balances, the hash chain, reconciliation, payouts through
the development provider, exceptions resolved by finance, statements, schedules, parked entries.

The container and helpers are test_settlement_service's (redemption's reconciliation totals agree
with the ledger unless a test says otherwise in ``REDEMPTION_SAYS``).
"""
import csv
import io
from datetime import timedelta

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nameko.testing.services import entrypoint_hook

from plumbing.errors import Conflict, Forbidden, ValidationFailed
from services.settlement import cli, payouts
from tests.conftest import component_database_url
from tests.service.conftest import new_id, wait_until
from tests.service.test_settlement_service import (LAST_MONTH, NOW, PERIOD, REDEMPTION_SAYS, app_error,  # noqa: F401
                                                   batch_membership, confirmed_wallet, entries, exceptions, funded,
                                                   platform, record,
                                                   redemption, reversal_of, reverse, rpc, settlement)


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
    assert payout["answers"] == 2
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
