"""The settlement service's vocabulary: what its schemas and events accept."""

# what a settlement exception is about (support opens a Critical ticket for each)
PAYOUT_ACCOUNT_UNCONFIRMED = "payout_account_unconfirmed"
RECONCILIATION_MISMATCH = "reconciliation_mismatch"
REVERSAL_AFTER_CLOSE = "reversal_after_close"
PAYOUT_FAILED = "payout_failed"
DUPLICATE = "duplicate"
EXCEPTION_KINDS = (PAYOUT_ACCOUNT_UNCONFIRMED, RECONCILIATION_MISMATCH, REVERSAL_AFTER_CLOSE, PAYOUT_FAILED,
                   DUPLICATE)

# ledger entries
ENTRY_KINDS = ("redemption", "reversal")

# batches: held (``exception``) until the payout address is payable, then ``payout_pending``
BATCH_HELD = "exception"
PAYOUT_PENDING = "payout_pending"
BATCH_STATUSES = (BATCH_HELD, PAYOUT_PENDING)

# payout addresses, and how the platform confirms one with the merchant
UNCONFIRMED, CONFIRMED = "unconfirmed", "confirmed"
PAYOUT_ACCOUNT_STATUSES = (UNCONFIRMED, CONFIRMED)
CONFIRMATION_METHODS = ("email_code", "call_note")
