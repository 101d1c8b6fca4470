"""The redemption service's events: what it tells the others happened, one schema each.

Settlement books ``voucher_redeemed`` and ``redemption_reversed``; campaign spends budgets and
points on them and gives unused value back to funding agreements on ``voucher_cancelled`` and
``voucher_expired``; notification alerts owners of a ``redemption_lockout``
(``plumbing/topology.py`` says who subscribes to what).
"""
from marshmallow import fields

from plumbing.contracts import Actor, Event, vocabulary
from plumbing.fields import AwareDateTime, Currency, Id, Money
from services.redemption.contract.enums import CHANNELS, KINDS, LOCKOUT_SCOPES, METHODS

SOURCE = "redemption"


class VoucherIssued(Event):
    event_source, event_type = SOURCE, "voucher_issued"
    voucher_id = Id()
    merchant_id = Id()
    kind = vocabulary(KINDS)
    currency = Currency()
    value = Money(allow_none=True, metadata={"description": "None for a percentage voucher"})
    campaign_id = Id(allow_none=True)
    customer_id = Id(allow_none=True)
    funding = fields.String()
    funding_agreement_id = Id(allow_none=True)
    approval_id = Id(allow_none=True)
    issued_at = AwareDateTime()


class VoucherBatchIssued(Event):
    event_source, event_type = SOURCE, "voucher_batch_issued"
    batch_id = Id()
    merchant_id = Id()
    count = fields.Integer(strict=True)
    campaign_id = Id(allow_none=True)
    funding = fields.String()
    funding_agreement_id = Id(allow_none=True)


class Redemption(Event):
    """What a redemption was: the facts its reversal carries too."""
    redemption_id = Id()
    reference = fields.String()
    voucher_id = Id()
    merchant_id = Id()
    store_id = Id()
    amount = Money()
    currency = Currency()
    points = fields.Integer(strict=True)
    points_value = Money()
    customer_id = Id(allow_none=True)
    campaign_id = Id(allow_none=True)


class VoucherRedeemed(Redemption):
    """Money moved at a till: the voucher's amount (and the points' value) is owed to the merchant."""
    event_source, event_type = SOURCE, "voucher_redeemed"
    points_reservation_id = Id(allow_none=True, metadata={"description": "Campaign's hold on the points spent"})
    funding = fields.String(metadata={"description": "Who pays: merchant, platform or partner"})
    funding_agreement_id = Id(allow_none=True)
    channel = vocabulary(CHANNELS)
    method = vocabulary(METHODS)
    processed_by = fields.Nested(Actor)
    redeemed_at = AwareDateTime()

    @classmethod
    def qualifier(cls, wire):
        """``voucher_redeemed.plain`` when neither a campaign's budget nor points are involved:
        campaign's handler is narrow and never hears those."""
        return None if wire.get("campaign_id") or wire.get("points_reservation_id") else "plain"


class RedemptionReversed(Redemption):
    event_source, event_type = SOURCE, "redemption_reversed"
    reason = fields.String()
    reversed_by = fields.Nested(Actor)
    reversed_at = AwareDateTime()


class RedemptionLockout(Event):
    """Too many failed codes, PINs or QRs: a user, store or voucher is locked for a while."""
    event_source, event_type = SOURCE, "redemption_lockout"
    scope = vocabulary(LOCKOUT_SCOPES)
    scope_id = fields.String()
    merchant_id = Id()
    store_id = Id(allow_none=True)
    user = fields.Nested(Actor, metadata={"description": "Whose attempt locked it"})
    failures = fields.Integer(strict=True)
    locked_until = AwareDateTime()


class UnusedVoucher(Event):
    """A voucher that will give nothing more, and what it had left (its agreement gets that back)."""
    voucher_id = Id()
    merchant_id = Id()
    campaign_id = Id(allow_none=True)
    batch_id = Id(allow_none=True)
    funding_agreement_id = Id(allow_none=True)
    unused_balance = Money(allow_none=True, metadata={"description": "Stored value left (None: a discount)"})
    unused_value = Money(allow_none=True, metadata={"description": "All it could still give (None: uncapped)"})


class VoucherCancelled(UnusedVoucher):
    event_source, event_type = SOURCE, "voucher_cancelled"
    reason = fields.String()


class VoucherExpired(UnusedVoucher):
    event_source, event_type = SOURCE, "voucher_expired"
