"""The settlement service's RPC schemas: what callers send and what they get back."""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import AwareDateTime, Currency, Id, MerchantPage, MerchantQuery
from services.settlement.contract.enums import (BATCH_STATUSES, CONFIRMATION_METHODS, COUNTERPARTIES, ENTRY_KINDS,
                                                EXCEPTION_KINDS, FREQUENCIES)

# \Z, not $ ("$" also matches before a trailing newline), and ASCII only: an address is
# refused as typed, never silently trimmed into another one
WALLET_ADDRESS = validate.Regexp(re.compile(r"[A-Za-z0-9:._\-]{8,128}\Z", re.ASCII),
                                 error="8 to 128 letters, digits or : . _ - (nothing else, no spaces)")
VERIFICATION_CODE = validate.Regexp(re.compile(r"[0-9]{4}[ \-]?[0-9]{4}\Z", re.ASCII),
                                    error="The 8 digits of the code, e.g. 1234 5678")
PHONE_NUMBER = validate.Regexp(re.compile(r"\+?[0-9][0-9 ()\-]{5,30}\Z", re.ASCII),
                               error="A phone number: digits, spaces, ( ) - and a leading +")


PERIOD = validate.Regexp(re.compile(r"[0-9]{4}-(W[0-9]{2}|[0-9]{2}(-[0-9]{2})?)\Z", re.ASCII),
                         error="YYYY-MM (a month), YYYY-Www (an ISO week) or YYYY-MM-DD (a day)")


class CloseBatchSchema(Schema):
    period = fields.String(required=True, metadata={
        "description": "The period to settle: YYYY-MM, YYYY-Www or YYYY-MM-DD (in the merchant's time zone); "
                       "everything unbatched up to its end goes in the batch"})
    currency = Currency(load_default=None)
    merchant_id = Id(load_default=None)


class PayoutAccountSchema(Schema):
    wallet_address = fields.String(required=True, validate=WALLET_ADDRESS)
    merchant_id = Id(load_default=None, metadata={"description": "Platform admins: the merchant to act on"})


class SetPayoutAccountSchema(PayoutAccountSchema):
    """What the gateway passes on: the address, and the merchant's registered contact (from its own
    records, never from the client) for the change notice."""
    contact_email = fields.Email(load_default=None)
    merchant_name = fields.String(load_default=None, validate=validate.Length(max=120))


class CallNoteSchema(Schema):
    person = fields.String(required=True, validate=validate.Length(min=2, max=120),
                           metadata={"description": "Who was called"})
    phone_number = fields.String(required=True, validate=PHONE_NUMBER,
                                 metadata={"description": "The merchant's registered number that was called"})
    read_back = fields.String(required=True, validate=validate.Length(min=4, max=500),
                              metadata={"description": "What they read back (the address, or part of it)"})
    notes = fields.String(load_default=None, validate=validate.Length(max=1000))


class PayoutConfirmationSchema(PayoutAccountSchema):
    """Platform finance confirms the address, typed again, after checking it with the merchant."""
    method = fields.String(required=True, validate=validate.OneOf(CONFIRMATION_METHODS),
                           metadata={"description": "email_code: the code the merchant read back; "
                                                    "call_note: a record of the call"})
    code = fields.String(load_default=None, validate=VERIFICATION_CODE)
    call_note = fields.Nested(CallNoteSchema, load_default=None)

    @validates_schema
    def evidence_for_the_method(self, data, **kwargs):
        if data.get("method") == "email_code":
            if not data.get("code"):
                raise ValidationError("The code the merchant read back.", "code")
            if data.get("call_note"):
                raise ValidationError("Not with method email_code.", "call_note")
        elif data.get("method") == "call_note":
            if not data.get("call_note"):
                raise ValidationError("Who was called, on which number, what they read back.", "call_note")
            if data.get("code"):
                raise ValidationError("Not with method call_note.", "code")


class PayoutVerificationRpcSchema(MerchantQuery):
    """Platform finance asks for a code to be emailed to the merchant's registered contact (the
    gateway adds it from its own records: the HTTP body is only ``MerchantQuery``)."""
    contact_email = fields.Email(required=True)
    merchant_name = fields.String(load_default=None, validate=validate.Length(max=120))


class PayoutVerificationSchema(Schema):
    verification_id = Id(attribute="id")
    merchant_id = Id()
    method = fields.Constant("email_code")
    sent_to = fields.String(metadata={"description": "The registered contact email, masked"})
    expires_at = AwareDateTime()
    max_attempts = fields.Integer()


class PayoutRejectionSchema(PayoutAccountSchema):
    """Platform finance rejects the submitted address, typed again (so a newer one is never rejected by
    mistake), with the reason the merchant is shown."""
    reason = fields.String(required=True, validate=validate.Length(min=5, max=500),
                           metadata={"description": "Why (the merchant sees it), e.g. the call did not confirm it"})


