"""The campaign service's RPC schemas: what callers send and what they get back."""
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import (REASON, AwareDateTime, Currency, Id, MerchantPage, MerchantQuery, Money, Name, Page,
                             check_window)
from services.campaign.contract.enums import (AGREEMENT_STATUSES, APPROVAL_STATUSES, CAMPAIGN_STATUSES, FUNDERS,
                                              FUNDING, GOALS, ISSUE_TARGETS, REWARD_TYPES, TIERS)
from services.redemption.contract.enums import DISCOUNT_FIXED, DISCOUNT_PERCENT, KINDS, STORED_VALUE

MAX_POINTS_CHANGE = 10 ** 9
MAX_ISSUE_COUNT = 100_000


def _known_zone(value):
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Not a time zone we know (an IANA name such as Africa/Johannesburg).")


HOUR = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="A time of day, HH:MM.")


class SegmentRulesSchema(Schema):
    """Who is in a segment: every rule given must hold (none given: all customers)."""
    tiers = fields.List(fields.String(validate=validate.OneOf(TIERS)), load_default=None,
                        validate=validate.Length(min=1, max=len(TIERS)))
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=None,
                       validate=validate.Length(min=1, max=20),
                       metadata={"description": "The customer has every one of these tags"})
    min_visits = fields.Integer(strict=True, load_default=None, validate=validate.Range(0, 10 ** 6))
    max_visits = fields.Integer(strict=True, load_default=None, validate=validate.Range(0, 10 ** 6))
    min_spend = Money(load_default=None, metadata={"description": "Lifetime spend at least this (minor units)"})
    max_spend = Money(load_default=None)
    min_days_since_last_purchase = fields.Integer(strict=True, load_default=None, validate=validate.Range(0, 36500))
    max_days_since_last_purchase = fields.Integer(strict=True, load_default=None, validate=validate.Range(0, 36500))

    @validates_schema
    def ranges(self, data, **kwargs):
        for low, high in (("min_visits", "max_visits"), ("min_spend", "max_spend"),
                          ("min_days_since_last_purchase", "max_days_since_last_purchase")):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                raise ValidationError("Must not be below %s." % low, high)


class AudienceSchema(Schema):
    segment_id = Id(load_default=None, metadata={"description": "A saved segment (POST /api/v1/segments)"})
    rules = fields.Nested(SegmentRulesSchema, load_default=None)

    @validates_schema
    def one(self, data, **kwargs):
        if (data.get("segment_id") is None) == (data.get("rules") is None):
            raise ValidationError("Give segment_id or rules (or no audience: all customers).", "_schema")


class RewardSchema(Schema):
    """What the campaign gives: a voucher, or points on purchases (earning rule)."""
    type = fields.String(required=True, validate=validate.OneOf(REWARD_TYPES))
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    value = Money(minimum=1, load_default=None)
    percent_bp = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 10000))
    cap = Money(minimum=1, load_default=None)
    min_purchase = Money(load_default=None)
    uses_allowed = fields.Integer(strict=True, load_default=1, validate=validate.Range(1, 1000))
    hybrid = fields.Boolean(load_default=False)
    point_value = Money(minimum=1, load_default=1)
    valid_days = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 3650),
                                metadata={"description": "Each voucher is valid this many days from issue"})
    points_per_unit = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 10000), metadata={
        "description": "Points per whole currency unit spent (100 minor units)"})
    multiplier_pct = fields.Integer(strict=True, load_default=100, validate=validate.Range(100, 1000), metadata={
        "description": "Points multiplier in percent (200 = double points)"})

    @validates_schema
    def by_type(self, data, **kwargs):
        if data.get("type") == "voucher":
            kind = data.get("kind")
            if kind is None:
                raise ValidationError("Required for a voucher reward.", "kind")
            if kind in (DISCOUNT_FIXED, STORED_VALUE) and data.get("value") is None:
                raise ValidationError("Required for this kind of voucher.", "value")
            if kind == DISCOUNT_PERCENT and data.get("percent_bp") is None:
                raise ValidationError("Required for a percentage voucher.", "percent_bp")
        elif data.get("type") == "points" and data.get("points_per_unit") is None:
            raise ValidationError("Required for a points reward.", "points_per_unit")


