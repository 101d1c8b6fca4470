"""The campaign service's RPC schemas: what callers send and what they get back."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import REASON, AwareDateTime, Currency, Id, Money, Name, Page, check_window
from services.campaign.contract.enums import AGREEMENT_STATUSES, APPROVAL_STATUSES, FUNDERS, FUNDING
from services.redemption.contract.enums import KINDS

MAX_POINTS_CHANGE = 10 ** 9
MAX_ISSUE_COUNT = 100_000


class CampaignCreateSchema(Schema):
    merchant_id = Id(load_default=None)
    name = Name(required=True, min_length=2, max_length=120)
    funding = fields.String(load_default=None, validate=validate.OneOf(FUNDING), metadata={
        "description": "merchant (the default); platform or partner funding comes only from funding_agreement_id"})
    funding_agreement_id = Id(load_default=None, metadata={
        "description": "A funding agreement the platform granted this merchant; funding and funder come from it"})
    currency = Currency(required=True)
    budget = Money(minimum=1, load_default=None)
    valid_from = AwareDateTime(load_default=None)
    valid_until = AwareDateTime(load_default=None)

    @validates_schema
    def check_window(self, data, **kwargs):
        check_window(data)


class CampaignSchema(Schema):
    id = Id()
    merchant_id = Id()
    name = fields.String()
    funding = fields.String()
    funder_name = fields.String(allow_none=True)
    funding_agreement_id = Id(allow_none=True)
    currency = fields.String()
    budget = fields.Integer(allow_none=True)
    spent = fields.Integer()
    valid_from = AwareDateTime()
    valid_until = AwareDateTime(allow_none=True)
    status = fields.String()
    created_at = AwareDateTime()


class CustomerCreateSchema(Schema):
    merchant_id = Id(load_default=None)
    name = Name(required=True, min_length=1, max_length=120)
    email = fields.Email(load_default=None)
    external_ref = fields.String(load_default=None, validate=validate.Length(max=120))


class CustomerSchema(Schema):
    id = Id()
    merchant_id = Id()
    name = fields.String()
    email = fields.String(allow_none=True)
    external_ref = fields.String(allow_none=True)
    created_at = AwareDateTime()
    points = fields.Dict()


class PointsChangeSchema(Schema):
    points = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_POINTS_CHANGE))
    reference = fields.String(load_default=None, validate=validate.Length(max=120))


class ReserveSchema(PointsChangeSchema):
    customer_id = Id(required=True)


class PointsAdjustmentSchema(Schema):
    points = fields.Integer(strict=True, required=True,
                            validate=validate.Range(-MAX_POINTS_CHANGE, MAX_POINTS_CHANGE),
                            metadata={"description": "Points to credit (positive) or debit (negative)"})
    reason = fields.String(required=True, validate=REASON, metadata={"description": "Why, for the audit trail"})
    reference = fields.String(required=True, validate=validate.Length(min=1, max=120), metadata={
        "description": "Your reference for this adjustment; once per customer (a repeat is refused)"})

    @validates_schema
    def not_zero(self, data, **kwargs):
        if data.get("points") == 0:
            raise ValidationError("Must not be zero.", "points")


class PointsAdjustmentResultSchema(Schema):
    balance = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()
    adjustment = fields.Dict(metadata={"description": "The ledger line written: points, reference, reason, actor"})


# -- funding agreements ---------------------------------------------------------------------
class AgreementCreateSchema(Schema):
    merchant_id = Id(required=True, metadata={"description": "The merchant the agreement is granted to"})
    funder_kind = fields.String(required=True, validate=validate.OneOf(FUNDERS))
    funder_name = Name(load_default=None, min_length=2, max_length=120,
                                metadata={"description": "The partner that funds (partner agreements only)"})
    currency = Currency(required=True)
    budget = Money(minimum=1, required=True, metadata={"description": "The most vouchers under it may commit"})
    max_voucher_value = Money(minimum=1, required=True,
                              metadata={"description": "The most one voucher under it may give"})
    commission_bp = fields.Integer(strict=True, load_default=None, validate=validate.Range(0, 10000),
                                   metadata={"description": "Commission in basis points, for settlement"})
    valid_from = AwareDateTime(load_default=None)
    valid_until = AwareDateTime(load_default=None)
    note = fields.String(load_default=None, validate=validate.Length(max=500))

    @validates_schema
    def check(self, data, **kwargs):
        check_window(data)
        if data.get("funder_kind") == "partner" and not data.get("funder_name"):
            raise ValidationError("Name the partner that funds this agreement.", "funder_name")
        if data.get("funder_kind") == "platform" and data.get("funder_name"):
            raise ValidationError("Only partner agreements name a funder.", "funder_name")
        if (data.get("max_voucher_value") or 0) > (data.get("budget") or 0) > 0:
            raise ValidationError("Must not exceed the budget.", "max_voucher_value")


class AgreementSchema(Schema):
    id = Id()
    merchant_id = Id()
    funder_kind = fields.String()
    funder_name = fields.String(allow_none=True)
    currency = fields.String()
    budget = fields.Integer()
    committed = fields.Integer(metadata={"description": "Value committed by vouchers issued under it"})
    remaining = fields.Integer()
    max_voucher_value = fields.Integer()
    commission_bp = fields.Integer(allow_none=True)
    valid_from = AwareDateTime()
    valid_until = AwareDateTime(allow_none=True)
    status = fields.String()
    note = fields.String(allow_none=True)
    created_by = fields.Dict()
    created_at = AwareDateTime()
    updated_at = AwareDateTime()
    history = fields.List(fields.Dict(), metadata={"description": "Every change: action, status, who, why, when"})


class AgreementFilterSchema(Page):
    merchant_id = Id(load_default=None, metadata={"description": "Platform: one merchant's agreements"})
    status = fields.String(load_default=None, validate=validate.OneOf(AGREEMENT_STATUSES))


# -- the voucher value ceiling, issuance approvals, limits -----------------------------------
class ApprovalRequestSchema(Schema):
    merchant_id = Id(load_default=None, metadata={"description": "Platform admins: the merchant asking"})
    currency = Currency(required=True)
    value = Money(minimum=1, required=True, metadata={
        "description": "The most one voucher may give (stored value, fixed value x uses, or cap x uses)"})
    count = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_ISSUE_COUNT),
                           metadata={"description": "How many vouchers the approval covers"})
    reason = fields.String(required=True, validate=REASON)


class ApprovalSchema(Schema):
    id = Id()
    merchant_id = Id()
    currency = fields.String()
    value = fields.Integer()
    count = fields.Integer()
    remaining = fields.Integer(metadata={"description": "Vouchers it still covers"})
    reason = fields.String()
    status = fields.String(metadata={"description": "pending, approved, rejected or used"})
    requested_by = fields.Dict()
    decided_by = fields.Dict(allow_none=True)
    decided_at = AwareDateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    created_at = AwareDateTime()


class ApprovalFilterSchema(Page):
    merchant_id = Id(load_default=None, metadata={"description": "Platform: one merchant's approvals"})
    status = fields.String(load_default=None, validate=validate.OneOf(APPROVAL_STATUSES))


class DecisionSchema(Schema):
    note = fields.String(required=True, validate=REASON, metadata={"description": "Why, for the audit trail"})


class MerchantLimitsChangeSchema(Schema):
    voucher_value_ceiling = Money(allow_none=True, metadata={
        "description": "Vouchers worth more need the platform's approval; null: the default"})
    daily_points_credit_limit = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 10 ** 12),
                                               metadata={"description": "Manual points credits a day; null: the default"})
    reason = fields.String(required=True, validate=REASON)

    @validates_schema
    def something_to_change(self, data, **kwargs):
        if "voucher_value_ceiling" not in data and "daily_points_credit_limit" not in data:
            raise ValidationError("Give voucher_value_ceiling or daily_points_credit_limit.", "_schema")


class MerchantLimitsSchema(Schema):
    merchant_id = Id()
    voucher_value_ceiling = fields.Integer()
    voucher_value_ceiling_is_default = fields.Boolean()
    daily_points_credit_limit = fields.Integer()
    daily_points_credit_limit_is_default = fields.Boolean()
    points_credited_today = fields.Integer()
    updated_by = fields.Dict(allow_none=True)
    updated_at = AwareDateTime(allow_none=True)


# -- issuing (the redemption service asks before it issues) ----------------------------------
class IssuanceSchema(Schema):
    reference = Id(required=True, metadata={"description": "The voucher's or the batch job's id"})
    merchant_id = Id(load_default=None)
    campaign_id = Id(load_default=None)
    approval_id = Id(load_default=None)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    currency = Currency(required=True)
    value = Money(minimum=1, load_default=None)
    cap = Money(minimum=1, load_default=None)
    uses_allowed = fields.Integer(strict=True, load_default=1, validate=validate.Range(1, 1000))
    count = fields.Integer(strict=True, load_default=1, validate=validate.Range(1, MAX_ISSUE_COUNT))


class IssuanceResultSchema(Schema):
    funding = fields.String()
    funding_agreement_id = Id(allow_none=True)
    approval_id = Id(allow_none=True)
    voucher_value = fields.Integer(allow_none=True)
    committed = fields.Integer()
