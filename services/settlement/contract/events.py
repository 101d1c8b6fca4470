"""The settlement service's events: what it tells the others happened, one schema each.

Support opens a Critical ticket for each ``exception_raised``; notification tells the owners of
payout address changes and emails verification codes (``plumbing/topology.py``).
"""
from marshmallow import fields

from plumbing.contracts import Actor, Event, vocabulary
from plumbing.fields import AwareDateTime, Currency, Id
from services.settlement.contract.enums import (BATCH_STATUSES, CONFIRMATION_METHODS, ENTRY_KINDS,
                                                EXCEPTION_KINDS, PAYOUT_ACCOUNT_STATUSES)

SOURCE = "settlement"


class EntryRecorded(Event):
    event_source, event_type = SOURCE, "entry_recorded"
    entry_id = Id()
    kind = vocabulary(ENTRY_KINDS)
    merchant_id = Id()
    redemption_id = Id()
    amount = fields.Integer(strict=True)
    currency = Currency()


class BatchClosed(Event):
    event_source, event_type = SOURCE, "batch_closed"
    batch_id = Id()
    reference = fields.String(metadata={"description": "SET-2026-05-004"})
    merchant_id = Id()
    period = fields.String(metadata={"description": "YYYY-MM"})
    total = fields.Integer(strict=True)
    currency = Currency()
    entry_count = fields.Integer(strict=True)
    status = vocabulary(BATCH_STATUSES)


class BatchReleased(Event):
    event_source, event_type = SOURCE, "batch_released"
    batch_id = Id()
    reference = fields.String()
    merchant_id = Id()
    period = fields.String()
    total = fields.Integer(strict=True)
    currency = Currency()
    status = vocabulary(BATCH_STATUSES)
    released_by = fields.Nested(Actor)


class ExceptionRaised(Event):
    """Something about a merchant's money needs a person: support opens a Critical ticket."""
    event_source, event_type = SOURCE, "exception_raised"
    exception_id = Id()
    kind = vocabulary(EXCEPTION_KINDS)
    merchant_id = Id()
    store_id = Id(allow_none=True)
    batch_id = Id(allow_none=True)
    batch_reference = fields.String(allow_none=True)
    amount = fields.Integer(strict=True, allow_none=True)
    currency = Currency(allow_none=True)
    message = fields.String()


class ExceptionResolved(Event):
    event_source, event_type = SOURCE, "exception_resolved"
    exception_id = Id()
    kind = vocabulary(EXCEPTION_KINDS)
    merchant_id = Id()
    batch_reference = fields.String(allow_none=True)
    ticket_reference = fields.String(allow_none=True)


class PayoutAccountSet(Event):
    """The wallet address payouts go to was set or changed (addresses masked)."""
    event_source, event_type = SOURCE, "payout_account_set"
    merchant_id = Id()
    status = vocabulary(PAYOUT_ACCOUNT_STATUSES)
    wallet_address = fields.String()
    previous_address = fields.String(allow_none=True)
    set_by = fields.Nested(Actor)
    set_at = AwareDateTime()
    cooling_off_until = AwareDateTime()
    contact_email = fields.String(allow_none=True, metadata={"description": "The merchant's registered contact"})
    merchant_name = fields.String(allow_none=True)


class PayoutVerificationRequested(Event):
    """A one-time code for the merchant's registered contact: only the notification service reads it."""
    event_source, event_type = SOURCE, "payout_verification_requested"
    verification_id = Id()
    merchant_id = Id()
    merchant_name = fields.String(allow_none=True)
    contact_email = fields.String()
    code = fields.String(metadata={"description": "As read aloud: 1234 5678"})
    expires_at = AwareDateTime()
    wallet_address = fields.String()


class PayoutAccountRejected(Event):
    """The platform rejected the submitted wallet address (masked), saying why: nothing is paid to it and
    the owner sets another."""
    event_source, event_type = SOURCE, "payout_account_rejected"
    merchant_id = Id()
    wallet_address = fields.String()
    reason = fields.String()
    rejected_by = fields.Nested(Actor)
    rejected_at = AwareDateTime()


class PayoutAccountConfirmed(Event):
    event_source, event_type = SOURCE, "payout_account_confirmed"
    merchant_id = Id()
    wallet_address = fields.String()
    method = vocabulary(CONFIRMATION_METHODS)
    confirmed_by = fields.Nested(Actor)
    confirmed_at = AwareDateTime()
    payable_from = AwareDateTime()
