"""Marshmallow field types every service's schemas share.

Money is an integer count of minor units with an ISO 4217 currency: never a
float, never a string, never a boolean. Identifiers travel as UUID strings.
Times are timezone-aware UTC.
"""
import re
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone

from marshmallow import Schema, ValidationError, fields, validate

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


MAX_UTC_OFFSET = timedelta(hours=14)  # the world's clocks run from UTC-12:00 to UTC+14:00


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with an offset; naive input is refused, input and output are UTC.

    Python accepts offsets up to 23:59, PostgreSQL only to 15:59: offsets no clock
    uses are refused, and the rest converted to UTC on the way in.
    """

    default_error_messages = {"offset": "The UTC offset must be between -14:00 and +14:00."}

    def __init__(self, **kwargs):
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if abs(moment.utcoffset()) > MAX_UTC_OFFSET:
            raise self.make_error("offset")
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last representable instant
            raise self.make_error("invalid", input=value, obj_type=self.OBJ_TYPE)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return super()._serialize(value.astimezone(timezone.utc), attr, obj, **kwargs)


# Characters a person cannot see or that reorder what they see: control and format characters
# (bidi overrides, zero-width joiners), private use, unassigned, line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")  # Hangul fillers, braille blank


def identity_text(value):
    """``value`` NFKC-normalised, or None when it holds a character that hides or reorders text."""
    text = unicodedata.normalize("NFKC", value)
    for char in text:
        category = unicodedata.category(char)
        if category in _HIDDEN_CATEGORIES or char in _BLANK_LETTERS or (category == "Zs" and char != " "):
            return None
    return text


class Name(fields.String):
    """A name people read (user, merchant, store, customer, campaign): NFKC-normalised, runs of
    spaces collapsed, no control, format (bidi, zero-width) or invisible characters."""

    default_error_messages = {"hidden": "Use visible characters only (no control, bidi or zero-width characters).",
                              "blank": "Must not be blank."}

    def __init__(self, min_length=1, max_length=120, **kwargs):
        kwargs.setdefault("validate", validate.Length(min=min_length, max=max_length))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = identity_text(super()._deserialize(value, attr, data, **kwargs))
        if text is None:
            raise self.make_error("hidden")
        text = re.sub(" {2,}", " ", text).strip()
        if not text:
            raise self.make_error("blank")
        return text


USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{2,63}")


class Username(fields.String):
    """3 to 64 of ``A-Z a-z 0-9 . _ @ -``, starting with a letter or digit, after NFKC
    (so full-width look-alikes become the plain name, and collide with it)."""

    default_error_messages = {"invalid_username": "3 to 64 letters, digits or . _ @ - "
                                                  "(starting with a letter or digit)."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = unicodedata.normalize("NFKC", super()._deserialize(value, attr, data, **kwargs))
        if not USERNAME_PATTERN.fullmatch(text):  # fullmatch: a trailing newline is not a username
            raise self.make_error("invalid_username")
        return text


class MerchantQuery(Schema):
    """Which merchant to act on: platform admins must say, everyone else acts on their own."""
    merchant_id = Id(load_default=None, metadata={"description": "Platform admins: the merchant to act on"})


class Page(Schema):
    """Where a list continues and how long a page is."""
    cursor = fields.String(load_default=None, metadata={"description": "The `next` of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class MerchantPage(MerchantQuery, Page):
    """A page of one merchant's records."""


REASON = validate.Length(min=3, max=500)


class Reason(Schema):
    """Why (cancelling, reversing, suspending...), for the audit trail."""
    reason = fields.String(required=True, validate=REASON)


def check_window(data):
    """In a schema's ``@validates_schema``: a validity window ends after it starts."""
    if data.get("valid_from") and data.get("valid_until") and data["valid_until"] <= data["valid_from"]:
        raise ValidationError("Must be after valid_from.", "valid_until")


def new_id():
    return str(uuid.uuid4())


def utcnow():
    return datetime.now(timezone.utc)
