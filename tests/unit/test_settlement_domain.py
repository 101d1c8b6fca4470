"""Settlement rules without a database: periods, references, double entry, payout readiness."""
import uuid
from datetime import datetime, timezone

import pytest

from plumbing.errors import ValidationFailed
from services.settlement import domain

NOW = datetime(2026, 5, 17, 14, 30, tzinfo=timezone.utc)
MERCHANT = str(uuid.uuid4())
CAMPAIGN = str(uuid.uuid4())


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def refusal(period, now=NOW):
    with pytest.raises(ValidationFailed) as raised:
        domain.parse_period(period, now)
    assert list(raised.value.fields) == ["period"]  # the gateway names the bad field
    return raised.value.code


# -- periods -------------------------------------------------------------------------

def test_a_past_month_is_the_whole_month_in_utc():
    assert domain.parse_period("2026-04", NOW) == (utc(2026, 4, 1), utc(2026, 5, 1))
    assert domain.parse_period("2024-02", NOW) == (utc(2024, 2, 1), utc(2024, 3, 1))


def test_december_ends_on_the_first_of_january():
    assert domain.parse_period("2025-12", NOW) == (utc(2025, 12, 1), utc(2026, 1, 1))


def test_the_current_month_ends_now_not_at_its_end():
    # entries recorded later this month are left for the next close of the same period
    assert domain.parse_period("2026-05", NOW) == (utc(2026, 5, 1), NOW)


def test_a_month_that_begins_exactly_now_is_open():
    start = utc(2026, 6, 1)
    assert domain.parse_period("2026-06", start) == (start, start)


@pytest.mark.parametrize("period", ["2026-06", "2027-01", "9999-12"])
def test_a_period_that_has_not_begun_is_refused(period):
    assert refusal(period) == "period_in_future"


@pytest.mark.parametrize("period", [
    None, "", "2026", "2026-5", "26-05", "2026-00", "2026-13", "2026/05", "May 2026", "2026-05-01",
    " 2026-05", "2026-05 ", "2026-05\n", "0000-01", "\uff12\uff10\uff12\uff16-05", "abcd-ef",
])
def test_garbage_is_not_a_period(period):
    assert refusal(period) == "period_invalid"


# -- batch references ------------------------------------------------------------------

def test_batch_references_are_numbered_per_period_with_three_digits():
    assert domain.batch_reference("2026-05", 4) == "SET-2026-05-004"
    assert domain.batch_reference("2026-05", 1) == "SET-2026-05-001"
    assert domain.batch_reference("2026-12", 123) == "SET-2026-12-123"
    assert domain.batch_reference("2026-05", 1000) == "SET-2026-05-1000"  # grows, never wraps


# -- double entry ------------------------------------------------------------------------

FUNDINGS = [(None, None), ("merchant", None), ("merchant", CAMPAIGN), ("platform", None),
            ("platform", CAMPAIGN), ("partner", None), ("partner", CAMPAIGN)]
AGREEMENT = "7d0c2f43-52a5-4c1e-9a3e-1f0b6a8e9c21"


def redemption(amount, points_value=None, funding="merchant", campaign_id=None, agreement_id=None):
    return {"merchant_id": MERCHANT, "amount": amount, "points_value": points_value,
            "funding": funding, "campaign_id": campaign_id, "funding_agreement_id": agreement_id,
            "currency": "ZAR"}


@pytest.mark.parametrize("funding,campaign_id", FUNDINGS)
@pytest.mark.parametrize("amount,points_value", [(2500, None), (2500, 0), (2500, 700), (0, 700), (1, 1)])
def test_redemption_postings_always_balance(funding, campaign_id, amount, points_value):
    postings, total = domain.redemption_postings(redemption(amount, points_value, funding, campaign_id))
    assert sum(value for _, value in postings) == 0
    assert total == amount + (points_value or 0)
    assert (domain.merchant_payable(MERCHANT), -total) in postings  # the merchant is owed the total
    assert all(value != 0 for _, value in postings)  # the ledger refuses zero postings