class PayoutHistorySchema(Schema):
    id = Id()
    action = fields.String(metadata={"description": "set, reopened, verification_requested, "
                                                    "verification_failed, confirmed or rejected"})
    wallet_address = fields.String()
    actor = fields.Dict()
    details = fields.Dict()
    at = AwareDateTime()


class ListFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(BATCH_STATUSES))


class ExceptionFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(("open", "resolved")))
    kind = fields.String(load_default=None, validate=validate.OneOf(EXCEPTION_KINDS))


class EntryFilterSchema(MerchantPage):
    """Entries have no status: the batch they are in (``batch``, ``unbatched``) says where they are."""
    redemption_id = Id(load_default=None)
    store_id = Id(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(ENTRY_KINDS))
    batch = fields.String(load_default=None, validate=validate.Length(max=32),
                          metadata={"description": "A batch reference, e.g. SET-2026-05-004"})
    period = fields.String(load_default=None, validate=PERIOD,
                           metadata={"description": "Entries that occurred in YYYY-MM, YYYY-Www or YYYY-MM-DD"})
    unbatched = fields.Boolean(load_default=None)


class EntrySchema(Schema):
    id = Id()
    seq = fields.Integer(metadata={"description": "Its place in the merchant's hash chain"})
    kind = fields.String()
    merchant_id = Id()
    store_id = Id(allow_none=True)
    redemption_id = Id(attribute="source_id")
    redemption_reference = fields.String(attribute="source_reference", allow_none=True)
    amount = fields.Integer()
    currency = fields.Function(lambda row: row["currency"].strip())
    funding = fields.String(allow_none=True)
    counterparty = fields.String(metadata={"description": "Who owes the merchant: merchant (nobody), platform, "
                                                          "partner"})
    agreement_id = Id(allow_none=True)
    funded = fields.Integer(metadata={"description": "Paid for by the platform or partner"})
    fee = fields.Integer(metadata={"description": "The platform's commission"})
    payable = fields.Integer(metadata={"description": "Owed to the merchant: funded - fee"})
    campaign_id = Id(allow_none=True)
    corrects = Id(allow_none=True, metadata={"description": "The entry this one reverses or corrects"})
    batch_reference = fields.String(allow_none=True)
    description = fields.String()
    occurred_at = AwareDateTime()
    recorded_at = AwareDateTime()
    hash = fields.String()
    postings = fields.List(fields.Dict())


class BatchLineSchema(Schema):
    store_id = Id(allow_none=True)
    counterparty = fields.String(validate=validate.OneOf(COUNTERPARTIES))
    agreement_id = Id(allow_none=True)
    currency = fields.Function(lambda row: row["currency"].strip())
    redemptions = fields.Integer()
    reversals = fields.Integer()
    gross = fields.Integer(metadata={"description": "Vouchers and points redeemed, less reversals"})
    funded = fields.Integer()
    fee = fields.Integer()
    payable = fields.Integer()


