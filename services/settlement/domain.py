"""Settlement rules: periods, batch references, double-entry postings, payout readiness.

Pure functions; the service turns their answers into rows and events.
"""
import re
from datetime import datetime, timezone

from plumbing.errors import ValidationFailed

# ASCII digits only ("２０２６-05" is not a period) and \Z, not $ ("$" also matches before a
# trailing newline): the period is copied into batch references people read
PERIOD_PATTERN = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")

PAYOUT_ACCOUNT_UNCONFIRMED = "payout_account_unconfirmed"
RECONCILIATION_MISMATCH = "reconciliation_mismatch"
REVERSAL_AFTER_CLOSE = "reversal_after_close"
PAYOUT_FAILED = "payout_failed"
DUPLICATE = "duplicate"


def parse_period(period, now):
    """``"2026-05"`` -> (start, end) in UTC; a period that has not begun is refused."""
    match = PERIOD_PATTERN.match(period or "")
    if not match or match.group(1) == "0000":  # datetime has no year 0
        raise ValidationFailed("A period is a month: YYYY-MM", code="period_invalid",
                               fields={"period": ["Use YYYY-MM, e.g. 2026-05."]})
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=timezone.utc)
    if start > now:
        raise ValidationFailed("That period has not begun", code="period_in_future",
                               fields={"period": ["Not begun yet."]})
    # after the check above: the month after 9999-12 is past what datetime can hold
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
    return start, min(end, now)


def batch_reference(period, number):
    """``SET-2026-05-004``: what people read on statements and tickets."""
    return "SET-%s-%03d" % (period, number)


def merchant_payable(merchant_id):
    return "merchant_payable:%s" % merchant_id


def funding_account(funding, merchant_id, campaign_id=None, agreement_id=None):
    """Who pays for a voucher: the merchant's own funds, or the funding agreement the platform granted."""
    if funding == "merchant" or not funding:
        return "merchant_funding:%s" % merchant_id
    if agreement_id:
        return "agreement:%s" % agreement_id
    # vouchers issued before funding agreements existed
    if campaign_id:
        return "campaign_funding:%s:%s" % (funding, campaign_id)
    return "%s_funding" % funding


def points_liability(merchant_id):
    return "points_liability:%s" % merchant_id


def redemption_postings(event):
    """A redemption owes the merchant its voucher amount (from the funder) and points value."""
    merchant = event["merchant_id"]
    postings = []
    if event["amount"]:
        postings.append((funding_account(event.get("funding"), merchant, event.get("campaign_id"),
                                         event.get("funding_agreement_id")), event["amount"]))
    if event.get("points_value"):
        postings.append((points_liability(merchant), event["points_value"]))
    total = sum(amount for _, amount in postings)
    if total:
        postings.append((merchant_payable(merchant), -total))
    return postings, total


def reversal_postings(original_postings):
    """A reversal is the mirror image of what it reverses."""
    return [(account, -amount) for account, amount in original_postings]


def payout_problem(account):
    """Why a batch cannot be paid out now (None when it can)."""
    if account is None:
        return "No payout wallet address is set up for this merchant"
    if account["status"] != "confirmed":
        return "The payout wallet address %s is not confirmed yet" % mask_address(account["wallet_address"])
    return None


def mask_address(address):
    return address if len(address) <= 10 else address[:6] + "…" + address[-4:]
