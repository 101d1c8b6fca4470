"""Batches: a merchant's unbatched ledger entries up to a period's end closed into one
(``SET-YYYY-MM-NNN``), netted per store and counterparty, reconciled against redemption's own totals,
then paid out (``payouts``).

open -> closing: the batch takes its entries (one statement, committed on its own: an entry booked
meanwhile is either in it or left for the next). closing -> closed: netted and reconciled (redemption
answers over RPC; if it cannot, the batch stays ``closing`` and the timer finishes it). closed ->
payout_pending once no exception holds it and the payout address is payable; the payout moves it to
paid or failed. Every move is recorded with who and when (``batch_transitions``).
"""
import json

from plumbing.auth import ADMIN, FINANCE, PLATFORM_FINANCE, Identity
from plumbing.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from plumbing.fields import new_id, utcnow
from plumbing.validation import load
from services.settlement import domain, storage
from services.settlement.contract.enums import (CLOSED, CLOSING, FAILED, HOLDING_KINDS, MISSING_AGREEMENT, OPEN,
                                                PAID, PAYOUT_ACCOUNT_UNCONFIRMED, PAYOUT_PENDING,
                                                RECONCILIATION_MISMATCH)
from services.settlement.contract.events import BatchClosed, BatchReleased
from services.settlement.contract.schemas import BatchSchema, CloseBatchSchema, ExceptionSchema
from services.settlement.exceptions import exception_resolved, raise_exception

CLOSERS = (FINANCE, PLATFORM_FINANCE, ADMIN)


def close(svc, data):
    """Finance closes a period on demand (``svc``: the service's worker)."""
    identity = svc.caller.require(*CLOSERS)
    data = load(CloseBatchSchema, data)
    merchant_id = identity.merchant_scope(data["merchant_id"])
    return close_period(svc, merchant_id, data["period"], data["currency"], identity)


def close_period(svc, merchant_id, period, currency, identity, now=None):
    now = now or utcnow()
    schedule = storage.schedule(svc.db, merchant_id)
    tz = schedule["time_zone"] if schedule else "UTC"
    frequency = domain.period_bounds(period, tz)[0]
    start, end = domain.parse_period(period, now, tz)
    with svc.db.separately() as tx:
        storage.lock_merchant_settlement(tx, merchant_id)
        currency = _one_currency(storage.unbatched_currencies(tx, merchant_id, end), period, currency)
        month = domain.batch_month(period, tz)
        batch = {
            "id": new_id(), "merchant_id": merchant_id, "period": period, "period_start": start,
            "period_end": end, "currency": currency, "closed_by": identity.actor(), "closed_at": now,
            "frequency": frequency, "time_zone": tz,
            "reference": domain.batch_reference(month, storage.next_batch_number(tx, merchant_id, month)),
        }
        storage.insert_batch(tx, batch)
        storage.move_batch(tx, batch["id"], (OPEN,), CLOSING, identity.actor())
        lines = storage.take_entries(tx, batch, end)
        if not lines:  # taken by a close that committed first
            raise Conflict("Nothing to settle for this merchant up to the end of %s" % period,
                           code="nothing_to_settle")
        totals = {"total": sum(l["gross"] for l in lines), "funded": sum(l["funded"] for l in lines),
                  "fees": sum(l["fee"] for l in lines), "payout_amount": sum(l["payable"] for l in lines),
                  "entry_count": sum(l["redemptions"] + l["reversals"] for l in lines)}
        tx.execute("UPDATE settlement_batches SET total = %(total)s, funded = %(funded)s, fees = %(fees)s, "
                   "payout_amount = %(payout_amount)s, entry_count = %(entry_count)s WHERE id = %(id)s",
                   dict(totals, id=batch["id"]))
    batch = storage.batch_by_id(svc.db, batch["id"])
    return finish_closing(svc, batch, identity)


def _one_currency(currencies, period, currency):
    """The one currency to settle, or why there is nothing (or too much) to say."""
    if currency:
        currencies = [c for c in currencies if c == currency]
    if not currencies:
        raise Conflict("Nothing to settle for this merchant up to the end of %s" % period, code="nothing_to_settle")
    if len(currencies) > 1:
        raise ValidationFailed("Entries in several currencies: say which to settle", code="currency_required",
                               fields={"currency": ["One of %s." % ", ".join(currencies)]})
    return currencies[0]


