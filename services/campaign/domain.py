"""Campaign, funding and points rules: pure functions, unit-tested on their own."""
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from plumbing.errors import Conflict, Forbidden, ValidationFailed
from services.campaign.contract.enums import (ACTIVE, APPROVED, BUDGET_EXHAUSTED, DRAFT, ENDED, MERCHANT, PAUSED,
                                              PENDING, REJECTED, SCHEDULED, SUSPENDED, USED)
from services.redemption.contract.enums import DISCOUNT_FIXED, STORED_VALUE

# A reservation is committed by the redemption's own event within seconds; one
# still open after this long belongs to a redemption that never happened.
RESERVATION_TTL = timedelta(minutes=15)
# per merchant unless the platform sets its own (VOUCHER_VALUE_CEILING, DAILY_POINTS_CREDIT_LIMIT)
DEFAULT_VOUCHER_VALUE_CEILING = 500_000      # minor units one voucher may give without approval
DEFAULT_DAILY_POINTS_CREDIT_LIMIT = 100_000  # points credited by hand per merchant and UTC day

# action (AGREEMENT_ACTIONS) -> (statuses it applies to, status after)
AGREEMENT_TRANSITIONS = {
    "suspend": ((ACTIVE,), SUSPENDED),
    "resume": ((SUSPENDED,), ACTIVE),
    "end": ((ACTIVE, SUSPENDED), ENDED),
}


# -- points ----------------------------------------------------------------------------
def available(account):
    return account["balance"] - account["reserved"]


def check_can_reserve(account, points):
    if account is None or available(account) < points:
        have = 0 if account is None else available(account)
        raise Conflict("The customer has %d points available; %d were asked" % (have, points),
                       code="insufficient_points")


def check_adjustment(account, points):
    """A debit takes only points that are there and not promised to a redemption."""
    if points < 0 and available(account) < -points:
        raise Conflict("The customer has %d points available; a debit of %d would go below zero"
                       % (available(account), -points), code="insufficient_points",
                       fields={"points": ["More than the customer has available."]})


def check_daily_credit(credited_today, points, limit):
    """Manual credits of one merchant in one UTC day stay within the limit the platform set."""
    if points > 0 and credited_today + points > limit:
        raise Conflict("Manual points credits are limited to %d a day for this merchant; %d are left today"
                       % (limit, max(limit - credited_today, 0)), code="points_daily_limit_exceeded",
                       fields={"points": ["Above today's remaining limit of manual credits."]})


# -- campaigns -------------------------------------------------------------------------
# action -> statuses it applies to (the status after is decided by ``campaign_after``)
CAMPAIGN_TRANSITIONS = {
    "activate": (DRAFT, PAUSED),
    "pause": (SCHEDULED, ACTIVE),
    "end": (DRAFT, SCHEDULED, ACTIVE, PAUSED),
}
ACTION_WORDS = {"activate": "activated", "pause": "paused", "end": "ended"}
FORECAST_DAYS = 7  # the pace is what was redeemed over this many days (fewer for a younger campaign)


def campaign_after(campaign, action, now):
    """The status ``action`` takes a campaign to, or a 409 naming the state it is in."""
    status = campaign["status"]
    if status not in CAMPAIGN_TRANSITIONS[action]:
        raise Conflict("This campaign is %s; it cannot be %s" % (status, ACTION_WORDS[action]),
                       code="campaign_%s" % status, fields={"status": [status]})
    if action == "pause":
        return PAUSED
    if action == "end":
        return ENDED
    if campaign["valid_until"] is not None and now >= campaign["valid_until"]:
        raise Conflict("This campaign's window closed on %s" % campaign["valid_until"].isoformat(),
                       code="campaign_window_over", fields={"valid_until": ["In the past."]})
    if exhausted(campaign):
        raise Conflict("This campaign's budget is spent: raise the budget first", code="campaign_budget_exhausted",
                       fields={"budget": ["Spent."]})
    return SCHEDULED if campaign["valid_from"] > now else ACTIVE


def exhausted(campaign, spent=None):
    spent = campaign["spent"] if spent is None else spent
    return campaign.get("budget") is not None and spent >= campaign["budget"]