class CampaignRulesSchema(Schema):
    """What a campaign is, apart from its money source (create and update share it)."""
    name = Name(min_length=2, max_length=120)
    goal = fields.String(allow_none=True, validate=validate.OneOf(GOALS))
    budget = Money(minimum=1, allow_none=True, metadata={"description": "Most value its vouchers may give"})
    max_vouchers = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 10 ** 7),
                                  metadata={"description": "Most vouchers it may issue"})
    valid_from = AwareDateTime(allow_none=True)
    valid_until = AwareDateTime(allow_none=True)
    time_zone = fields.String(validate=_known_zone, metadata={
        "description": "The merchant's time zone for weekdays and hours (default UTC)"})
    weekdays = fields.List(fields.Integer(strict=True, validate=validate.Range(0, 6)), allow_none=True,
                           validate=validate.Length(min=1, max=7),
                           metadata={"description": "Days it applies, 0 = Monday ... 6 = Sunday; all when absent"})
    hours_from = fields.String(allow_none=True, validate=HOUR)
    hours_until = fields.String(allow_none=True, validate=HOUR)
    store_ids = fields.List(Id(), allow_none=True, validate=validate.Length(min=1, max=500),
                            metadata={"description": "Stores it applies to; all when absent"})
    audience = fields.Nested(AudienceSchema, allow_none=True, metadata={"description": "null: all customers"})
    reward = fields.Nested(RewardSchema, allow_none=True)
    per_customer_limit = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, 1000), metadata={
        "description": "Most vouchers (and redemptions) one customer gets from it"})

    @validates_schema
    def check_rules(self, data, **kwargs):
        check_window(data)
        if (data.get("hours_from") is None) != (data.get("hours_until") is None):
            raise ValidationError("Give both hours_from and hours_until, or neither.", "hours_until")
        if data.get("hours_from") is not None and data["hours_from"] == data["hours_until"]:
            raise ValidationError("Must differ from hours_from.", "hours_until")


class CampaignCreateSchema(CampaignRulesSchema):
    merchant_id = Id(load_default=None)
    name = Name(required=True, min_length=2, max_length=120)
    funding = fields.String(load_default=None, validate=validate.OneOf(FUNDING), metadata={
        "description": "merchant (the default); platform or partner funding comes only from funding_agreement_id"})
    funding_agreement_id = Id(load_default=None, metadata={
        "description": "A funding agreement the platform granted this merchant; funding and funder come from it"})
    currency = Currency(required=True)


class CampaignUpdateSchema(CampaignRulesSchema):
    """Change a campaign: only what is given changes (not ended; window, stores and money while not active)."""


class CampaignSchema(Schema):
    id = Id()
    merchant_id = Id()
    name = fields.String()
    goal = fields.String(allow_none=True)
    funding = fields.String()
    funder_name = fields.String(allow_none=True)
    funding_agreement_id = Id(allow_none=True)
    currency = fields.String()
    budget = fields.Integer(allow_none=True)
    max_vouchers = fields.Integer(allow_none=True)
    committed = fields.Integer(metadata={"description": "Value its issued vouchers may still give or gave"})
    spent = fields.Integer(metadata={"description": "Value redeemed at tills"})
    issued_count = fields.Integer()
    redeemed_count = fields.Integer()
    valid_from = AwareDateTime()
    valid_until = AwareDateTime(allow_none=True)
    time_zone = fields.String()
    weekdays = fields.List(fields.Integer(), allow_none=True)
    hours_from = fields.String(allow_none=True)
    hours_until = fields.String(allow_none=True)
    store_ids = fields.List(Id(), allow_none=True)
    audience = fields.Dict(allow_none=True)
    reward = fields.Dict(allow_none=True)
    per_customer_limit = fields.Integer(allow_none=True)
    status = fields.String(metadata={"description": "draft, scheduled, active, paused or ended"})
    pause_reason = fields.String(allow_none=True)
    version = fields.Integer()
    created_by = fields.Dict()
    created_at = AwareDateTime()
    history = fields.List(fields.Dict(), metadata={"description": "Every change of state: who, why, when"})


class CampaignFilterSchema(MerchantPage):
    status = fields.String(load_default=None, validate=validate.OneOf(CAMPAIGN_STATUSES))


