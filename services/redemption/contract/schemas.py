"""The redemption service's contract: what callers send and what they get back.

The gateway validates HTTP bodies with these same schemas (and documents them
in the OpenAPI document); the service validates again at its RPC boundary.
"""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import AwareDateTime, Currency, Id, MerchantPage, MerchantQuery, Money, Page, check_window
from services.redemption.contract.enums import (CHANNELS, DISCOUNT_FIXED, DISCOUNT_PERCENT, EXTERNAL_FORMATS,
                                                KINDS, PRESENTATIONS, REDEMPTION_STATUSES, STATUSES,
                                                STORED_VALUE)

MAX_BATCH = 100_000
MAX_IMAGE_TEXTS = 20


def pin_field():
    return fields.String(load_default=None, validate=validate.Regexp(r"^\d{4,8}$", error="4 to 8 digits."),
                         load_only=True)


class IssueVoucherSchema(Schema):
    merchant_id = Id(load_default=None, metadata={"description": "Admins only: the merchant to issue for"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    currency = Currency(required=True)
    value = Money(minimum=1, load_default=None,
                  metadata={"description": "Fixed discount or stored value, in minor units"})
    percent_bp = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 10000),
                                metadata={"description": "Percentage in basis points (1250 = 12.5%)"})
    cap = Money(minimum=1, load_default=None, metadata={"description": "Largest discount a percentage voucher gives"})
    min_purchase = Money(load_default=None)
    hybrid = fields.Boolean(load_default=False, metadata={"description": "May be combined with points"})
    point_value = Money(minimum=1, load_default=1, metadata={"description": "Minor units one point is worth"})
    uses_allowed = fields.Integer(strict=True, load_default=1, validate=validate.Range(1, 1000))
    per_customer_limit = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, 1000))
    store_ids = fields.List(Id(), load_default=None, validate=validate.Length(min=1, max=500),
                            metadata={"description": "Stores where it may be redeemed; all when absent"})
    campaign_id = Id(load_default=None)
    approval_id = Id(load_default=None, metadata={
        "description": "An issuance approval the platform gave, for vouchers above the merchant's value ceiling"})
    customer_id = Id(load_default=None)
    valid_from = AwareDateTime(load_default=None)
    valid_until = AwareDateTime(load_default=None)
    pin = pin_field()

    @validates_schema
    def check_kind(self, data, **kwargs):
        kind = data.get("kind")
        if kind in (DISCOUNT_FIXED, STORED_VALUE) and data.get("value") is None:
            raise ValidationError("Required for this kind of voucher.", "value")
        if kind == DISCOUNT_PERCENT:
            if data.get("percent_bp") is None:
                raise ValidationError("Required for a percentage voucher.", "percent_bp")
            if data.get("value") is not None:
                raise ValidationError("A percentage voucher has no fixed value; use cap.", "value")
        elif data.get("percent_bp") is not None:
            raise ValidationError("Only for percentage vouchers.", "percent_bp")
        check_window(data)


class PresentationSchema(Schema):
    """How a voucher is presented at the till: exactly one way.

    What the gateway read from an uploaded photo is not part of this (a client
    could otherwise send twenty guesses as 'texts from a photo'): it travels as
    the RPC's own ``image_texts`` argument and is loaded with ``PhotoPresentationSchema``.
    """
    presentations = PRESENTATIONS

    code = fields.String(load_default=None, validate=validate.Length(max=64),
                         metadata={"description": "Typed voucher code (dashes and spaces are fine)"})
    qr_payload = fields.String(load_default=None, validate=validate.Length(max=512),
                               metadata={"description": "The text of a scanned VowRewards QR code"})
    scanned_text = fields.String(load_default=None, validate=validate.Length(max=512),
                                 metadata={"description": "Whatever a scanner read: barcode, QR, partner code"})
    pin = pin_field()
    store_id = Id(load_default=None, metadata={"description": "Owners: the store redeeming"})
    purchase_amount = Money(load_default=None)
    customer_id = Id(load_default=None)
    amount = Money(minimum=1, load_default=None,
                   metadata={"description": "Stored value to take; the whole voucher when absent"})
    points = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 10 ** 9),
                            metadata={"description": "Points to spend with the voucher (hybrid)"})

    @validates_schema
    def one_presentation(self, data, **kwargs):
        given = [k for k in self.presentations if data.get(k)]
        if len(given) != 1:
            raise ValidationError("Give exactly one of code, qr_payload, scanned_text or an image.", "_schema")


