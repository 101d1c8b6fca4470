"""The support service's RPC schemas: what callers send and what they get back."""
from marshmallow import Schema, fields, validate

from plumbing.fields import AwareDateTime, Id, MerchantPage
from services.support.contract.enums import CATEGORIES, OVERDUE, PRIORITIES, RESOLUTION_ACTIONS, STATUSES

REFS = {
    "batch_reference": fields.String(validate=validate.Length(max=40)),
    "campaign_id": Id(),
    "store_id": Id(),
    "wallet_address": fields.String(validate=validate.Length(max=128)),
    "voucher_code": fields.String(validate=validate.Length(max=40)),
    "redemption_reference": fields.String(validate=validate.Length(max=40)),
}


TicketRefsSchema = Schema.from_dict(REFS, name="TicketRefsSchema")


class CreateTicketSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=3, max=200))
    description = fields.String(required=True, validate=validate.Length(min=1, max=10000))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))
    store_id = Id(load_default=None)
    refs = fields.Nested(TicketRefsSchema, load_default=dict)
    merchant_id = Id(load_default=None)


class TicketFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES + (OVERDUE,)))
    priority = fields.String(load_default=None, validate=validate.OneOf(PRIORITIES))
    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES))
    store_id = Id(load_default=None)


class ResolveSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(RESOLUTION_ACTIONS))
    resolution = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    remarks = fields.String(load_default=None, validate=validate.Length(max=5000))


class AcknowledgeSchema(Schema):
    remarks = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class TicketSchema(Schema):
    id = Id()
    reference = fields.String()
    merchant_id = Id()
    subject = fields.String()
    description = fields.String()
    category = fields.String()
    priority = fields.String()
    status = fields.String()
    source = fields.String()
    store_id = Id(allow_none=True)
    raised_by = fields.Dict()
    assignee = fields.Dict(allow_none=True)
    refs = fields.Dict()
    created_at = AwareDateTime()
    ack_due_at = AwareDateTime()
    acknowledged_at = AwareDateTime(allow_none=True)
    resolved_at = AwareDateTime(allow_none=True)
    resolution = fields.Dict(allow_none=True)
