"""Campaigns: their rules, their lifecycle (draft -> scheduled -> active -> paused -> ended, with who
did what), the budget issuance commits against, and what redemptions spend.

Every change a till must know of (state, window, stores) moves the campaign's ``version`` on and
is told as ``campaign_changed``: the redemption service keeps a copy and checks it at the till,
so redeeming never waits on this service. ``svc``: the service's worker.
"""
from datetime import timedelta

from plumbing.auth import MERCHANT_STAFF, OWNERS, SYSTEM, Identity
from plumbing.errors import Conflict, Forbidden, NotFound
from plumbing.fields import new_id, utcnow
from plumbing.validation import load, require_id
from services.campaign import domain, storage
from services.campaign.contract.enums import ACTIVE, BUDGET_EXHAUSTED, DRAFT, ENDED, PAUSED
from services.campaign.contract.events import BudgetExhausted, CampaignChanged, CampaignCreated
from services.campaign.contract.schemas import (CampaignCreateSchema, CampaignFilterSchema, CampaignSchema,
                                                CampaignUpdateSchema, ForecastSchema, ReasonOptional)

RULE_DEFAULTS = {"goal": None, "budget": None, "max_vouchers": None, "valid_from": None, "valid_until": None,
                 "time_zone": "UTC", "weekdays": None, "hours_from": None, "hours_until": None, "store_ids": None,
                 "audience": None, "reward": None, "per_customer_limit": None}


def dump_campaign(row, history=None):
    data = dict(row, currency=row["currency"].strip(),
                weekdays=list(row["weekdays"]) if row.get("weekdays") is not None else None)
    if history is not None:
        data["history"] = [dict(h, at=h["at"].isoformat()) for h in history]
    return CampaignSchema(exclude=() if history is not None else ("history",)).dump(data)


def rules_of(campaign):
    """What a till checks, as the redemption service keeps it (``campaign_changed`` and issuance)."""
    return {"campaign_id": str(campaign["id"]), "merchant_id": str(campaign["merchant_id"]),
            "version": campaign["version"], "status": campaign["status"], "pause_reason": campaign["pause_reason"],
            "valid_from": campaign["valid_from"], "valid_until": campaign["valid_until"],
            "time_zone": campaign["time_zone"],
            "weekdays": list(campaign["weekdays"]) if campaign["weekdays"] is not None else None,
            "hours_from": campaign["hours_from"], "hours_until": campaign["hours_until"],
            "store_ids": [str(s) for s in campaign["store_ids"]] if campaign["store_ids"] is not None else None}


def wire_rules(campaign):
    rules = rules_of(campaign)
    return dict(rules, valid_from=rules["valid_from"].isoformat(),
                valid_until=rules["valid_until"].isoformat() if rules["valid_until"] else None)


def tell(svc, campaign_id, action, actor, reason=None):
    """``campaign_changed`` with the campaign as it is now (in the same transaction)."""
    campaign = storage.campaign_by_id(svc.db, campaign_id)
    rules = rules_of(campaign)
    svc.events.emit(CampaignChanged.of(
        **{k: v for k, v in rules.items()}, action=action, reason=reason, actor=actor))
    return campaign


def campaign_of(svc, identity, campaign_id, merchant_id=None, lock=False):
    campaign = storage.campaign_by_id(svc.db, require_id(campaign_id, "campaign_id"), lock=lock)
    if campaign is None or str(campaign["merchant_id"]) != identity.merchant_scope(merchant_id):
        raise NotFound("No campaign %s" % campaign_id, code="campaign_not_found")
    return campaign


