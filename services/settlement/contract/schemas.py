"""The settlement service's RPC schemas: what callers send and what they get back."""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import AwareDateTime, Currency, Id, MerchantPage, MerchantQuery
from services.settlement.contract.enums import CONFIRMATION_METHODS

# \Z, not $ ("$" also matches before a trailing newline), and ASCII only: an address is
# refused as typed, never silently trimmed into another one
WALLET_ADDRESS = validate.Regexp(re.compile(r"[A-Za-z0-9:._\-]{8,128}\Z", re.ASCII),
                                 error="8 to 128 letters, digits or : . _ - (nothing else, no spaces)")
VERIFICATION_CODE = validate.Regexp(re.compile(r"[0-9]{4}[ \-]?[0-9]{4}\Z", re.ASCII),
                                    error="The 8 digits of the code, e.g. 1234 5678")
PHONE_NUMBER = validate.Regexp(re.compile(r"\+?[0-9][0-9 ()\-]{5,30}\Z", re.ASCII),
                               error="A phone number: digits, spaces, ( ) - and a leading +")


class CloseBatchSchema(Schema):
    period = fields.String(required=True, metadata={"description": "The month to settle, YYYY-MM"})
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


class PayoutHistorySchema(Schema):
    id = Id()
    action = fields.String(metadata={"description": "set, reopened, verification_requested, "
                                                    "verification_failed or confirmed"})
    wallet_address = fields.String()
    actor = fields.Dict()
    details = fields.Dict()
    at = AwareDateTime()


class ListFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.Length(max=32))


class EntryFilterSchema(ListFilterSchema):
    redemption_id = Id(load_default=None)
    store_id = Id(load_default=None)
    unbatched = fields.Boolean(load_default=None)


class EntrySchema(Schema):
    id = Id()
    kind = fields.String()
    merchant_id = Id()
    store_id = Id(allow_none=True)
    redemption_id = Id(attribute="source_id")
    redemption_reference = fields.String(attribute="source_reference", allow_none=True)
    amount = fields.Integer()
    currency = fields.String()
    funding = fields.String(allow_none=True)
    campaign_id = Id(allow_none=True)
    batch_reference = fields.String(allow_none=True)
    description = fields.String()
    occurred_at = AwareDateTime()
    recorded_at = AwareDateTime()
    postings = fields.List(fields.Dict())


class BatchSchema(Schema):
    id = Id()
    reference = fields.String()
    merchant_id = Id()
    period = fields.String()
    period_start = AwareDateTime()
    period_end = AwareDateTime()
    currency = fields.String()
    total = fields.Integer()
    entry_count = fields.Integer()
    status = fields.String()
    closed_by = fields.Dict()
    closed_at = AwareDateTime()
    released_by = fields.Dict(allow_none=True)
    released_at = AwareDateTime(allow_none=True)
    exception = fields.Dict(allow_none=True)


class PayoutAccountOutSchema(Schema):
    merchant_id = Id()
    wallet_address = fields.String()
    status = fields.String()
    set_by = fields.Dict()
    updated_at = AwareDateTime()
    confirmed_by = fields.Dict(allow_none=True)
    confirmed_at = AwareDateTime(allow_none=True)
    confirmation = fields.Dict(allow_none=True, metadata={"description": "How the platform checked it"})
    cooling_off_until = AwareDateTime(metadata={"description": "Payouts wait until then after a change"})
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
