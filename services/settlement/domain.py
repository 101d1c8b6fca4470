"""Settlement rules: periods, batch references, double-entry postings, payout readiness,
payout address verification.

Pure functions (and the code generator); the service turns their answers into rows and events.
"""
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plumbing.errors import Conflict, ValidationFailed
from services.settlement.contract.enums import CONFIRMED, REJECTED

# ASCII digits only ("２０２６-05" is not a period) and \Z, not $ ("$" also matches before a
# trailing newline): the period is copied into batch references people read
MONTH_PATTERN = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])\Z")
DAY_PATTERN = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])-([0-3][0-9])\Z")
WEEK_PATTERN = re.compile(r"^([0-9]{4})-W(0[1-9]|[1-4][0-9]|5[0-3])\Z")
FREQUENCIES = ("daily", "weekly", "monthly")
GENESIS = "0" * 64


def _bad_period():
    return ValidationFailed("A period is a month (YYYY-MM), a week (YYYY-Www) or a day (YYYY-MM-DD)",
                            code="period_invalid",
                            fields={"period": ["Use YYYY-MM, YYYY-Www or YYYY-MM-DD, e.g. 2026-05."]})


def zone(name):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("Unknown time zone %r" % name, code="time_zone_invalid",
                               fields={"time_zone": ["An IANA time zone, e.g. Africa/Johannesburg."]})


def period_bounds(period, tz="UTC"):
    """``"2026-05"``, ``"2026-W19"`` or ``"2026-05-04"`` -> (frequency, start, end) as aware datetimes:
    midnight in the merchant's time zone."""
    local = zone(tz)
    try:
        match = MONTH_PATTERN.match(period or "")
        if match and match.group(1) != "0000":  # datetime has no year 0
            year, month = int(match.group(1)), int(match.group(2))
            start = datetime(year, month, 1, tzinfo=local)
            return "monthly", start, _next_month(start)
        match = DAY_PATTERN.match(period or "")
        if match and match.group(1) != "0000":
            start = datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)), tzinfo=local)
            return "daily", start, _shift_days(start, 1)
        match = WEEK_PATTERN.match(period or "")
        if match and match.group(1) != "0000":
            day = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
            start = datetime(day.year, day.month, day.day, tzinfo=local)
            return "weekly", start, _shift_days(start, 7)
    except (ValueError, OverflowError):
        pass
    raise _bad_period()


END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999)


def _shift_days(start, days):
    # wall-clock midnight of a later day (a DST change does not move the boundary off midnight)
    try:
        later = start.date() + timedelta(days=days)
    except OverflowError:  # the last days datetime can hold
        return END_OF_TIME.replace(tzinfo=start.tzinfo)
    return datetime(later.year, later.month, later.day, tzinfo=start.tzinfo)


def _next_month(start):
    if (start.year, start.month) == (9999, 12):
        return END_OF_TIME.replace(tzinfo=start.tzinfo)
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=start.tzinfo)


def parse_period(period, now, tz="UTC"):
    """(start, end) of a period to close now: one that has not begun is refused, and the current
    one ends now (the rest of it goes to a later batch)."""
    _, start, end = period_bounds(period, tz)
    if start > now:
        raise ValidationFailed("That period has not begun", code="period_in_future",
                               fields={"period": ["Not begun yet."]})
    return start, min(end, now)


def period_containing(frequency, moment_utc, tz="UTC"):
    """The label of the ``frequency`` period that ``moment_utc`` falls in, in the time zone ``tz``."""
    local = moment_utc.astimezone(zone(tz))
    if frequency == "daily":
        return local.strftime("%Y-%m-%d")
    if frequency == "weekly":
        year, week, _ = local.isocalendar()
        return "%04d-W%02d" % (year, week)
    return local.strftime("%Y-%m")


def next_period_end(frequency, now, tz="UTC"):
    """When the period running at ``now`` ends: the timer closes it then."""
    return period_bounds(period_containing(frequency, now, tz), tz)[2].astimezone(timezone.utc)


def batch_reference(month, number):
    """``SET-2026-05-004``: what people read on statements and tickets (numbered per merchant and
    month; the portal shows the month by name: SET-MAY-004)."""
    return "SET-%s-%03d" % (month, number)


def batch_month(period, tz="UTC"):
    """The month a batch is numbered in: the month its period starts in."""
    return period_bounds(period, tz)[1].strftime("%Y-%m")


# -- accounts and postings (a positive amount is a debit, a negative one a credit) ---------------
MERCHANT, PLATFORM, PARTNER = "merchant", "platform", "partner"


def merchant_payable(merchant_id, store_id=None):
    """What is owed to the merchant for a store's redemptions (credit balance: owed)."""
    return "merchant_payable:%s:%s" % (merchant_id, store_id or "-")


def funding_account(funding, merchant_id, campaign_id=None, agreement_id=None):
    """Who pays for a voucher: the merchant's own funds, or the funding agreement the platform granted
    (the platform's cost, or a receivable from the partner)."""
    if funding == MERCHANT or not funding:
        return "merchant_funding:%s" % merchant_id
    if agreement_id:
        return ("platform_funding:%s" if funding == PLATFORM else "partner_receivable:%s") % agreement_id
    # vouchers issued before funding agreements existed: no account can be trusted (parked)
    if campaign_id:
        return "campaign_funding:%s:%s" % (funding, campaign_id)
    return "%s_funding" % funding