def check_update(campaign, changes):
    """What may change when: nothing once ended; money, window and stores not while it runs."""
    if campaign["status"] == ENDED:
        raise Conflict("This campaign is ended; it cannot be changed", code="campaign_ended",
                       fields={"status": [ENDED]})
    if campaign["status"] == ACTIVE:
        frozen = sorted(set(changes) & {"reward", "valid_from", "store_ids", "time_zone"})
        if frozen:
            raise Conflict("This campaign is active: pause it to change %s" % ", ".join(frozen),
                           code="campaign_active", fields={name: ["Pause the campaign first."] for name in frozen})
    for name, used in (("budget", campaign["committed"]), ("max_vouchers", campaign["issued_count"])):
        if name in changes and changes[name] is not None and changes[name] < used:
            raise Conflict("Vouchers issued already hold %d of it" % used, code="budget_below_committed",
                           fields={name: ["At least %d." % used]})


def check_campaign_issue(campaign, value, count, currency, now):
    """What issuing ``count`` vouchers of ``value`` commits against the campaign's budget, or why not.

    Each voucher's most it can ever give is committed when it is issued, with the campaign's
    row locked: the sum of what its vouchers can give never passes the budget, so no number
    of tills redeeming at once can spend past it.
    """
    if campaign["status"] != ACTIVE:
        raise Conflict("The campaign is %s: vouchers are issued only while it is active" % campaign["status"],
                       code="campaign_not_active", fields={"campaign_id": ["Not active (%s)." % campaign["status"]]})
    if campaign["valid_until"] is not None and now >= campaign["valid_until"]:
        raise Conflict("The campaign's window is over", code="campaign_window_over",
                       fields={"campaign_id": ["Its window is over."]})
    check_currency(campaign["currency"], currency, "campaign")
    if campaign["budget"] is not None and value is None:
        raise ValidationFailed("A percentage voucher under a campaign with a budget needs a cap",
                               code="percentage_cap_required", fields={"cap": ["Required under a budget."]})
    total = 0 if value is None else value * count
    if campaign["budget"] is not None and campaign["committed"] + total > campaign["budget"]:
        left = campaign["budget"] - campaign["committed"]
        raise Conflict("The campaign's budget has %d left; this issue needs %d" % (left, total),
                       code="campaign_budget_exceeded", fields={"campaign_id": ["%d of the budget left." % left]})
    if campaign["max_vouchers"] is not None and campaign["issued_count"] + count > campaign["max_vouchers"]:
        left = campaign["max_vouchers"] - campaign["issued_count"]
        raise Conflict("The campaign may issue %d more voucher(s); this issue is %d" % (left, count),
                       code="campaign_voucher_limit_reached", fields={"campaign_id": ["%d vouchers left." % left]})
    return total


def check_per_customer(campaign, issued_to_customer, count):
    limit = campaign["per_customer_limit"]
    if limit is not None and issued_to_customer + count > limit:
        raise Conflict("This customer has %d of at most %d voucher(s) from this campaign" % (issued_to_customer, limit),
                       code="per_customer_limit_reached", fields={"customer_id": ["Limit reached."]})


def campaign_status_after_spend(campaign, spent):
    """An active (or scheduled) campaign whose budget is spent pauses itself."""
    if exhausted(campaign, spent) and campaign["status"] in (ACTIVE, SCHEDULED):
        return PAUSED, BUDGET_EXHAUSTED
    return campaign["status"], campaign["pause_reason"]


def forecast(campaign, daily_spend, now, days=FORECAST_DAYS):
    """When the budget runs out at the pace of the last ``days`` days (fewer for a younger campaign).

    ``daily_spend``: value redeemed per day (date -> amount) over that window, today included.
    """
    started = campaign["valid_from"] if campaign["valid_from"] < now else now
    window = max(1, min(days, (now.date() - started.date()).days + 1))
    since = now.date() - timedelta(days=window - 1)
    # SUM() over bigint comes back from PostgreSQL as Decimal: minor units are whole numbers
    spent_in_window = sum(int(amount) for day, amount in daily_spend.items() if day >= since)
    pace = spent_in_window / window
    result = {"campaign_id": str(campaign["id"]), "budget": campaign["budget"], "spent": campaign["spent"],
              "committed": campaign["committed"], "remaining": None, "pace_per_day": round(pace, 2),
              "pace_window_days": window, "exhausted_at": None,
              "basis": "value redeemed over the last %d day(s)" % window}
    if campaign["budget"] is None:
        result["basis"] += "; no budget, so it never runs out"
        return result
    remaining = max(campaign["budget"] - campaign["spent"], 0)
    result["remaining"] = remaining
    if remaining == 0:
        result["exhausted_at"] = now
    elif pace > 0:
        result["exhausted_at"] = now + timedelta(days=remaining / pace)
    return result


