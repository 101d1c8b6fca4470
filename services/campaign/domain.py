"""Campaign, funding and points rules: pure functions, unit-tested on their own."""
from datetime import timedelta

from plumbing.errors import Conflict, Forbidden, ValidationFailed
from services.campaign.contract.enums import (ACTIVE, APPROVED, BUDGET_EXHAUSTED, ENDED, MERCHANT, PENDING,
                                              REJECTED, SUSPENDED, USED)
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
def campaign_status_after_spend(campaign, spent):
    if campaign.get("budget") is not None and spent >= campaign["budget"]:
        return BUDGET_EXHAUSTED
    return campaign["status"]


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
