"""Settlement rules: periods, batch references, double-entry postings, payout readiness,
payout address verification.

Pure functions (and the code generator); the service turns their answers into rows and events.
"""
import re
import secrets
from datetime import datetime, timezone

from plumbing.errors import Conflict, ValidationFailed
from services.settlement.contract.enums import CONFIRMED

# ASCII digits only ("２０２６-05" is not a period) and \Z, not $ ("$" also matches before a
# trailing newline): the period is copied into batch references people read
PERIOD_PATTERN = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")


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
    """A redemption (a ``VoucherRedeemed``) owes the merchant its voucher amount (from the funder)
    and points value."""
    merchant = event.merchant_id
    postings = []
    if event.amount:
        postings.append((funding_account(event.funding, merchant, event.campaign_id, event.funding_agreement_id),
                         event.amount))
    if event.points_value:
        postings.append((points_liability(merchant), event.points_value))
    total = sum(amount for _, amount in postings)
    if total:
        postings.append((merchant_payable(merchant), -total))
    return postings, total


def reversal_postings(original_postings):
    """A reversal is the mirror image of what it reverses."""
    return [(account, -amount) for account, amount in original_postings]


def payout_problem(account, now):
    """Why a batch cannot be paid out now (None when it can)."""
    if account is None:
        return "No payout wallet address is set up for this merchant"
    address = mask_address(account["wallet_address"])
    if account["status"] != CONFIRMED:
        return "The payout wallet address %s is not confirmed yet" % address
    if now < account["cooling_off_until"]:
        return ("The payout wallet address %s was changed on %s: payouts to it are held until %s "
                "(cooling-off)" % (address, moment(account["updated_at"]), moment(account["cooling_off_until"])))
    return None


def payable_from(account):
    """When payouts may go to the address: confirmed, and its cooling-off over (None if not confirmed)."""
    if account is None or account["status"] != CONFIRMED:
        return None
    return max(account["confirmed_at"], account["cooling_off_until"])


def mask_address(address):
    return address if len(address) <= 10 else address[:6] + "…" + address[-4:]


def mask_email(address):
    """``o***@demo.example``: enough for platform finance to see where a code went."""
    local, _, domain = (address or "").rpartition("@")
    return "%s***@%s" % (local[:1], domain) if local else "***"


def moment(value):
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- out-of-band verification codes ------------------------------------------------------
CODE_DIGITS = 8


def new_verification_code():
    """Eight random digits, easy to read back over the phone."""
    return "%0*d" % (CODE_DIGITS, secrets.randbelow(10 ** CODE_DIGITS))


def spoken(code):
    return "%s %s" % (code[:4], code[4:])


def normalise_code(text):
    """What someone typed (``1234 5678``, ``1234-5678``) as the bare digits."""
    return text.replace(" ", "").replace("-", "")


def verification_refusal(verification, account, now):
    """Why a code cannot confirm ``account`` now, as (reason, error); None if it may be tried."""
    if verification is None:
        return "not_requested", Conflict("No verification code is waiting for this address: request one first",
                              code="verification_not_requested")
    if verification["wallet_address"] != account["wallet_address"]:
        # set_payout_account supersedes pending codes; this guards the rule, not the timing
        return "superseded", Conflict("That code was sent for another address: request a new one",
                              code="verification_superseded")
    if now >= verification["expires_at"]:
        return "expired", Conflict("The verification code expired at %s: request a new one"
                                   % moment(verification["expires_at"]), code="verification_code_expired")
    return None


def wrong_code(attempts, max_attempts):
    """The answer to a wrong code: how many tries are left, or that the code is used up."""
    left = max_attempts - attempts
    if left <= 0:
        return Conflict("Wrong code, and no tries are left: request a new code",
                        code="verification_code_exhausted")
    return ValidationFailed("Wrong code: %d %s left" % (left, "try" if left == 1 else "tries"),
                            code="verification_code_wrong",
                            fields={"code": ["Does not match the code sent (%d left)." % left]})