def test_the_funder_pays_the_voucher_and_the_points_liability_pays_the_points():
    postings, total = domain.redemption_postings(redemption(2500, 700, "partner", CAMPAIGN))
    assert total == 3200
    assert postings == [("campaign_funding:partner:%s" % CAMPAIGN, 2500),
                        ("points_liability:%s" % MERCHANT, 700),
                        ("merchant_payable:%s" % MERCHANT, -3200)]


def test_funding_accounts_name_who_pays():
    assert domain.funding_account("merchant", MERCHANT) == "merchant_funding:%s" % MERCHANT
    assert domain.funding_account(None, MERCHANT, CAMPAIGN) == "merchant_funding:%s" % MERCHANT
    assert domain.funding_account("platform", MERCHANT) == "platform_funding"
    assert domain.funding_account("platform", MERCHANT, CAMPAIGN) == "campaign_funding:platform:%s" % CAMPAIGN


def test_platform_and_partner_money_is_booked_against_its_funding_agreement():
    assert domain.funding_account("platform", MERCHANT, CAMPAIGN, AGREEMENT) == "agreement:%s" % AGREEMENT
    assert domain.funding_account("partner", MERCHANT, CAMPAIGN, AGREEMENT) == "agreement:%s" % AGREEMENT
    # a merchant's own money stays the merchant's, whatever else the event says
    assert domain.funding_account("merchant", MERCHANT, CAMPAIGN, AGREEMENT) == "merchant_funding:%s" % MERCHANT
    postings, total = domain.redemption_postings(redemption(2500, 700, "platform", CAMPAIGN, AGREEMENT))
    assert postings == [("agreement:%s" % AGREEMENT, 2500), ("points_liability:%s" % MERCHANT, 700),
                        ("merchant_payable:%s" % MERCHANT, -3200)]


def test_a_redemption_worth_nothing_posts_nothing():
    assert domain.redemption_postings(redemption(0)) == ([], 0)
    assert domain.redemption_postings(redemption(0, 0)) == ([], 0)


@pytest.mark.parametrize("funding,campaign_id", FUNDINGS)
def test_a_reversal_is_the_mirror_of_its_redemption(funding, campaign_id):
    original, total = domain.redemption_postings(redemption(4200, 300, funding, campaign_id))
    mirrored = domain.reversal_postings(original)
    assert [account for account, _ in mirrored] == [account for account, _ in original]
    assert [value for _, value in mirrored] == [-value for _, value in original]
    assert sum(value for _, value in mirrored) == 0
    # the redemption and its reversal together leave every account where it was
    balances = {}
    for account, value in original + mirrored:
        balances[account] = balances.get(account, 0) + value
    assert set(balances.values()) == {0}
    assert domain.reversal_postings(mirrored) == original


def test_reversing_nothing_posts_nothing():
    assert domain.reversal_postings([]) == []


# -- payout readiness ----------------------------------------------------------------------

def test_no_payout_account_says_so():
    assert domain.payout_problem(None) == "No payout wallet address is set up for this merchant"


def test_an_unconfirmed_account_names_its_masked_address():
    problem = domain.payout_problem({"status": "unconfirmed", "wallet_address": "wallet-0123456789abcdef"})
    assert problem == "The payout wallet address wallet…cdef is not confirmed yet"
    assert "0123456789" not in problem  # the full address is not spread around tickets and inboxes


def test_a_confirmed_account_can_be_paid():
    assert domain.payout_problem({"status": "confirmed", "wallet_address": "wallet-0123456789"}) is None


def test_short_addresses_are_shown_whole():
    assert domain.mask_address("w-123456") == "w-123456"
    assert domain.mask_address("0123456789") == "0123456789"
    assert domain.mask_address("0123456789A") == "012345…789A"
