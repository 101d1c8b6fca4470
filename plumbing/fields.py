"""Marshmallow field types every service's schemas share.

Money is an integer count of minor units with an ISO 4217 currency: never a
float, never a string, never a boolean. Identifiers travel as UUID strings.
Times are timezone-aware UTC.
"""
import uuid
from datetime import timezone

from marshmallow import Schema, fields, validate

# ISO 4217 active codes (funds and precious metals left out)
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
""".split())

MAX_MINOR_UNITS = 10 ** 15  # far above any real voucher, far below bigint


class Money(fields.Integer):
    """A whole number of minor units (cents): 1050 means 10.50."""

    default_error_messages = {
        "invalid": "Give a whole number of minor units (e.g. 1050 for 10.50).",
        "negative": "Must not be negative.",
    }

    def __init__(self, minimum=0, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=minimum, max=MAX_MINOR_UNITS))
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Currency(fields.String):
    default_error_messages = {"unknown": "Not an ISO 4217 currency code (e.g. EUR, USD, ZAR)."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text not in CURRENCIES:
            raise self.make_error("unknown")
        return text


class Id(fields.UUID):
    """A UUID, kept as its canonical string."""

    def _deserialize(self, value, attr, data, **kwargs):
        return str(super()._deserialize(value, attr, data, **kwargs))

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with an offset; naive input is refused, output is UTC."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return super()._serialize(value.astimezone(timezone.utc), attr, obj, **kwargs)


class MerchantQuery(Schema):
    """Which merchant to act on: platform admins must say, everyone else acts on their own."""
    merchant_id = Id(load_default=None, metadata={"description": "Platform admins: the merchant to act on"})


class Page(Schema):
    """Where a list continues and how long a page is."""
    cursor = fields.String(load_default=None, metadata={"description": "The `next` of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class MerchantPage(MerchantQuery, Page):
    """A page of one merchant's records."""


def new_id():
    return str(uuid.uuid4())
