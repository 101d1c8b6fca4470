"""Ticket rules: numbering, acknowledgement deadlines, what a settlement exception becomes."""
from datetime import timedelta

from services.settlement.contract.enums import (DUPLICATE, PAYOUT_ACCOUNT_UNCONFIRMED, PAYOUT_FAILED,
                                                RECONCILIATION_MISMATCH, REVERSAL_AFTER_CLOSE)
from services.support.contract.enums import OVERDUE

# Every ticket must be acknowledged within two hours or it shows as overdue.
ACKNOWLEDGE_WITHIN = timedelta(hours=2)
FIRST_NUMBER = 101


def reference(number):
    return "SUP-%d" % number


def ack_due(created_at):
    return created_at + ACKNOWLEDGE_WITHIN


def is_overdue(ticket, now):
    return ticket["status"] == "open" and ticket["acknowledged_at"] is None and now > ticket["ack_due_at"]


def display_status(ticket, now):
    return OVERDUE if is_overdue(ticket, now) else ticket["status"]


# settlement's exception kinds, as a ticket's subject names them
EXCEPTION_TITLES = {
    PAYOUT_ACCOUNT_UNCONFIRMED: "Payout wallet address not confirmed",
    RECONCILIATION_MISMATCH: "Reconciliation mismatch",
    REVERSAL_AFTER_CLOSE: "Redemption reversed after its batch closed",
    PAYOUT_FAILED: "Payout failed",
    DUPLICATE: "Duplicate settlement record",
}


def ticket_from_settlement_exception(event):
    """A settlement exception (an ``ExceptionRaised``) becomes a Critical ticket carrying its references."""
    title = EXCEPTION_TITLES.get(event.kind, "Settlement exception")
    batch = event.batch_reference
    subject = "%s%s" % (title, " (%s)" % batch if batch else "")
    refs = {"exception_id": event.exception_id, "exception_kind": event.kind,
            "batch_reference": batch, "batch_id": event.batch_id,
            "merchant_id": event.merchant_id, "store_id": event.store_id,
            "amount": event.amount, "currency": event.currency}
    return {
        "subject": subject, "description": event.message, "category": "settlement",
        "priority": "critical", "source": "settlement", "store_id": event.store_id,
        "refs": {key: value for key, value in refs.items() if value is not None},
    }
