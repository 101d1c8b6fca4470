"""The support service's RPC schemas: what callers send and what they get back."""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import AwareDateTime, Currency, Id, MerchantPage, MerchantQuery, Money
from services.support.contract.enums import (ASSIGNMENT_MODES, CATEGORIES, DELIVERY_TYPES, LSP_STATUSES, OVERDUE,
                                             PRIORITIES, RESOLUTION_ACTIONS, STATUSES, SUB_CATEGORIES, THREADS,
                                             VIEW_BY, WAITING_ON)

REFS = {
    "batch_reference": fields.String(validate=validate.Length(max=40)),
    "campaign_id": Id(),
    "store_id": Id(),
    "wallet_address": fields.String(validate=validate.Length(max=128)),
    "voucher_code": fields.String(validate=validate.Length(max=40)),
    "redemption_reference": fields.String(validate=validate.Length(max=40)),
    "order_id": fields.String(validate=validate.Length(min=1, max=80)),
}
TEXT = validate.Length(min=1, max=5000)
CODE = validate.Length(min=1, max=80)


TicketRefsSchema = Schema.from_dict(REFS, name="TicketRefsSchema")


class IssueItemSchema(Schema):
    item = fields.String(required=True, validate=validate.Length(min=1, max=200))
    quantity = fields.Integer(required=True, validate=validate.Range(1, 100000))
    order_value = Money(required=True, metadata={"description": "Minor units, in the ticket's currency"})


class CreateTicketSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=3, max=200))
    description = fields.String(required=True, validate=validate.Length(min=1, max=10000))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    sub_category = fields.String(load_default=None, metadata={"description": "ONDC IGM code, e.g. ITM02"})
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))
    store_id = Id(load_default=None)
    refs = fields.Nested(TicketRefsSchema, load_default=dict)
    merchant_id = Id(load_default=None)
    delivery_type = fields.String(load_default=None, validate=validate.OneOf(DELIVERY_TYPES))
    order_id = fields.String(load_default=None, validate=CODE)
    issue_items = fields.List(fields.Nested(IssueItemSchema), load_default=list, validate=validate.Length(max=50))
    currency = Currency(load_default=None)
    attachment_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10),
                                 metadata={"description": "Uploaded first (POST /support/attachments)"})

    @validates_schema
    def igm_codes(self, data, **kwargs):
        code = data.get("sub_category")
        if code is not None and code not in SUB_CATEGORIES.get(data.get("category"), ()):
            raise ValidationError("Not an IGM code of category %s." % data.get("category"), "sub_category")


class TicketFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES + (OVERDUE,)))
    priority = fields.String(load_default=None, validate=validate.OneOf(PRIORITIES))
    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES))
    store_id = Id(load_default=None)
    assigned_to = Id(load_default=None)
    unassigned = fields.Boolean(load_default=False)
    overdue = fields.Boolean(load_default=False)
    unacknowledged = fields.Boolean(load_default=False, metadata={
        "description": "Not yet acknowledged and not overdue"})
    mine = fields.Boolean(load_default=False, metadata={"description": "Assigned to me"})
    submitted_by_me = fields.Boolean(load_default=False)
    view_by = fields.String(load_default=None, validate=validate.OneOf(VIEW_BY))
    customer_id = Id(load_default=None, metadata={
        "description": "One customer's tickets (their page in the portal); a buyer app sees only its own"})
    escalated = fields.Boolean(load_default=False, metadata={
        "description": "Platform support / IT support: the cross-merchant queue of tickets escalated to them"})
    q = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                      metadata={"description": "Search the subject and the SUP- number"})


class CountsQuerySchema(MerchantQuery):
    store_id = Id(load_default=None)


class ResolveSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(RESOLUTION_ACTIONS))
    resolution = fields.String(required=True, validate=TEXT)
    remarks = fields.String(load_default=None, validate=validate.Length(max=5000))
    refund_amount = Money(load_default=None, metadata={"description": "Required for a refund (minor units)"})
    currency = Currency(load_default=None)

    @validates_schema
    def refund_has_amount(self, data, **kwargs):
        if data.get("action") == "refund" and not data.get("refund_amount"):
            raise ValidationError("A refund names its amount.", "refund_amount")
        if data.get("action") != "refund" and data.get("refund_amount") is not None:
            raise ValidationError("Only a refund has an amount.", "refund_amount")


class AcknowledgeSchema(Schema):
    remarks = fields.String(required=True, validate=TEXT)
    eta = AwareDateTime(load_default=None, metadata={
        "description": "When the buyer can expect the resolution (required for buyer issues)"})


class AssignmentSchema(Schema):
    assignee_id = Id(required=True, allow_none=True, metadata={"description": "null unassigns"})


class MessageSchema(Schema):
    thread = fields.String(required=True, validate=validate.OneOf(THREADS))
    body = fields.String(required=True, validate=validate.Length(min=1, max=10000))
    attachment_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10))
    waiting_on_requester = fields.Boolean(load_default=False, metadata={
        "description": "Staff asking the requester something: the SLA clock pauses until they answer"})


class TicketReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class CascadeSchema(Schema):
    partner_client_id = Id(required=True, metadata={"description": "The logistics partner's API client"})
    remarks = fields.String(load_default=None, validate=validate.Length(max=2000))


class PartnerUpdateSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(LSP_STATUSES))
    eta = AwareDateTime(load_default=None)
    remarks = fields.String(load_default=None, validate=validate.Length(max=2000))

    @validates_schema
    def processing_has_eta(self, data, **kwargs):
        if data.get("status") == "processing" and data.get("eta") is None:
            raise ValidationError("Processing names the partner's ETA.", "eta")


