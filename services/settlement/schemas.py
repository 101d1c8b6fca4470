"""The settlement service's contract."""
from marshmallow import Schema, fields, validate

from plumbing.fields import AwareDateTime, Currency, Id, MerchantPage

WALLET_ADDRESS = validate.Regexp(r"^[A-Za-z0-9:._\-]{8,128}$",
                                 error="8 to 128 letters, digits or : . _ -")


class CloseBatchSchema(Schema):
    period = fields.String(required=True, metadata={"description": "The month to settle, YYYY-MM"})
    currency = Currency(load_default=None)
    merchant_id = Id(load_default=None)


class PayoutAccountSchema(Schema):
    wallet_address = fields.String(required=True, validate=WALLET_ADDRESS)
    merchant_id = Id(load_default=None)


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
    exception = fields.Dict(allow_none=True)


class PayoutAccountOutSchema(Schema):
    merchant_id = Id()
    wallet_address = fields.String()
    status = fields.String()
    set_by = fields.Dict()
    updated_at = AwareDateTime()
    confirmed_by = fields.Dict(allow_none=True)
    confirmed_at = AwareDateTime(allow_none=True)


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
