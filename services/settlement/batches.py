"""Batches: a merchant's unbatched ledger entries of a period closed into one (SET-YYYY-MM-NNN), and a
batch held for its payout address released once the address is payable.

Each runs in the worker's one transaction, under the merchant's settlement lock: the batch, its
entries, its event and (when the payout address is not payable) the exception that holds it are
committed together or not at all; every refusal is raised before anything is written.
"""
from plumbing.auth import ADMIN, FINANCE, PLATFORM_FINANCE
from plumbing.errors import Conflict, NotFound, ValidationFailed
from plumbing.fields import new_id, utcnow
from plumbing.validation import load
from services.settlement import domain, storage
from services.settlement.contract.enums import BATCH_HELD, PAYOUT_ACCOUNT_UNCONFIRMED, PAYOUT_PENDING
from services.settlement.contract.events import BatchClosed, BatchReleased
from services.settlement.contract.schemas import BatchSchema, CloseBatchSchema
from services.settlement.exceptions import exception_resolved, raise_exception


def close(svc, data):
    """Close the merchant's unbatched entries of a period (one currency) into a batch. ``svc``: the
    service's worker (its db, events, metrics and caller)."""
    identity = svc.caller.require(FINANCE, ADMIN)
    data = load(CloseBatchSchema, data)
    merchant_id = identity.merchant_scope(data["merchant_id"])
    now = utcnow()
    start, end = domain.parse_period(data["period"], now)
    storage.lock_merchant_settlement(svc.db, merchant_id)
    totals = _one_currency(storage.unbatched_totals(svc.db, merchant_id, start, end), data)
    problem = domain.payout_problem(storage.payout_account(svc.db, merchant_id), now)
    batch = {
        "id": new_id(), "merchant_id": merchant_id, "period": data["period"],
        "period_start": start, "period_end": end, "currency": totals["currency"].strip(),
        "total": int(totals["total"]), "entry_count": totals["entries"],
        "status": BATCH_HELD if problem else PAYOUT_PENDING,
        "closed_by": identity.actor(), "closed_at": now,
        "reference": domain.batch_reference(data["period"],
                                            storage.next_batch_number(svc.db, merchant_id, data["period"])),
    }
    storage.insert_batch(svc.db, batch)
    storage.assign_entries(svc.db, batch, totals["entry_ids"])
    svc.events.emit(BatchClosed.of(
        batch_id=batch["id"], reference=batch["reference"], merchant_id=merchant_id, period=batch["period"],
        total=batch["total"], currency=batch["currency"], entry_count=batch["entry_count"],
        status=batch["status"]))
    result = BatchSchema().dump(batch)
    # held: the batch is closed all the same, and the exception says why it cannot be paid out
    result["exception"] = raise_exception(
        svc, PAYOUT_ACCOUNT_UNCONFIRMED, merchant_id, None, batch, batch["total"],
        batch["currency"], "%s: batch %s cannot be paid out" % (problem, batch["reference"]),
        {"period": batch["period"]}) if problem else None
    return result


def _one_currency(totals, data):
    """The totals of the one currency to settle, or why there is nothing (or too much) to say."""
    if data.get("currency"):
        totals = [t for t in totals if t["currency"].strip() == data["currency"]]
    if not totals:
        raise Conflict("Nothing to settle for this merchant in %s" % data["period"], code="nothing_to_settle")
    if len(totals) > 1:
        raise ValidationFailed("Entries in several currencies: say which to settle", code="currency_required",
                               fields={"currency": ["One of %s." % ", ".join(t["currency"].strip() for t in totals)]})
    return totals[0]


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
    if batch["status"] != BATCH_HELD or exception is None:
        raise Conflict("Batch %s is %s, not held for its payout address" % (reference, batch["status"]),
                       code="batch_not_held")
    now = utcnow()
    problem = domain.payout_problem(storage.payout_account(svc.db, merchant_id), now)
    if problem:
        raise Conflict("%s: batch %s stays held" % (problem, reference), code="payout_account_not_ready")
    batch = storage.release_batch(svc.db, batch["id"], identity.actor(), now)
    if storage.resolve_exception(svc.db, exception["id"], {
            "action": "released", "released_by": identity.actor(),
            "resolution": "The payout address is confirmed and out of its cooling-off"}):
        svc.events.emit(exception_resolved(exception, ticket_reference=exception["ticket_reference"]))
    svc.events.emit(BatchReleased.of(
        batch_id=batch["id"], reference=reference, merchant_id=merchant_id, period=batch["period"],
        total=batch["total"], currency=batch["currency"].strip(), status=batch["status"],
        released_by=identity.actor()))
    result = BatchSchema().dump(batch)
    result["exception"] = None
    return result