class RedeemSchema(PresentationSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    receipt_remarks = fields.String(load_default=None, validate=validate.Length(max=500))


class _FromPhoto(Schema):
    """The texts the gateway decoded from an uploaded photo, as the presentation."""
    presentations = PRESENTATIONS + ("image_texts",)

    image_texts = fields.List(fields.String(validate=validate.Length(max=512)), load_default=None,
                              validate=validate.Length(min=1, max=MAX_IMAGE_TEXTS))


class PhotoPresentationSchema(_FromPhoto, PresentationSchema):
    """A presentation by photo (gateway-internal: never an HTTP body)."""


class PhotoRedeemSchema(_FromPhoto, RedeemSchema):
    """A redemption by photo (gateway-internal: never an HTTP body)."""


class VoucherSchema(Schema):
    id = Id()
    code = fields.String(metadata={"description": "Whole to the issuers (owners, platform admins); "
                                                  "everyone else sees only the last four"})
    display_code = fields.String()
    code_masked = fields.Boolean(metadata={"description": "true when code shows only its last four"})
    merchant_id = Id()
    kind = fields.String()
    currency = fields.String()
    value = fields.Integer(attribute="face_value", allow_none=True)
    balance = fields.Integer(allow_none=True)
    percent_bp = fields.Integer(allow_none=True)
    cap = fields.Integer(allow_none=True)
    min_purchase = fields.Integer(allow_none=True)
    hybrid = fields.Boolean()
    point_value = fields.Integer()
    uses_allowed = fields.Integer()
    uses = fields.Integer()
    per_customer_limit = fields.Integer(allow_none=True)
    store_ids = fields.List(Id(), allow_none=True)
    campaign_id = Id(allow_none=True)
    funding = fields.String()
    funding_agreement_id = Id(allow_none=True)
    customer_id = Id(allow_none=True)
    has_pin = fields.Boolean()
    valid_from = AwareDateTime()
    valid_until = AwareDateTime(allow_none=True)
    status = fields.String()
    created_at = AwareDateTime()


class RedemptionSchema(Schema):
    id = Id()
    reference = fields.String()
    voucher_id = Id()
    voucher_code = fields.String(metadata={"description": "Whole to the issuers (and to the till in its own "
                                                          "answer); everyone else sees only the last four"})
    voucher_code_masked = fields.Boolean()
    merchant_id = Id()
    store_id = Id()
    processed_by = fields.Dict()
    channel = fields.String()
    method = fields.String()
    customer_id = Id(allow_none=True)
    amount = fields.Integer()
    points = fields.Integer()
    points_value = fields.Integer()
    purchase_amount = fields.Integer(allow_none=True)
    currency = fields.String()
    receipt_remarks = fields.String(allow_none=True)
    status = fields.String()
    created_at = AwareDateTime()
    voucher_status = fields.String()
    voucher_balance = fields.Integer(allow_none=True)
    reversed_at = AwareDateTime(allow_none=True)
    reversed_by = fields.Dict(allow_none=True, metadata={"description": "Who reversed it: user, role (and the "
                                                                         "merchant a platform admin acted for)"})
    reversal_reason = fields.String(allow_none=True)


class IssueBatchSchema(IssueVoucherSchema):
    count = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_BATCH),
                           metadata={"description": "How many vouchers (codes) to issue, up to 100,000"})

    class Meta:
        exclude = ("pin", "customer_id")


class IssueJobSchema(Schema):
    id = Id()
    merchant_id = Id()
    requested = fields.Integer()
    issued = fields.Integer()
    status = fields.String(metadata={"description": "queued, running, completed or failed"})
    error = fields.String(allow_none=True)
    template = fields.Dict()
    created_at = AwareDateTime()
    started_at = AwareDateTime(allow_none=True)
    finished_at = AwareDateTime(allow_none=True)


class VoucherFilterSchema(MerchantPage):
    batch_id = Id(load_default=None)
    campaign_id = Id(load_default=None)
    customer_id = Id(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class QrRequestSchema(MerchantQuery):
    ttl = fields.Integer(load_default=None, validate=validate.Range(30, 86400),
                         metadata={"description": "Seconds the QR stays valid (for screens); forever when absent"})


class ExternalCodeSchema(Schema):
    format = fields.String(required=True, validate=validate.OneOf(EXTERNAL_FORMATS))
    value = fields.String(required=True, validate=validate.Length(min=4, max=200))
    issuer = fields.String(required=True, validate=validate.Length(min=2, max=120),
                           metadata={"description": "The partner system that minted the code"})


class TotalsFilterSchema(MerchantQuery):
    store_id = Id(load_default=None)
    user_id = fields.String(load_default=None, validate=validate.Length(max=64))
    channel = fields.String(load_default=None, validate=validate.OneOf(CHANNELS))
    status = fields.String(load_default=None, validate=validate.OneOf(REDEMPTION_STATUSES))
    since = AwareDateTime(load_default=None)
    until = AwareDateTime(load_default=None)


class DayTotalSchema(Schema):
    store_id = Id()
    day = fields.Date()
    currency = fields.String()
    redemptions = fields.Integer()
    amount = fields.Integer()
    points = fields.Integer()
    points_value = fields.Integer()


class ReconciliationQuerySchema(MerchantQuery):
    """A period to reconcile settlement's ledger against: redemptions made, and reversals made, in it."""
    since = AwareDateTime(required=True)
    until = AwareDateTime(required=True)


class ReconciliationTotalSchema(Schema):
    """Per store and currency: what redemption recorded in the period (amounts include points' value)."""
    store_id = Id()
    currency = fields.Function(lambda row: row["currency"].strip())
    redemptions = fields.Integer()
    redeemed_amount = fields.Integer()
    reversals = fields.Integer()
    reversed_amount = fields.Integer()


class RedemptionFilterSchema(TotalsFilterSchema, Page):
    """Redemption records, filtered, a page at a time."""