def funding_agreement_required():
    return Forbidden("Platform or partner funding comes only from a funding agreement the platform granted "
                     "this merchant: name it (funding_agreement_id)", code="funding_agreement_required",
                     fields={"funding_agreement_id": ["Required for platform or partner funding."]})


def campaign_funding(requested, agreement):
    """Funding and funder of a new campaign: the merchant's own, or the agreement's, never the client's."""
    if agreement is None:
        if requested not in (None, MERCHANT):
            raise funding_agreement_required()
        return MERCHANT, None
    if requested not in (None, agreement["funder_kind"]):
        raise ValidationFailed("The agreement is %s funding" % agreement["funder_kind"], code="funding_mismatch",
                               fields={"funding": ["Must be %s, the agreement's (or left out)."
                                                   % agreement["funder_kind"]]})
    return agreement["funder_kind"], agreement["funder_name"]


# -- funding agreements ------------------------------------------------------------------
def remaining(agreement):
    return agreement["budget"] - agreement["committed"]


def agreement_after(status, action):
    applies_to, after = AGREEMENT_TRANSITIONS[action]
    if status not in applies_to:
        raise Conflict("This agreement is %s; it cannot be %s" % (status, {"suspend": "suspended",
                       "resume": "resumed", "end": "ended"}[action]), code="agreement_%s" % status)
    return after


def check_in_force(agreement, now):
    """New campaigns and new vouchers only under an active agreement within its window."""
    if agreement["status"] != ACTIVE:
        raise Conflict("The funding agreement is %s" % agreement["status"], code="agreement_not_active",
                       fields={"funding_agreement_id": ["Not active."]})
    if now < agreement["valid_from"] or (agreement["valid_until"] and now >= agreement["valid_until"]):
        raise Conflict("The funding agreement is not in force now (valid %s to %s)" % (
            agreement["valid_from"].date(), agreement["valid_until"].date() if agreement["valid_until"] else "-"),
            code="agreement_not_in_force", fields={"funding_agreement_id": ["Not in force now."]})


def check_currency(expected, given, what):
    if expected.strip() != given:
        raise ValidationFailed("The %s is in %s" % (what, expected.strip()), code="currency_mismatch",
                               fields={"currency": ["Must be %s, the %s's." % (expected.strip(), what)]})


def voucher_value(kind, value, cap, uses_allowed):
    """The most one voucher can ever give, in minor units; None for an uncapped percentage.

    A discount usable several times gives its value (or cap) each time, so that is what it
    can cost whoever funds it.
    """
    if kind == STORED_VALUE:
        return value
    per_use = value if kind == DISCOUNT_FIXED else cap
    if per_use is None:
        return None
    return per_use * (uses_allowed or 1)


def check_commitment(agreement, value, count, currency, now):
    """What issuing ``count`` vouchers of ``value`` commits against the agreement, or why it cannot."""
    check_in_force(agreement, now)
    check_currency(agreement["currency"], currency, "funding agreement")
    if value is None:
        raise ValidationFailed("A percentage voucher funded by the platform or a partner needs a cap",
                               code="percentage_cap_required", fields={"cap": ["Required under this funding."]})
    if value > agreement["max_voucher_value"]:
        raise ValidationFailed("The agreement funds vouchers of at most %d; this one can give %d"
                               % (agreement["max_voucher_value"], value), code="voucher_value_above_agreement_max",
                               fields={"value": ["At most %d under this agreement." % agreement["max_voucher_value"]]})
    total = value * count
    if total > remaining(agreement):
        raise Conflict("The funding agreement has %d left; this issue needs %d" % (remaining(agreement), total),
                       code="agreement_budget_exceeded")
    return total