class ClosureSchema(Schema):
    rating = fields.Integer(load_default=None, validate=validate.Range(1, 5))
    remarks = fields.String(load_default=None, validate=validate.Length(max=2000))


class RatingSchema(Schema):
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))
    comment = fields.String(load_default=None, validate=validate.Length(max=2000))


class MergeSchema(Schema):
    into = fields.String(required=True, validate=validate.Regexp(r"^SUP-\d{1,9}$"),
                         metadata={"description": "The ticket this one duplicates (it stays open)"})


class CannedResponseSchema(Schema):
    id = Id(dump_only=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=120))
    body = fields.String(required=True, validate=TEXT)
    merchant_id = Id(load_default=None)


class AgentUpdateSchema(Schema):
    capacity = fields.Integer(load_default=None, validate=validate.Range(0, 1000))
    available = fields.Boolean(load_default=None)
    merchant_id = Id(load_default=None)


HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class IntervalField(fields.List):
    def __init__(self, **kwargs):
        super().__init__(fields.String(validate=validate.Regexp(HHMM)), validate=validate.Length(equal=2), **kwargs)


class PolicySchema(Schema):
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    category = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES),
                             metadata={"description": "null: every category of this priority"})
    first_response_minutes = fields.Integer(required=True, validate=validate.Range(1, 60 * 24 * 60))
    next_response_minutes = fields.Integer(load_default=None, validate=validate.Range(1, 60 * 24 * 60))
    resolution_minutes = fields.Integer(load_default=None, validate=validate.Range(1, 60 * 24 * 365))


class SlaSettingsSchema(Schema):
    merchant_id = Id(load_default=None)
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64))
    store_timezones = fields.Dict(keys=fields.UUID(), values=fields.String(validate=validate.Length(max=64)),
                                  load_default=dict)
    hours = fields.Dict(keys=fields.String(validate=validate.OneOf(DAYS)),
                        values=fields.List(IntervalField(), validate=validate.Length(max=8)),
                        load_default=None, metadata={
                            "description": "Business hours per weekday, several intervals a day "
                                           '({"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}); '
                                           "null: around the clock"})
    holidays = fields.List(fields.Date(), load_default=list, validate=validate.Length(max=400))
    policies = fields.List(fields.Nested(PolicySchema), load_default=list, validate=validate.Length(max=100))
    assignment_mode = fields.String(load_default="off", validate=validate.OneOf(ASSIGNMENT_MODES))
    reopen_window_days = fields.Integer(load_default=7, validate=validate.Range(0, 365))


class DashboardQuerySchema(MerchantQuery):
    store_id = Id(load_default=None)


class StartConversationSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    store_id = Id(load_default=None)
    customer_id = Id(load_default=None, metadata={"description": "Staff opening one from a customer's page"})
    merchant_id = Id(load_default=None)


class ConversationMessageSchema(Schema):
    body = fields.String(load_default="", validate=validate.Length(max=5000))
    attachment_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=10), metadata={
        "description": "Files uploaded to the conversation first (POST .../conversations/{id}/attachments)"})

    @validates_schema
    def says_something(self, data, **kwargs):
        if not data.get("body", "").strip() and not data.get("attachment_ids"):
            raise ValidationError("Write something or send a file.", "body")


class ConversationTicketSchema(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=3, max=200))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))


class ConversationFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(("open", "closed")))
    customer_id = Id(load_default=None)


class IssueItemOut(Schema):
    item = fields.String()
    quantity = fields.Integer()
    order_value = fields.Integer()


class TicketSchema(Schema):
    id = Id()
    reference = fields.String()
    merchant_id = Id()
    subject = fields.String()
    description = fields.String()
    category = fields.String()
    sub_category = fields.String(allow_none=True)
    priority = fields.String()
    status = fields.String()
    overdue = fields.Boolean()
    overdue_reason = fields.String(allow_none=True)
    source = fields.String()
    store_id = Id(allow_none=True)
    raised_by = fields.Dict()
    requester = fields.Dict()
    customer_id = Id(allow_none=True)
    assignee = fields.Dict(allow_none=True)
    assignee_id = Id(allow_none=True)
    refs = fields.Dict()
    delivery_type = fields.String(allow_none=True)
    order_id = fields.String(allow_none=True)
    issue_items = fields.List(fields.Nested(IssueItemOut))
    currency = fields.String(allow_none=True)
    eta = AwareDateTime(allow_none=True)
    escalation_level = fields.String(allow_none=True)
    partner_client_id = Id(allow_none=True)
    lsp_status = fields.String(allow_none=True)
    lsp_eta = AwareDateTime(allow_none=True)
    waiting_on = fields.String(allow_none=True, validate=validate.OneOf(WAITING_ON))
    duplicate_of = fields.String(allow_none=True)
    merged_into = fields.String(allow_none=True)
    rating = fields.Integer(allow_none=True)
    created_at = AwareDateTime()
    ack_due_at = AwareDateTime()
    next_response_due_at = AwareDateTime(allow_none=True)
    resolution_due_at = AwareDateTime(allow_none=True)
    acknowledged_at = AwareDateTime(allow_none=True)
    first_response_at = AwareDateTime(allow_none=True)
    resolved_at = AwareDateTime(allow_none=True)
    closed_at = AwareDateTime(allow_none=True)
    resolution = fields.Dict(allow_none=True)


class MessageOut(Schema):
    id = Id()
    thread = fields.String()
    author = fields.Dict()
    body = fields.String()
    attachments = fields.List(fields.Dict())
    created_at = AwareDateTime()