def discount_cost(merchant_id, store_id=None):
    return "merchant_discount_cost:%s:%s" % (merchant_id, store_id or "-")


def points_liability(merchant_id):
    return "points_liability:%s" % merchant_id


def points_redeemed(merchant_id, store_id=None):
    return "points_redeemed:%s:%s" % (merchant_id, store_id or "-")


def platform_fees(merchant_id):
    return "platform_fees:%s" % merchant_id


def payouts_sent(merchant_id):
    return "payouts_sent:%s" % merchant_id


def commission(amount, commission_bp):
    """The platform's fee on ``amount`` at ``commission_bp`` basis points, rounded half up."""
    return (amount * commission_bp + 5000) // 10000 if amount > 0 else -((-amount * commission_bp + 5000) // 10000)


@dataclass(frozen=True)
class Booking:
    """A redemption's postings and who owes the merchant what for it."""
    postings: list
    amount: int        # the voucher's amount and the points' value: what the customer got
    counterparty: str  # merchant (nobody owes anything), platform or partner
    agreement_id: str
    funded: int        # what the counterparty pays for
    fee: int           # the platform's commission on it
    payable: int       # what the merchant is owed: funded - fee


def redemption_booking(event, terms=None):
    """A redemption (a ``VoucherRedeemed``): a merchant-funded voucher is the merchant's own cost
    (recorded, nobody owes it anything); a platform- or partner-funded one is owed to the redeeming
    store by the platform (or receivable from the partner) less the agreement's commission. Points
    are the merchant's own liability: recorded, never paid."""
    merchant, store = event.merchant_id, event.store_id
    postings = []
    counterparty = event.funding if event.funding in (PLATFORM, PARTNER) else MERCHANT
    funded = fee = 0
    agreement_id = event.funding_agreement_id if counterparty != MERCHANT else None
    if event.amount:
        if counterparty == MERCHANT:
            postings += [(discount_cost(merchant, store), event.amount),
                         (funding_account(MERCHANT, merchant), -event.amount)]
        else:
            funded = event.amount
            fee = commission(funded, terms["commission_bp"])
            postings.append((funding_account(counterparty, merchant, event.campaign_id, agreement_id), funded))
            if funded - fee:
                postings.append((merchant_payable(merchant, store), -(funded - fee)))
            if fee:
                postings.append((platform_fees(merchant), -fee))
    if event.points_value:
        postings += [(points_liability(merchant), event.points_value),
                     (points_redeemed(merchant, store), -event.points_value)]
    return Booking(postings, event.amount + event.points_value, counterparty, agreement_id, funded, fee,
                   funded - fee)


def redemption_postings(event, terms=None):
    booking = redemption_booking(event, terms)
    return booking.postings, booking.amount


def reversal_postings(original_postings):
    """A reversal is the mirror image of what it reverses."""
    return [(account, -amount) for account, amount in original_postings]


def payout_postings(merchant_id, payable_by_store):
    """Paying a batch clears what each store was owed."""
    postings = [(merchant_payable(merchant_id, store), amount, store) for store, amount in payable_by_store if amount]
    total = sum(posting[1] for posting in postings)
    if total:
        postings.append((payouts_sent(merchant_id), -total))
    return postings


# -- the hash chain ---------------------------------------------------------------------------
CHAINED_FIELDS = ("seq", "merchant_id", "store_id", "kind", "source_id", "source_reference", "amount", "currency",
                  "funding", "counterparty", "agreement_id", "funded", "fee", "payable", "campaign_id",
                  "occurred_at", "description", "corrects")


def _chain_text(value):
    if value is None:
        return None
    if hasattr(value, "astimezone"):
        return value.astimezone(timezone.utc).isoformat()
    return str(value).strip() if isinstance(value, str) else str(value)


def chain_hash(prev_hash, entry, postings):
    """The entry's link in its merchant's chain: sha256 of the previous link and the entry's
    content (its postings in order). Editing any of it, or removing an entry, breaks every
    later link."""
    body = json.dumps({"entry": {name: _chain_text(entry.get(name)) for name in CHAINED_FIELDS},
                       "postings": [[posting[0], int(posting[1])] for posting in postings]},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


# -- reconciliation ---------------------------------------------------------------------------
RECONCILED = ("redemptions", "redeemed_amount", "reversals", "reversed_amount")


def reconcile(expected_rows, actual_rows):
    """Redemption's own totals (``expected``) against the ledger's (``actual``), per store and
    currency: the differences (empty when they agree)."""
    def keyed(rows):
        return {(str(r["store_id"]) if r["store_id"] else None, r["currency"].strip()):
                {name: int(r.get(name) or 0) for name in RECONCILED} for r in rows}
    expected, actual = keyed(expected_rows), keyed(actual_rows)
    zero = dict.fromkeys(RECONCILED, 0)
    differences = []
    for key in sorted(set(expected) | set(actual), key=lambda k: (k[0] or "", k[1])):
        want, have = expected.get(key, zero), actual.get(key, zero)
        if want != have:
            differences.append({"store_id": key[0], "currency": key[1], "expected": want, "actual": have})
    return differences


def payout_problem(account, now):
    """Why a batch cannot be paid out now (None when it can)."""
    if account is None:
        return "No payout wallet address is set up for this merchant"
    address = mask_address(account["wallet_address"])
    if account["status"] == REJECTED:
        return ("The payout wallet address %s was rejected by the platform (%s): the merchant must set "
                "another" % (address, account.get("rejection_reason") or "no reason given"))
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
