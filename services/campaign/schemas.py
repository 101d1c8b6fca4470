"""The campaign service's contract."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from plumbing.fields import AwareDateTime, Currency, Id, MerchantPage, Money, Name
from services.campaign.domain import FUNDING


class CampaignCreateSchema(Schema):
    merchant_id = Id(load_default=None)
    name = Name(required=True, min_length=2, max_length=120)
    funding = fields.String(load_default="merchant", validate=validate.OneOf(FUNDING))
    funder_name = fields.String(load_default=None, validate=validate.Length(max=120))
    currency = Currency(required=True)
    budget = Money(minimum=1, load_default=None)
    valid_from = AwareDateTime(load_default=None)
    valid_until = AwareDateTime(load_default=None)

    @validates_schema
    def check_window(self, data, **kwargs):
        if data.get("valid_from") and data.get("valid_until") and data["valid_until"] <= data["valid_from"]:
            raise ValidationError("Must be after valid_from.", "valid_until")
        if data.get("funding") == "partner" and not data.get("funder_name"):
            raise ValidationError("Name the partner that funds this campaign.", "funder_name")


class CampaignSchema(Schema):
    id = Id()
    merchant_id = Id()
    name = fields.String()
    funding = fields.String()
    funder_name = fields.String(allow_none=True)
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
    points = fields.Integer(strict=True, required=True, validate=validate.Range(1, 10 ** 9))
    reference = fields.String(load_default=None, validate=validate.Length(max=120))


class ReserveSchema(PointsChangeSchema):
    customer_id = Id(required=True)


class ListSchema(MerchantPage):
    """A page of campaigns or customers."""