def finish_closing(svc, batch, identity):
    """closing -> closed: reconcile against redemption's totals for the period, then see whether it
    can be paid. If redemption does not answer, the batch stays ``closing`` (the timer retries)."""
    try:
        expected = svc.redemption.reconciliation_totals({
            "merchant_id": str(batch["merchant_id"]), "since": batch["period_start"].isoformat(),
            "until": batch["period_end"].isoformat()})["items"]
    except ServiceUnavailable as error:
        return dump(svc, batch, note="Reconciliation waits for the redemption service: %s" % error.message)
    actual = storage.ledger_totals(svc.db, batch["merchant_id"], batch["period_start"], batch["period_end"])
    differences = domain.reconcile(expected, actual)
    reconciliation = {"matched": not differences, "differences": differences, "at": utcnow().isoformat(),
                      "stores": len({(r["store_id"], r["currency"]) for r in expected} |
                                    {(str(r["store_id"]) if r["store_id"] else None, r["currency"]) for r in actual})}
    moved = storage.move_batch(svc.db, batch["id"], (CLOSING,), CLOSED, identity.actor(),
                               reconciliation=json.dumps(reconciliation, default=str))
    if moved is None:  # the closing timer finished it first: finance is answered with the batch as it is
        return dump(svc, storage.batch_by_id(svc.db, batch["id"]))
    batch = moved
    svc.events.emit(BatchClosed.of(
        batch_id=batch["id"], reference=batch["reference"], merchant_id=batch["merchant_id"], period=batch["period"],
        total=batch["total"], currency=batch["currency"].strip(), entry_count=batch["entry_count"],
        status=batch["status"]))
    _hold_what_no_agreement_funds(svc, batch)
    if differences:
        raise_exception(svc, RECONCILIATION_MISMATCH, str(batch["merchant_id"]), None, batch,
                        sum(abs(d["expected"]["redeemed_amount"] - d["actual"]["redeemed_amount"])
                            + abs(d["expected"]["reversed_amount"] - d["actual"]["reversed_amount"])
                            for d in differences),
                        batch["currency"].strip(), "Batch %s does not reconcile with redemption's records for %s: %s"
                        % (batch["reference"], batch["period"], _differences_text(differences)),
                        {"period": batch["period"], "differences": differences})
    elif batch["payout_amount"] > 0:
        problem = domain.payout_problem(storage.payout_account(svc.db, batch["merchant_id"]), utcnow())
        if problem:
            raise_exception(svc, PAYOUT_ACCOUNT_UNCONFIRMED, str(batch["merchant_id"]), None, batch,
                            batch["payout_amount"], batch["currency"].strip(),
                            "%s: batch %s cannot be paid out" % (problem, batch["reference"]),
                            {"period": batch["period"]})
    return dump(svc, advance(svc, batch, identity) or batch)


def _hold_what_no_agreement_funds(svc, batch):
    """Platform- or partner-funded entries booked before funding agreements existed name no agreement:
    nobody is known to owe the merchant that money, so the batch is held (``missing_agreement``, a
    Critical ticket) rather than paid. Finance resolves it once it knows who funds it (the batch is
    then released as any held one), or settles it otherwise: paying money nobody was agreed to owe
    cannot be taken back, holding it can."""
    lines = [line for line in storage.batch_lines(svc.db, batch["id"])
             if line["counterparty"] in (domain.PLATFORM, domain.PARTNER) and line["agreement_id"] is None
             and line["payable"]]
    if not lines:
        return
    held = sum(line["payable"] for line in lines)
    currency = batch["currency"].strip()
    raise_exception(
        svc, MISSING_AGREEMENT, str(batch["merchant_id"]), str(lines[0]["store_id"]) if lines[0]["store_id"] else None,
        batch, held, currency,
        "Batch %s holds %d %s of %s-funded redemptions booked before funding agreements existed: no agreement "
        "names who owes it, so the batch is held, not paid, until finance establishes the funder"
        % (batch["reference"], held, currency, " and ".join(sorted({line["counterparty"] for line in lines}))),
        {"period": batch["period"], "lines": [
            {"store_id": str(line["store_id"]) if line["store_id"] else None, "counterparty": line["counterparty"],
             "redemptions": line["redemptions"], "reversals": line["reversals"], "payable": line["payable"]}
            for line in lines]})


def _differences_text(differences):
    parts = []
    for d in differences:
        parts.append("store %s %s: redemption has %d redeemed (%d) and %d reversed (%d), the ledger %d (%d) and "
                     "%d (%d)" % (d["store_id"] or "-", d["currency"], d["expected"]["redemptions"],
                                  d["expected"]["redeemed_amount"], d["expected"]["reversals"],
                                  d["expected"]["reversed_amount"], d["actual"]["redemptions"],
                                  d["actual"]["redeemed_amount"], d["actual"]["reversals"],
                                  d["actual"]["reversed_amount"]))
    return "; ".join(parts)