class ReasonOptional(Schema):
    reason = fields.String(load_default=None, validate=REASON)


class IssuanceRequestSchema(Schema):
    target = fields.String(required=True, validate=validate.OneOf(ISSUE_TARGETS), metadata={
        "description": "customer (one), segment (everyone in it, or the campaign's audience), codes (anonymous)"})
    customer_id = Id(load_default=None)
    segment_id = Id(load_default=None, metadata={"description": "A segment; the campaign's audience when absent"})
    count = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, MAX_ISSUE_COUNT))

    @validates_schema
    def by_target(self, data, **kwargs):
        if data.get("target") == "customer" and not data.get("customer_id"):
            raise ValidationError("Required to issue to one customer.", "customer_id")
        if data.get("target") == "codes" and not data.get("count"):
            raise ValidationError("Required for anonymous codes.", "count")


class IssuanceJobSchema(Schema):
    id = Id()
    campaign_id = Id()
    target = fields.String()
    customer_id = Id(allow_none=True)
    segment_id = Id(allow_none=True)
    requested = fields.Integer()
    issued = fields.Integer()
    skipped = fields.Integer(metadata={"description": "Customers not issued (limit or budget reached), with why"})
    status = fields.String()
    last_error = fields.String(allow_none=True)
    redemption_job_id = Id(allow_none=True, metadata={"description": "Anonymous codes: the redemption batch"})
    created_at = AwareDateTime()
    updated_at = AwareDateTime()


class ForecastSchema(Schema):
    campaign_id = Id()
    budget = fields.Integer(allow_none=True)
    spent = fields.Integer()
    committed = fields.Integer()
    remaining = fields.Integer(allow_none=True)
    pace_per_day = fields.Float(metadata={"description": "Average value redeemed a day over the window assumed"})
    pace_window_days = fields.Integer()
    exhausted_at = AwareDateTime(allow_none=True, metadata={"description": "When the budget runs out at this pace"})
    basis = fields.String()


