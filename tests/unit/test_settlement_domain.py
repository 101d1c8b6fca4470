"""Settlement rules without a database: periods, references, double entry, payout readiness."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from plumbing.errors import ValidationFailed
from plumbing.hashing import SHORT_SECRETS
from services.redemption.contract.events import VoucherRedeemed
from services.settlement import domain
from services.settlement.contract.schemas import PayoutAccountSchema, PayoutConfirmationSchema
from tests.events import example

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
    # a redemption always states both (no points: 0; merchant money: "merchant")
    return example(VoucherRedeemed, merchant_id=MERCHANT, amount=amount, points_value=points_value or 0,
                   funding=funding or "merchant", campaign_id=campaign_id, funding_agreement_id=agreement_id,
                   currency="ZAR")


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

def account(status="confirmed", set_at=utc(2026, 5, 10, 9, 0), cooling_hours=72, confirmed_at=None,
            address="wallet-0123456789abcdef"):
    return {"status": status, "wallet_address": address, "updated_at": set_at,
            "cooling_off_until": set_at + timedelta(hours=cooling_hours),
            "confirmed_at": confirmed_at or (set_at + timedelta(hours=1) if status == "confirmed" else None)}


def test_no_payout_account_says_so():
    assert domain.payout_problem(None, NOW) == "No payout wallet address is set up for this merchant"


def test_an_unconfirmed_account_names_its_masked_address():
    problem = domain.payout_problem(account("unconfirmed"), NOW)
    assert problem == "The payout wallet address wallet…cdef is not confirmed yet"
    assert "0123456789" not in problem  # the full address is not spread around tickets and inboxes


def test_a_confirmed_account_out_of_its_cooling_off_can_be_paid():
    assert domain.payout_problem(account(), NOW) is None
    assert domain.payout_problem(account(set_at=NOW - timedelta(hours=72)), NOW) is None  # to the second


def test_a_confirmed_account_in_its_cooling_off_is_held_and_says_until_when():
    changed = account(set_at=utc(2026, 5, 16, 9, 0))
    problem = domain.payout_problem(changed, NOW)
    assert problem == ("The payout wallet address wallet…cdef was changed on 2026-05-16 09:00 UTC: payouts "
                       "to it are held until 2026-05-19 09:00 UTC (cooling-off)")
    assert domain.payout_problem(changed, utc(2026, 5, 19, 9, 0)) is None


def test_payouts_start_when_both_confirmed_and_cooled_off():
    assert domain.payable_from(None) is None
    assert domain.payable_from(account("unconfirmed")) is None
    early = account(set_at=utc(2026, 5, 10, 9, 0), confirmed_at=utc(2026, 5, 10, 10, 0))
    assert domain.payable_from(early) == utc(2026, 5, 13, 9, 0)  # the cooling-off ends later
    late = account(set_at=utc(2026, 5, 10, 9, 0), confirmed_at=utc(2026, 5, 20, 10, 0))
    assert domain.payable_from(late) == utc(2026, 5, 20, 10, 0)


def test_short_addresses_are_shown_whole():
    assert domain.mask_address("w-123456") == "w-123456"
    assert domain.mask_address("0123456789") == "0123456789"
    assert domain.mask_address("0123456789A") == "012345…789A"


def test_emails_are_masked_to_their_first_letter_and_domain():
    assert domain.mask_email("owner@demo.vowrewards.example") == "o***@demo.vowrewards.example"
    assert domain.mask_email("not-an-email") == "***"


# -- verification codes ------------------------------------------------------------------------

def test_codes_are_eight_random_digits_read_in_two_groups():
    codes = {domain.new_verification_code() for _ in range(50)}
    assert len(codes) > 45 and all(len(code) == 8 and code.isdigit() for code in codes)
    assert domain.spoken("12345678") == "1234 5678"
    assert domain.normalise_code("1234 5678") == domain.normalise_code("1234-5678") == "12345678"


def test_a_code_is_kept_only_as_a_hash_that_matches_it_alone():
    code_hash = SHORT_SECRETS.hash("12345678")
    assert "12345678" not in code_hash
    assert SHORT_SECRETS.matches(code_hash, "12345678")
    assert not SHORT_SECRETS.matches(code_hash, "12345679")
    assert not SHORT_SECRETS.matches("not a hash", "12345678")


def verification(expires_at=NOW + timedelta(minutes=5), address="wallet-0123456789abcdef"):
    return {"wallet_address": address, "expires_at": expires_at}


def test_a_code_may_be_tried_while_pending_for_this_address():
    assert domain.verification_refusal(verification(), account("unconfirmed"), NOW) is None


@pytest.mark.parametrize("pending,reason,code", [
    (None, "not_requested", "verification_not_requested"),
    (verification(address="wallet-another-one"), "superseded", "verification_superseded"),
    (verification(expires_at=NOW), "expired", "verification_code_expired"),
])
def test_a_code_that_cannot_be_tried_says_why(pending, reason, code):
    got_reason, error = domain.verification_refusal(pending, account("unconfirmed"), NOW)
    assert (got_reason, error.status, error.code) == (reason, 409, code)


def test_a_wrong_code_says_how_many_tries_are_left_then_that_none_are():
    error = domain.wrong_code(1, 5)
    assert (error.status, error.code, error.fields) == (
        422, "verification_code_wrong", {"code": ["Does not match the code sent (4 left)."]})
    assert domain.wrong_code(4, 5).message == "Wrong code: 1 try left"
    error = domain.wrong_code(5, 5)
    assert (error.status, error.code) == (409, "verification_code_exhausted")


# -- the contract: wallet addresses ---------------------------------------------------------

@pytest.mark.parametrize("address", ["wallet-0123456789\n", "wallet-0123456789\r\n", " wallet-0123456789",
                                     "wallet-0123456789 ", "wallet-０１２３４５６７", "wallet\u200b-0123456789",
                                     "short", "x" * 129])
def test_a_wallet_address_is_refused_rather_than_trimmed(address):
    errors = PayoutAccountSchema().validate({"wallet_address": address})
    assert "wallet_address" in errors


def test_a_plain_wallet_address_is_accepted_as_typed():
    assert PayoutAccountSchema().load({"wallet_address": "bc1:wallet_0123.abc-XYZ"})["wallet_address"] == \
        "bc1:wallet_0123.abc-XYZ"


@pytest.mark.parametrize("data,field", [
    ({"method": "email_code"}, "code"),
    ({"method": "email_code", "code": "1234 5678\n"}, "code"),
    ({"method": "email_code", "code": "12345678", "call_note": {
        "person": "Ann", "phone_number": "+27 21 555 0100", "read_back": "wallet-0123"}}, "call_note"),
    ({"method": "call_note"}, "call_note"),
    ({"method": "call_note", "call_note": {"person": "Ann", "phone_number": "call me",
                                           "read_back": "wallet-0123"}}, "call_note"),
    ({"method": "sms"}, "method"),
])
def test_a_confirmation_carries_the_evidence_its_method_needs(data, field):
    errors = PayoutConfirmationSchema().validate(dict(data, wallet_address="wallet-0123456789"))
    assert field in errors
