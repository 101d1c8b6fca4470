"""The campaign service's events: what it tells the others happened, one schema each (who
consumes which: ``plumbing/topology.py``)."""
from marshmallow import fields

from plumbing.contracts import Actor, Event, vocabulary
from plumbing.fields import AwareDateTime, Currency, Id, Money
from services.campaign.contract.enums import (AGREEMENT_ACTIONS, AGREEMENT_STATUSES, APPROVAL_STATUSES,
                                              CAMPAIGN_STATUSES, FUNDERS, FUNDING)

SOURCE = "campaign"


class CampaignCreated(Event):
    event_source, event_type = SOURCE, "campaign_created"
    campaign_id = Id()
    merchant_id = Id()
    name = fields.String()
    funding = vocabulary(FUNDING)
    funding_agreement_id = Id(allow_none=True)
    budget = Money(allow_none=True)
    currency = Currency()


class BudgetExhausted(Event):
    event_source, event_type = SOURCE, "budget_exhausted"
    campaign_id = Id()
    merchant_id = Id()
    budget = Money()
    spent = fields.Integer(strict=True)


class CampaignChanged(Event):
    """A campaign's state or the rules a till checks changed: the redemption service keeps a copy
    (the newest ``version`` wins), so the till never asks the campaign service while it redeems."""
    event_source, event_type = SOURCE, "campaign_changed"
    campaign_id = Id()
    merchant_id = Id()
    version = fields.Integer(strict=True)
    action = fields.String(metadata={"description": "created, updated, activate, pause, end, scheduled_start, "
                                                    "window_end, budget_exhausted"})
    status = vocabulary(CAMPAIGN_STATUSES)
    pause_reason = fields.String(allow_none=True)
    valid_from = AwareDateTime()
    valid_until = AwareDateTime(allow_none=True)
    time_zone = fields.String()
    weekdays = fields.List(fields.Integer(), allow_none=True)
    hours_from = fields.String(allow_none=True)
    hours_until = fields.String(allow_none=True)
    store_ids = fields.List(Id(), allow_none=True)
    reason = fields.String(allow_none=True)
    actor = fields.Nested(Actor)


class PointsEarned(Event):
    event_source, event_type = SOURCE, "points_earned"
    customer_id = Id()
    merchant_id = Id()
    purchase_id = Id()
    store_id = Id()
    points = fields.Integer(strict=True)
    campaign_ids = fields.List(Id())


class PurchaseRecorded(Event):
    event_source, event_type = SOURCE, "purchase_recorded"
    purchase_id = Id()
    merchant_id = Id()
    store_id = Id()
    customer_id = Id(allow_none=True)
    amount = Money()
    currency = Currency()
    receipt_id = fields.String()
    redemption_reference = fields.String(allow_none=True)


class PointsAdjusted(Event):
    event_source, event_type = SOURCE, "points_adjusted"
    customer_id = Id()
    merchant_id = Id()
    points = fields.Integer(strict=True, metadata={"description": "Credited (positive) or debited (negative)"})
    reference = fields.String()
    reason = fields.String()
    actor = fields.Nested(Actor)


class FundingAgreementCreated(Event):
    event_source, event_type = SOURCE, "funding_agreement_created"
    agreement_id = Id()
    merchant_id = Id()
    funder_kind = vocabulary(FUNDERS)
    funder_name = fields.String(allow_none=True)
    currency = Currency()
    budget = Money()
    max_voucher_value = Money()
    created_by = fields.Nested(Actor)


class FundingAgreementChanged(Event):
    event_source, event_type = SOURCE, "funding_agreement_changed"
    agreement_id = Id()
    merchant_id = Id()
    action = vocabulary(AGREEMENT_ACTIONS)
    status = vocabulary(AGREEMENT_STATUSES)
    reason = fields.String()
    changed_by = fields.Nested(Actor)


class IssuanceApprovalRequested(Event):
    event_source, event_type = SOURCE, "issuance_approval_requested"
    approval_id = Id()
    merchant_id = Id()
    currency = Currency()
    value = Money()
    count = fields.Integer(strict=True)
    reason = fields.String()
    requested_by = fields.Nested(Actor)


class IssuanceApprovalDecided(Event):
    event_source, event_type = SOURCE, "issuance_approval_decided"
    approval_id = Id()
    merchant_id = Id()
    status = vocabulary(APPROVAL_STATUSES)
    note = fields.String()
    decided_by = fields.Nested(Actor)