class Phone(fields.String):
    """A phone number as digits with an optional leading +; spaces, dashes, dots and brackets dropped."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        plain = re.sub(r"[\s\-.()]", "", value)
        if not re.fullmatch(r"\+?\d{6,15}", plain):
            raise ValidationError("A phone number: 6 to 15 digits, optionally starting with +.")
        return plain


TAG = fields.String(validate=validate.Regexp(r"^[\w][\w .:-]{0,39}$", error="1-40 letters, digits, ' .:-_'."))
MEMBER_ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9-]{2,31}$", error="3-32 letters, digits and dashes.")


class CustomerFieldsSchema(Schema):
    name = Name(min_length=1, max_length=120)
    email = fields.Email(allow_none=True)
    phone = Phone(allow_none=True)
    external_ref = fields.String(allow_none=True, validate=validate.Length(max=120))
    tags = fields.List(TAG, validate=validate.Length(max=20))
    email_consent = fields.Boolean(metadata={"description": "The customer agreed to be emailed offers"})


class CustomerCreateSchema(CustomerFieldsSchema):
    merchant_id = Id(load_default=None)
    name = Name(required=True, min_length=1, max_length=120)
    email = fields.Email(load_default=None)
    phone = Phone(load_default=None)
    external_ref = fields.String(load_default=None, validate=validate.Length(max=120))
    member_id = fields.String(load_default=None, validate=MEMBER_ID,
                              metadata={"description": "The loyalty card number; one is made up when absent"})
    tags = fields.List(TAG, load_default=list, validate=validate.Length(max=20))
    email_consent = fields.Boolean(load_default=False)


class CustomerUpdateSchema(CustomerFieldsSchema):
    """Only what is given changes."""


class CustomerFilterSchema(MerchantPage):
    phone = Phone(load_default=None)
    email = fields.String(load_default=None, validate=validate.Length(max=254))
    member_id = fields.String(load_default=None, validate=validate.Length(max=32))
    external_ref = fields.String(load_default=None, validate=validate.Length(max=120))
    tag = fields.String(load_default=None, validate=validate.Length(max=40))
    tier = fields.String(load_default=None, validate=validate.OneOf(TIERS))


class CustomerSchema(Schema):
    id = Id()
    merchant_id = Id()
    member_id = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    external_ref = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    tier = fields.String(metadata={"description": "By spend over the last 365 days"})
    email_consent = fields.Boolean()
    visits = fields.Integer()
    total_spend = fields.Integer()
    last_purchase_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    points = fields.Dict()
    purchases = fields.List(fields.Dict(), metadata={"description": "The latest purchases"})
    vouchers = fields.List(fields.Dict(), allow_none=True, metadata={
        "description": "Their vouchers (the redemption service's); null if not yours to see there"})
    tickets = fields.List(fields.Dict(), allow_none=True,
                          metadata={"description": "Their support tickets (the support service's); null if it "
                                                   "could not answer"})


class ContactSchema(Schema):
    customer_id = Id()
    merchant_id = Id()
    name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    email_consent = fields.Boolean()


class PointsHistoryQuery(MerchantQuery):
    cursor = fields.String(load_default=None, validate=validate.Regexp(r"^\d{1,18}$"))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class PointsHistorySchema(Schema):
    balance = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()
    expiring = fields.List(fields.Dict(), metadata={"description": "Points and when they expire, soonest first"})
    items = fields.List(fields.Dict())
    next = fields.String(allow_none=True)


# -- purchases (the portal's Transactions) -----------------------------------------------------------
class ItemSchema(Schema):
    sku = fields.String(load_default=None, validate=validate.Length(max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    quantity = fields.Integer(strict=True, load_default=1, validate=validate.Range(1, 10000))
    amount = Money(required=True, metadata={"description": "Line total, minor units"})


class PurchaseCreateSchema(Schema):
    merchant_id = Id(load_default=None)
    customer_id = Id(load_default=None, metadata={"description": "The member who bought (a buyer app: itself)"})
    amount = Money(minimum=1, required=True)
    currency = Currency(required=True)
    receipt_id = fields.String(required=True, validate=validate.Regexp(
        r"^[\w][\w./:#-]{0,63}$", error="1-64 letters, digits and ./:#-_"), metadata={
        "description": "Unique per store: the same receipt again is the same purchase (counted once)"})
    items = fields.List(fields.Nested(ItemSchema), load_default=list, validate=validate.Length(max=500))
    store_id = Id(load_default=None, metadata={"description": "A store user's or POS client's own store when absent"})
    redemption_reference = fields.String(load_default=None, validate=validate.Length(max=32),
                                         metadata={"description": "The voucher redemption (RD-...) on this bill"})


class PurchaseSchema(Schema):
    id = Id()
    merchant_id = Id()
    store_id = Id()
    customer_id = Id(allow_none=True)
    receipt_id = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    items = fields.List(fields.Dict())
    redemption_reference = fields.String(allow_none=True)
    points_earned = fields.Integer()
    created_at = AwareDateTime()
    replayed = fields.Boolean(metadata={"description": "This receipt was recorded before: nothing counted twice"})


class PurchaseFilterSchema(MerchantPage):
    store_id = Id(load_default=None)
    customer_id = Id(load_default=None)


class AnalyticsQuery(MerchantQuery):
    store_id = Id(load_default=None, metadata={"description": "Only this store's line"})


class GroupFiguresSchema(Schema):
    customers = fields.Integer(metadata={"description": "Customers who bought during the campaign"})
    purchases = fields.Integer()
    revenue = fields.Integer()
    repeat_purchase_rate = fields.Float(allow_none=True, metadata={
        "description": "Share of those customers who bought twice or more"})


class RepeatRateSchema(Schema):
    redeemers = fields.Float(allow_none=True)
    non_redeemers = fields.Float(allow_none=True)


class StoreFiguresSchema(Schema):
    store_id = Id()
    redeemed = fields.Integer()
    discount_cost = fields.Integer()
    purchases = fields.Integer()
    revenue = fields.Integer()
    redeemers = fields.Nested(GroupFiguresSchema)
    non_redeemers = fields.Nested(GroupFiguresSchema)
    repeat_purchase_rate = fields.Nested(RepeatRateSchema)


class AnalyticsSchema(Schema):
    campaign_id = Id()
    currency = fields.String()
    status = fields.String()
    issued = fields.Integer()
    redeemed = fields.Integer()
    redemption_rate = fields.Float(allow_none=True)
    discount_cost = fields.Integer(metadata={"description": "Value redeemed (minor units)"})
    budget = fields.Integer(allow_none=True)
    committed = fields.Integer()
    budget_used = fields.Float(allow_none=True, metadata={"description": "discount_cost / budget"})
    forecast = fields.Dict(metadata={"description": "exhausted_at and the pace_per_day assumed"})
    redeemers = fields.Nested(GroupFiguresSchema)
    non_redeemers = fields.Nested(GroupFiguresSchema)
    repeat_purchase_rate = fields.Nested(RepeatRateSchema)
    stores = fields.List(fields.Nested(StoreFiguresSchema))
    daily = fields.List(fields.Dict(), metadata={
        "description": "Per day: issued, redeemed, discount_cost, purchases, revenue"})


MAX_ANALYTICS_DAYS = 366


class StoreAnalyticsQuery(MerchantQuery):
    store_id = Id(load_default=None, metadata={"description": "The store (absent: all the merchant's stores; "
                                                              "a store user: their own)"})
    since = fields.Date(load_default=None, metadata={"description": "First day (UTC), inclusive; default "
                                                                    "29 days before until"})
    until = fields.Date(load_default=None, metadata={"description": "Last day (UTC), inclusive; default today"})
    currency = Currency(load_default=None, metadata={"description": "Needed only when the merchant's figures "
                                                                    "are in more than one currency"})

    @validates_schema
    def check_range(self, data, **kwargs):
        if data.get("since") and data.get("until"):
            if data["until"] < data["since"]:
                raise ValidationError("Must be on or after since.", "until")
            if (data["until"] - data["since"]).days >= MAX_ANALYTICS_DAYS:
                raise ValidationError("At most %d days from since." % MAX_ANALYTICS_DAYS, "until")


class StoreDaySchema(Schema):
    day = fields.Date()
    issued = fields.Integer()
    redeemed = fields.Integer()
    discount_cost = fields.Integer()
    purchases = fields.Integer()
    revenue = fields.Integer()


class StoreAnalyticsSchema(Schema):
    merchant_id = Id()
    store_id = Id(allow_none=True, metadata={"description": "null: all the merchant's stores"})
    currency = fields.String(allow_none=True)
    since = fields.Date()
    until = fields.Date()
    issued = fields.Integer(metadata={"description": "Vouchers issued by the campaigns that run at the store"})
    redeemed = fields.Integer(metadata={"description": "Campaign vouchers redeemed at the store"})
    redemption_rate = fields.Float(allow_none=True, metadata={"description": "redeemed / issued"})
    discount_cost = fields.Integer(metadata={"description": "Value redeemed (minor units)"})
    purchases = fields.Integer(metadata={"description": "All purchases, anonymous ones included"})
    revenue = fields.Integer()
    redeemers = fields.Nested(GroupFiguresSchema, metadata={
        "description": "Customers who redeemed a voucher of any of the merchant's campaigns"})
    non_redeemers = fields.Nested(GroupFiguresSchema)
    repeat_purchase_rate = fields.Nested(RepeatRateSchema, metadata={
        "description": "Per customer over the range: the share of those who bought there who bought twice or more"})
    daily = fields.List(fields.Nested(StoreDaySchema))


# -- segments ---------------------------------------------------------------------------------------
class SegmentCreateSchema(Schema):
    merchant_id = Id(load_default=None)
    name = Name(required=True, min_length=2, max_length=120)
    rules = fields.Nested("SegmentRulesSchema", required=True)


class SegmentSchema(Schema):
    id = Id()
    merchant_id = Id()
    name = fields.String()
    rules = fields.Dict()
    size = fields.Integer(metadata={"description": "Customers in it now"})
    created_by = fields.Dict()
    created_at = AwareDateTime()


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
    customer_id = Id(load_default=None, metadata={"description": "The customer a voucher is for (per-customer limit)"})


class IssuanceResultSchema(Schema):
    funding = fields.String()
    funding_agreement_id = Id(allow_none=True)
    approval_id = Id(allow_none=True)
    voucher_value = fields.Integer(allow_none=True)
    committed = fields.Integer()
    campaign = fields.Dict(allow_none=True, metadata={
        "description": "The campaign's rules the till checks (status, window, stores), with their version"})