def read(svc, campaign_id, merchant_id=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    campaign = campaign_of(svc, identity, campaign_id, merchant_id)
    return dump_campaign(campaign, storage.campaign_history(svc.db, campaign["id"]))


def create(svc, data):
    """A draft campaign, merchant-funded or under a funding agreement the platform granted."""
    identity = svc.caller.require(*OWNERS)
    data = load(CampaignCreateSchema, data)
    merchant_id = identity.merchant_scope(data.pop("merchant_id"))
    agreement = None
    if data["funding_agreement_id"]:
        agreement = svc._agreement_of(merchant_id, data["funding_agreement_id"])
        domain.check_in_force(agreement, utcnow())
        domain.check_currency(agreement["currency"], data["currency"], "funding agreement")
    funding, funder_name = domain.campaign_funding(data.pop("funding"), agreement)
    campaign = dict(RULE_DEFAULTS, **data)
    campaign.update(id=new_id(), merchant_id=merchant_id, status=DRAFT, funding=funding, funder_name=funder_name,
                    valid_from=campaign["valid_from"] or utcnow(), created_by=identity.actor())
    _check_audience(svc, merchant_id, campaign["audience"])
    storage.insert_campaign(svc.db, campaign)
    storage.record_campaign_change(svc.db, campaign["id"], "created", None, DRAFT, identity.actor())
    svc.events.emit(CampaignCreated.of(
        campaign_id=campaign["id"], merchant_id=merchant_id, name=campaign["name"], funding=campaign["funding"],
        funding_agreement_id=campaign["funding_agreement_id"], budget=campaign["budget"],
        currency=campaign["currency"]))
    tell(svc, campaign["id"], "created", identity.actor())
    return read(svc, campaign["id"], merchant_id if identity.is_platform else None)


def _check_audience(svc, merchant_id, audience):
    if audience and audience.get("segment_id"):
        segment = storage.segment_by_id(svc.db, audience["segment_id"])
        if segment is None or str(segment["merchant_id"]) != merchant_id:
            raise NotFound("No segment %s" % audience["segment_id"], code="segment_not_found",
                           fields={"audience": ["No such segment."]})
        audience["segment_id"] = str(audience["segment_id"])


def update(svc, campaign_id, data, merchant_id=None):
    identity = svc.caller.require(*OWNERS)
    changes = load(CampaignUpdateSchema, data)
    campaign = campaign_of(svc, identity, campaign_id, merchant_id, lock=True)
    domain.check_update(campaign, changes)
    merged = dict(campaign, **changes)
    load(CampaignUpdateSchema, {k: _wire(merged[k]) for k in ("valid_from", "valid_until", "hours_from",
                                                                  "hours_until")})  # the window as a whole
    if "valid_from" in changes and changes["valid_from"] is None:
        changes["valid_from"] = campaign["valid_from"]
    _check_audience(svc, str(campaign["merchant_id"]), changes.get("audience"))
    if changes:
        storage.update_campaign(svc.db, campaign["id"], changes)
        storage.record_campaign_change(svc.db, campaign["id"], "updated", campaign["status"], campaign["status"],
                                       identity.actor(), ", ".join(sorted(changes)))
        tell(svc, campaign["id"], "updated", identity.actor())
    return read(svc, campaign["id"], merchant_id)


def _wire(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def change_state(svc, campaign_id, action, data, merchant_id=None):
    """Activate (scheduled when its start is ahead), pause or end, with why; 409 names the state."""
    identity = svc.caller.require(*OWNERS)
    if action not in domain.CAMPAIGN_TRANSITIONS:
        raise NotFound("No such action %s" % action, code="action_not_found")
    data = load(ReasonOptional, data or {})
    campaign = campaign_of(svc, identity, campaign_id, merchant_id, lock=True)
    status = domain.campaign_after(campaign, action, utcnow())
    storage.set_campaign_status(svc.db, campaign["id"], status)
    storage.record_campaign_change(svc.db, campaign["id"], action, campaign["status"], status, identity.actor(),
                                   data["reason"])
    tell(svc, campaign["id"], action, identity.actor(), data["reason"])
    return read(svc, campaign["id"], merchant_id)


def list_(svc, filters):
    identity = svc.caller.require(*MERCHANT_STAFF)
    merchant_id, filters = svc.scoped(identity, CampaignFilterSchema, filters)
    return storage.list_campaigns(svc.db, merchant_id, filters, dump_campaign)


def move_on_schedule(svc):
    """Start scheduled campaigns whose time has come; end those whose window is over."""
    now = utcnow()
    system = Identity.system(svc.name).actor()
    for row in storage.campaigns_due(svc.db, now):
        with svc.db.separately():
            campaign = storage.campaign_by_id(svc.db, row["id"], lock=True)
            if campaign["valid_until"] is not None and campaign["valid_until"] <= now \
                    and campaign["status"] != ENDED:
                status, action = ENDED, "window_end"
            elif campaign["status"] == "scheduled" and campaign["valid_from"] <= now:
                status, action = ACTIVE, "scheduled_start"
            else:
                continue
            storage.set_campaign_status(svc.db, campaign["id"], status)
            storage.record_campaign_change(svc.db, campaign["id"], action, campaign["status"], status, system)
            tell(svc, campaign["id"], action, system)


# -- issuance: the campaign's side of what the redemption service issues ------------------------
def issuer(svc):
    """An owner (or admin naming the merchant), or the redemption service issuing for this
    service's own jobs (it names the merchant; the campaign's own merchant is checked below)."""
    identity = svc.caller.identity
    if identity.role == SYSTEM and identity.username != "redemption":
        raise Forbidden("Only the redemption service asks this", code="role_not_allowed")
    return identity if identity.role == SYSTEM else svc.caller.require(*OWNERS)


def commit_issue(svc, campaign, data, value, now):
    """Commit an issue's value (and count) against the campaign, locked: never past the budget,
    the vouchers allowed, or a customer's limit, however many issue at once."""
    total = domain.check_campaign_issue(campaign, value, data["count"], data["currency"], now)
    if data.get("customer_id"):
        customer = storage.customer_by_id(svc.db, data["customer_id"])
        if customer is None or str(customer["merchant_id"]) != str(campaign["merchant_id"]):
            raise NotFound("No customer %s" % data["customer_id"], code="customer_not_found",
                           fields={"customer_id": ["No such customer."]})
        domain.check_per_customer(campaign, storage.customer_issued(svc.db, campaign["id"], data["customer_id"]),
                                  data["count"])
    if not storage.commit_to_campaign(svc.db, {
            "id": data["reference"], "campaign_id": campaign["id"], "customer_id": data.get("customer_id"),
            "voucher_value": value, "count": data["count"], "total": total}, now.date()):
        raise Conflict("That reference is taken", code="reference_taken")


def release(svc, event, cause):
    """A cancelled or expired voucher of a campaign gives back what it can no longer spend."""
    campaign = storage.campaign_by_id(svc.db, event.campaign_id, lock=True)
    commitment = storage.campaign_commitment(svc.db, event.batch_id or event.voucher_id, lock=True)
    if campaign is None or commitment is None or str(commitment["campaign_id"]) != str(campaign["id"]):
        return
    storage.release_from_campaign(svc.db, event.voucher_id, campaign["id"], commitment, event.unused_value, cause)


# -- what redemptions spend ----------------------------------------------------------------------
def spend(svc, event):
    """A redemption spends its campaign's budget (once: the handler is idempotent); a spent budget
    pauses the campaign and says so."""
    day = event.redeemed_at.date()
    if not storage.record_spend(svc.db, event.redemption_id, event.campaign_id, event.amount, event.redeemed_at):
        return None  # spent already (or no such campaign)
    campaign = storage.add_spend(svc.db, event.campaign_id, event.amount, 1)
    storage.add_daily(svc.db, campaign["id"], event.store_id, day, redeemed=1, discount=event.amount)
    # arriving after a reversal that happened later: the budget was as spent as it was then
    peak = storage.peak_spend(svc.db, campaign["id"], event.redeemed_at)
    status, reason = domain.campaign_status_after_spend(campaign, max(campaign["spent"], peak or 0))
    if status != campaign["status"]:
        system = Identity.system(svc.name).actor()
        storage.set_campaign_status(svc.db, campaign["id"], status, reason)
        storage.record_campaign_change(svc.db, campaign["id"], BUDGET_EXHAUSTED, campaign["status"], PAUSED, system,
                                       "spent %d of %d" % (campaign["spent"], campaign["budget"]))
        svc.events.emit(BudgetExhausted.of(
            campaign_id=campaign["id"], merchant_id=campaign["merchant_id"], budget=campaign["budget"],
            spent=campaign["spent"]))
        tell(svc, campaign["id"], BUDGET_EXHAUSTED, system)
    return campaign


def unspend(svc, event):
    """A reversal gives back what its redemption spent, once, and only after it was spent."""
    amount = storage.reverse_spend(svc.db, event.redemption_id, event.reversed_at)
    if amount is None:
        if storage.spend_of(svc.db, event.redemption_id) is not None or storage.campaign_by_id(
                svc.db, event.campaign_id) is None:
            return  # reversed already, or no such campaign
        # its redemption's own event has not been handled yet: the handler retries (then parks)
        raise LookupError("redemption %s has not spent campaign %s's budget yet" % (
            event.redemption_id, event.campaign_id))
    campaign = storage.add_spend(svc.db, event.campaign_id, -amount, -1)
    storage.add_daily(svc.db, campaign["id"], event.store_id, event.reversed_at.date(), redeemed=-1,
                      discount=-amount)


def forecast(svc, campaign_id, merchant_id=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    campaign = campaign_of(svc, identity, campaign_id, merchant_id)
    now = utcnow()
    daily = storage.daily_spend(svc.db, campaign["id"], now.date() - timedelta(days=domain.FORECAST_DAYS))
    return ForecastSchema().dump(domain.forecast(campaign, daily, now))
