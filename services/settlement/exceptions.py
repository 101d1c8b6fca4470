"""Settlement exceptions: what settlement finds wrong (a duplicate, a reversal after its batch closed, a
batch held for its payout address), recorded and announced so support opens a ticket for it."""
from plumbing.fields import new_id
from services.settlement import storage
from services.settlement.contract.events import ExceptionRaised, ExceptionResolved


def raise_exception(svc, kind, merchant_id, store_id, batch, amount, currency, message, details=None):
    """Record an exception (with the batch it concerns, if any) and emit ``exception_raised``.
    ``svc``: the service's worker (its db, events and metrics)."""
    exception = {
        "id": new_id(), "kind": kind, "merchant_id": merchant_id, "store_id": store_id,
        "batch_id": batch["id"] if batch else None,
        "batch_reference": batch["reference"] if batch else None,
        "amount": amount, "currency": currency, "message": message, "details": details or {},
    }
    storage.insert_exception(svc.db, exception)
    svc.events.emit(ExceptionRaised.of(
        exception_id=exception["id"], kind=kind, merchant_id=merchant_id, store_id=store_id,
        batch_id=exception["batch_id"], batch_reference=exception["batch_reference"], amount=amount,
        currency=currency, message=message))
    svc.metrics.count("vowrewards_settlement_exceptions_total", "Settlement exceptions raised", kind=kind)
    return {"id": exception["id"], "kind": kind, "message": message}


def exception_resolved(exception, ticket_reference):
    return ExceptionResolved.of(exception_id=exception["id"], kind=exception["kind"],
                                merchant_id=exception["merchant_id"], batch_reference=exception["batch_reference"],
                                ticket_reference=ticket_reference)