def releasable(unused_value, commitment):
    """What a cancelled or expired voucher gives back to its agreement."""
    return max(min(unused_value or 0, commitment["voucher_value"] or 0,
                   commitment["total"] - commitment["released"]), 0)


# -- the voucher value ceiling and approvals ---------------------------------------------
def needs_approval(value, ceiling):
    return value is not None and value > ceiling


def check_approval(approval, merchant_id, value, count, currency, ceiling):
    """An approval the platform gave that covers this issue, or the precise refusal."""
    if approval is None or str(approval["merchant_id"]) != str(merchant_id):
        raise Forbidden("Vouchers worth more than %d need the platform's approval: ask for one "
                        "(POST /api/v1/issuance-approvals) and name it (approval_id)" % ceiling,
                        code="platform_approval_required", fields={"approval_id": ["An approved approval is required."]})
    if approval["status"] in (PENDING, REJECTED):
        raise Forbidden("That approval is %s" % approval["status"], code="approval_%s" % approval["status"],
                        fields={"approval_id": ["Not approved."]})
    if approval["status"] == USED or approval["remaining"] < count:
        raise Conflict("That approval covers %d more voucher(s); this issue needs %d" % (approval["remaining"], count),
                       code="approval_used_up", fields={"approval_id": ["Used up."]})
    check_currency(approval["currency"], currency, "approval")
    if value > approval["value"]:
        raise Forbidden("That approval covers vouchers of at most %d; this one can give %d" % (approval["value"], value),
                        code="approval_value_exceeded", fields={"approval_id": ["Does not cover this value."]})


def approval_after_use(approval, count):
    left = approval["remaining"] - count
    return left, USED if left == 0 else APPROVED


def check_decision(approval):
    if approval["status"] != PENDING:
        raise Conflict("This approval was already %s" % approval["status"], code="approval_already_decided")


# -- tiers and earning rules -------------------------------------------------------------------------
# tier -> (spend over the last 365 days to reach it, minor units; points multiplier in percent)
TIER_RULES = {"member": (0, 100), "silver": (100_000, 110), "gold": (500_000, 125), "platinum": (2_000_000, 150)}
TIER_DAYS = 365


def tier_for(rolling_spend):
    """The highest tier the spend over the last ``TIER_DAYS`` days reaches."""
    return max((tier for tier, (threshold, _) in TIER_RULES.items() if rolling_spend >= threshold),
               key=lambda tier: TIER_RULES[tier][0])


def points_for(amount, reward, tier):
    """Points a purchase of ``amount`` (minor units) earns under a points reward, with the tier's
    benefit: per whole currency unit, times the campaign's and the tier's multipliers, rounded down."""
    units = amount // 100
    return units * reward["points_per_unit"] * reward.get("multiplier_pct", 100) * TIER_RULES[tier][1] // 10_000


def runs_now(campaign, now, store_id):
    """Whether an active campaign applies to a purchase now at this store (its window, days, hours
    in its time zone, and stores)."""
    if campaign["status"] != ACTIVE or now < campaign["valid_from"] or (
            campaign["valid_until"] is not None and now >= campaign["valid_until"]):
        return False
    local = now.astimezone(ZoneInfo(campaign["time_zone"] or "UTC"))
    if campaign["weekdays"] and local.weekday() not in campaign["weekdays"]:
        return False
    if campaign["hours_from"]:
        start, end = time.fromisoformat(campaign["hours_from"]), time.fromisoformat(campaign["hours_until"])
        moment = local.time()
        if not (start <= moment < end if start < end else moment >= start or moment < end):
            return False
    stores = campaign["store_ids"]
    return not stores or str(store_id) in [str(s) for s in stores]


def check_purchase_replay(prior, request_hash):
    """The same receipt again is the same purchase; a different bill under its receipt id is a mistake."""
    if prior["request_hash"] != request_hash:
        raise Conflict("Receipt %s of this store was recorded with other details" % prior["receipt_id"],
                       code="receipt_conflict", fields={"receipt_id": ["Recorded already, with other details."]})
