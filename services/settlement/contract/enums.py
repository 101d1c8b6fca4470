"""The settlement service's vocabulary: what its schemas and events accept."""

# what a settlement exception is about (support opens a Critical ticket for each)
PAYOUT_ACCOUNT_UNCONFIRMED = "payout_account_unconfirmed"
RECONCILIATION_MISMATCH = "reconciliation_mismatch"
REVERSAL_AFTER_CLOSE = "reversal_after_close"
PAYOUT_FAILED = "payout_failed"
DUPLICATE = "duplicate"  # a second, different event for a redemption id already booked
PAYOUT_BLOCKED = "payout_blocked"  # due, but the payout address is not payable (changed, unconfirmed)
UNKNOWN_ACCOUNT = "unknown_account"  # no account can be trusted for the money: the event is parked
# a platform- or partner-funded entry booked before funding agreements existed: nobody is known to owe
# it, so its batch is held rather than paid
MISSING_AGREEMENT = "missing_agreement"
EXCEPTION_KINDS = (PAYOUT_ACCOUNT_UNCONFIRMED, RECONCILIATION_MISMATCH, REVERSAL_AFTER_CLOSE, PAYOUT_FAILED,
                   DUPLICATE, PAYOUT_BLOCKED, UNKNOWN_ACCOUNT, MISSING_AGREEMENT)
# what a batch waits on until its exception is resolved (the others only tell)
HOLDING_KINDS = (PAYOUT_ACCOUNT_UNCONFIRMED, RECONCILIATION_MISMATCH, PAYOUT_FAILED, PAYOUT_BLOCKED,
                 MISSING_AGREEMENT)

# ledger entries
ENTRY_KINDS = ("redemption", "reversal", "payout", "correction")
COUNTERPARTIES = ("merchant", "platform", "partner")

# batches: open -> closing (its entries taken) -> closed (netted and reconciled; held here while an
# exception on it is open) -> payout_pending -> paid or failed
OPEN, CLOSING, CLOSED, PAYOUT_PENDING, PAID, FAILED = "open", "closing", "closed", "payout_pending", "paid", "failed"
BATCH_HELD = CLOSED
BATCH_STATUSES = (OPEN, CLOSING, CLOSED, PAYOUT_PENDING, PAID, FAILED)
FREQUENCIES = ("daily", "weekly", "monthly")

# payout addresses, and how the platform confirms one with the merchant
# (rejected: the platform refused it, with a reason; never paid to, the merchant submits another)
UNCONFIRMED, CONFIRMED, REJECTED = "unconfirmed", "confirmed", "rejected"
PAYOUT_ACCOUNT_STATUSES = (UNCONFIRMED, CONFIRMED, REJECTED)
CONFIRMATION_METHODS = ("email_code", "call_note")