class TransitionSchema(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor = fields.Dict()
    note = fields.String(allow_none=True)
    at = AwareDateTime()


class BatchSchema(Schema):
    id = Id()
    reference = fields.String()
    merchant_id = Id()
    period = fields.String()
    frequency = fields.String()
    time_zone = fields.String()
    period_start = AwareDateTime()
    period_end = AwareDateTime()
    currency = fields.Function(lambda row: row["currency"].strip())
    total = fields.Integer(metadata={"description": "Gross: vouchers and points redeemed, less reversals"})
    funded = fields.Integer(metadata={"description": "Of which the platform or partners pay"})
    fees = fields.Integer(metadata={"description": "The platform's commission"})
    payout_amount = fields.Integer(metadata={"description": "Paid to the merchant: funded - fees"})
    entry_count = fields.Integer()
    status = fields.String(validate=validate.OneOf(BATCH_STATUSES))
    closed_by = fields.Dict()
    closed_at = AwareDateTime()
    released_by = fields.Dict(allow_none=True)
    released_at = AwareDateTime(allow_none=True)
    reconciliation = fields.Dict(allow_none=True)
    provider_reference = fields.String(allow_none=True)
    paid_at = AwareDateTime(allow_none=True)
    lines = fields.List(fields.Nested(BatchLineSchema))
    transitions = fields.List(fields.Nested(TransitionSchema))
    exception = fields.Dict(allow_none=True)
    note = fields.String()


class PayoutSchema(Schema):
    attempt = fields.Integer()
    idempotency_key = fields.String()
    amount = fields.Integer()
    currency = fields.Function(lambda row: row["currency"].strip())
    wallet_address = fields.String()
    status = fields.String()
    provider = fields.String()
    provider_reference = fields.String(allow_none=True)
    answers = fields.Integer()
    requested_at = AwareDateTime()
    answered_at = AwareDateTime(allow_none=True)


class StatementSchema(Schema):
    batch = fields.Nested(BatchSchema)
    payouts = fields.List(fields.Nested(PayoutSchema))
    exceptions = fields.List(fields.Dict())


class BalanceQuerySchema(MerchantQuery):
    at = AwareDateTime(load_default=None, metadata={"description": "Balances as of then (default now)"})
    store_id = Id(load_default=None)


class BalanceSchema(Schema):
    account = fields.String()
    currency = fields.Function(lambda row: row["currency"].strip())
    balance = fields.Integer(metadata={"description": "Debits positive, credits negative"})
    postings = fields.Integer()


class StoreBalanceSchema(Schema):
    store_id = Id(allow_none=True)
    currency = fields.Function(lambda row: row["currency"].strip())
    gross = fields.Integer()
    funded = fields.Integer()
    fees = fields.Integer()
    owed = fields.Integer(metadata={"description": "What the store's redemptions earned the merchant"})
    paid = fields.Integer()
    outstanding = fields.Function(lambda row: row["owed"] - row["paid"])


class BalancesSchema(Schema):
    merchant_id = Id()
    at = AwareDateTime()
    store_id = Id(allow_none=True)
    accounts = fields.List(fields.Nested(BalanceSchema))
    stores = fields.List(fields.Nested(StoreBalanceSchema))


class LedgerVerificationSchema(Schema):
    merchant_id = Id()
    valid = fields.Boolean()
    entries_checked = fields.Integer()
    head = fields.Dict()
    first_problem = fields.Dict(allow_none=True, metadata={
        "description": "seq, entry_id and problem: entry_missing, previous_hash_mismatch, entry_altered"})
    verified_at = AwareDateTime()


class ScheduleSchema(Schema):
    merchant_id = Id(load_default=None)
    frequency = fields.String(required=True, validate=validate.OneOf(FREQUENCIES))
    time_zone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64),
                              metadata={"description": "IANA time zone the periods end in, e.g. Africa/Johannesburg"})


class ScheduleOutSchema(Schema):
    merchant_id = Id()
    frequency = fields.String()
    time_zone = fields.String()
    next_close_at = AwareDateTime()
    updated_by = fields.Dict()
    updated_at = AwareDateTime()


class ResolveExceptionSchema(MerchantQuery):
    note = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class ParkedEntrySchema(Schema):
    id = Id()
    merchant_id = Id()
    kind = fields.String()
    redemption_id = Id(attribute="source_id")
    reason = fields.String()
    status = fields.String()
    exception_id = Id(allow_none=True)
    parked_at = AwareDateTime()
    booked_at = AwareDateTime(allow_none=True)
    payload = fields.Dict()


class ParkedFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(("parked", "booked")))


class PayoutSimulationSchema(MerchantQuery):
    mode = fields.String(required=True, validate=validate.OneOf(("pay", "fail", "delay", "answer_twice")))
    times = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 1000),
                           metadata={"description": "For this many payouts, then pay again (default: until changed)"})
    delay_seconds = fields.Float(load_default=0, validate=validate.Range(0, 3600))


class PayoutAccountOutSchema(Schema):
    merchant_id = Id()
    wallet_address = fields.String()
    status = fields.String(metadata={"description": "unconfirmed (awaiting the platform), confirmed or rejected"})
    set_by = fields.Dict()
    updated_at = AwareDateTime()
    confirmed_by = fields.Dict(allow_none=True)
    confirmed_at = AwareDateTime(allow_none=True)
    confirmation = fields.Dict(allow_none=True, metadata={"description": "How the platform checked it"})
    cooling_off_until = AwareDateTime(metadata={"description": "Payouts wait until then after a change"})
    rejected_by = fields.Dict(allow_none=True)
    rejected_at = AwareDateTime(allow_none=True)
    rejection_reason = fields.String(allow_none=True, metadata={
        "description": "Why the platform rejected the address (status rejected): set another one"})
    payable_from = AwareDateTime(allow_none=True)
    payable = fields.Boolean()


class ExceptionSchema(Schema):
    id = Id()
    kind = fields.String()
    merchant_id = Id()
    store_id = Id(allow_none=True)
    batch_reference = fields.String(allow_none=True)
    amount = fields.Integer(allow_none=True)
    currency = fields.String(allow_none=True)
    message = fields.String()
    details = fields.Dict()
    status = fields.String()
    ticket_reference = fields.String(allow_none=True)
    raised_at = AwareDateTime()
    resolved_at = AwareDateTime(allow_none=True)
    resolution = fields.Dict(allow_none=True)