def advance(svc, batch, identity):
    """A closed (or failed) batch that nothing holds any more goes to payout_pending: no exception on
    it is open and its payout address is payable. A batch with nothing to pay is paid at once.
    Returns the moved batch, or None if it stays."""
    if batch["status"] not in (CLOSED, FAILED):
        return None
    if any(e["kind"] in HOLDING_KINDS for e in storage.open_exceptions_of_batch(svc.db, batch["id"])):
        return None
    if batch["payout_amount"] <= 0:
        moved = storage.move_batch(svc.db, batch["id"], (CLOSED,), PAYOUT_PENDING, identity.actor())
        if moved is None:
            return None
        note = "Nothing to pay" if batch["payout_amount"] == 0 else (
            "Nothing to pay: the merchant owes %d %s (reversals), settled outside the payout"
            % (-batch["payout_amount"], batch["currency"].strip()))
        return storage.move_batch(svc.db, batch["id"], (PAYOUT_PENDING,), PAID, identity.actor(), note=note,
                                  paid_at=utcnow())
    if domain.payout_problem(storage.payout_account(svc.db, batch["merchant_id"]), utcnow()):
        return None
    moved = storage.move_batch(svc.db, batch["id"], (CLOSED, FAILED), PAYOUT_PENDING, identity.actor())
    if moved is not None:
        svc.events.emit(BatchReleased.of(
            batch_id=moved["id"], reference=moved["reference"], merchant_id=moved["merchant_id"],
            period=moved["period"], total=moved["total"], currency=moved["currency"].strip(), status=moved["status"],
            released_by=identity.actor()))
    return moved


def advance_held(svc, limit=50):
    """The timer's round: finish batches left closing, release held ones that nothing holds now."""
    system = Identity.system("settlement")
    # each batch in a transaction of its own, committed before the payout round locks it
    for batch in storage.batches_in(svc.db, (CLOSING,), limit):
        with svc.db.separately():
            finish_closing(svc, batch, system)
    for batch in storage.batches_to_release(svc.db, HOLDING_KINDS, limit):
        with svc.db.separately():
            advance(svc, batch, system)


def release(svc, reference, merchant_id=None):
    """A batch held for its payout address becomes payable once the address is confirmed by the
    platform and out of its cooling-off; until then this is refused, saying why."""
    identity = svc.caller.require(FINANCE, PLATFORM_FINANCE, ADMIN)
    merchant_id = identity.merchant_scope(merchant_id)
    storage.lock_merchant_settlement(svc.db, merchant_id)
    batch = storage.batch_by_reference(svc.db, merchant_id, reference, lock=True)
    if batch is None:
        raise NotFound("No batch %s" % reference, code="batch_not_found")
    exception = storage.exception_for_batch(svc.db, batch["id"], PAYOUT_ACCOUNT_UNCONFIRMED)
    if batch["status"] != CLOSED or exception is None:
        raise Conflict("Batch %s is %s, not held for its payout address" % (reference, batch["status"]),
                       code="batch_not_held")
    # the moment judged is the moment recorded: the transaction's now() began before the check
    now = utcnow()
    problem = domain.payout_problem(storage.payout_account(svc.db, merchant_id), now)
    if problem:
        raise Conflict("%s: batch %s stays held" % (problem, reference), code="payout_account_not_ready")
    if storage.resolve_exception(svc.db, exception["id"], {
            "action": "released", "released_by": identity.actor(),
            "resolution": "The payout address is confirmed and out of its cooling-off"}):
        svc.events.emit(exception_resolved(exception, ticket_reference=exception["ticket_reference"]))
    moved = advance(svc, batch, identity)
    if moved is None:
        held_by = [e["kind"] for e in storage.open_exceptions_of_batch(svc.db, batch["id"])]
        raise Conflict("Batch %s is still held by: %s" % (reference, ", ".join(held_by)), code="batch_still_held")
    storage.mark_released(svc.db, batch["id"], identity.actor(), now)
    return dump(svc, storage.batch_by_id(svc.db, batch["id"]))


def dump(svc, batch, note=None):
    result = BatchSchema().dump(dict(batch, lines=storage.batch_lines(svc.db, batch["id"]),
                                     transitions=storage.batch_transitions(svc.db, batch["id"])))
    exception = storage.open_exception_for_batch(svc.db, batch["id"])
    result["exception"] = ExceptionSchema().dump(exception) if exception else None
    if note:
        result["note"] = note
    return result
