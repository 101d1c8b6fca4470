"""Settlement rules without a database: periods, references, double entry, payout readiness."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plumbing.errors import ValidationFailed
from plumbing.hashing import SHORT_SECRETS
from services.redemption.contract.events import VoucherRedeemed
from services.settlement import domain
from services.settlement.contract.schemas import PayoutAccountSchema, PayoutConfirmationSchema
from tests.events import example

NOW = datetime(2026, 5, 17, 14, 30, tzinfo=timezone.utc)
MERCHANT = str(uuid.uuid4())


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
    None, "", "2026", "2026-5", "26-05", "2026-00", "2026-13", "2026/05", "May 2026", "2026-05-1", "2026-W5",
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


# -- periods in the merchant's time zone ---------------------------------------------------------

def test_days_weeks_and_months_end_at_midnight_in_the_merchants_time_zone():
    assert domain.period_bounds("2026-05-04", "Africa/Johannesburg")[1:] == (
        utc(2026, 5, 3, 22, 0), utc(2026, 5, 4, 22, 0))
    frequency, start, end = domain.period_bounds("2026-W19", "UTC")
    assert (frequency, start, end) == ("weekly", utc(2026, 5, 4), utc(2026, 5, 11))  # Monday to Monday
    assert domain.period_bounds("2026-05", "UTC")[0] == "monthly"


def test_a_day_across_a_clock_change_is_still_midnight_to_midnight():
    _, start, end = domain.period_bounds("2026-03-08", "America/New_York")  # 23 hours long
    assert end.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(hours=23)


def test_the_period_running_now_and_when_it_ends():
    now = utc(2026, 5, 17, 23, 30)  # already the 18th in Johannesburg
    assert domain.period_containing("daily", now, "Africa/Johannesburg") == "2026-05-18"
    assert domain.next_period_end("daily", now, "Africa/Johannesburg") == utc(2026, 5, 18, 22, 0)
    assert domain.period_containing("weekly", now, "UTC") == "2026-W20"
    assert domain.next_period_end("monthly", now, "UTC") == utc(2026, 6, 1)


@pytest.mark.parametrize("period", ["2026-W54", "2026-02-30", "2026-13-01", "0000-01-01"])
def test_impossible_days_and_weeks_are_not_periods(period):
    assert refusal(period) == "period_invalid"


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ValidationFailed) as raised:
        domain.zone("Mars/Olympus_Mons")
    assert raised.value.code == "time_zone_invalid"


def test_batches_are_numbered_in_the_month_their_period_starts():
    assert domain.batch_month("2026-W01") == "2025-12"  # 2025-12-29 is that week's Monday
    assert domain.batch_month("2026-05-31") == "2026-05"


# -- who owes whom: postings per funding model ------------------------------------------------------

AGREEMENT = "7d0c2f43-52a5-4c1e-9a3e-1f0b6a8e9c21"
STORE = str(uuid.uuid4())


def redemption(amount, points_value=0, funding="merchant", agreement_id=None, campaign_id=None):
    return example(VoucherRedeemed, merchant_id=MERCHANT, store_id=STORE, amount=amount, points_value=points_value,
                   funding=funding, campaign_id=campaign_id, funding_agreement_id=agreement_id, currency="ZAR")


def test_a_merchant_funded_voucher_is_the_merchants_own_cost_and_nobody_owes_it_anything():
    booking = domain.redemption_booking(redemption(2500))
    assert booking.postings == [("merchant_discount_cost:%s:%s" % (MERCHANT, STORE), 2500),
                                ("merchant_funding:%s" % MERCHANT, -2500)]
    assert (booking.counterparty, booking.funded, booking.fee, booking.payable) == ("merchant", 0, 0, 0)


def test_the_platform_owes_a_platform_funded_voucher_less_its_commission():
    booking = domain.redemption_booking(redemption(2500, 0, "platform", AGREEMENT), {"commission_bp": 250})
    assert booking.postings == [("platform_funding:%s" % AGREEMENT, 2500),
                                (domain.merchant_payable(MERCHANT, STORE), -2437),
                                ("platform_fees:%s" % MERCHANT, -63)]  # 2.5 % of 25.00 = 0.625, half up
    assert (booking.counterparty, booking.funded, booking.fee, booking.payable) == ("platform", 2500, 63, 2437)


def test_a_partner_funded_voucher_is_receivable_from_the_partner():
    booking = domain.redemption_booking(redemption(4000, 0, "partner", AGREEMENT), {"commission_bp": 0})
    assert booking.postings == [("partner_receivable:%s" % AGREEMENT, 4000),
                                (domain.merchant_payable(MERCHANT, STORE), -4000)]
    assert booking.payable == 4000


def test_points_are_the_merchants_own_liability_and_never_paid_out():
    booking = domain.redemption_booking(redemption(2500, 700, "platform", AGREEMENT), {"commission_bp": 1000})
    assert ("points_liability:%s" % MERCHANT, 700) in booking.postings
    assert (booking.amount, booking.funded, booking.fee, booking.payable) == (3200, 2500, 250, 2250)


def test_a_redemption_worth_nothing_posts_nothing():
    assert domain.redemption_postings(redemption(0)) == ([], 0)


@given(amount=st.integers(0, 10 ** 12), points=st.integers(0, 10 ** 9),
       funding=st.sampled_from(["merchant", "platform", "partner"]), bp=st.integers(0, 10000))
def test_every_booking_balances_and_pays_only_what_a_funder_owes(amount, points, funding, bp):
    booking = domain.redemption_booking(redemption(amount, points, funding, AGREEMENT), {"commission_bp": bp})
    assert sum(value for _, value in booking.postings) == 0
    assert all(value != 0 for _, value in booking.postings)  # the ledger refuses zero postings
    owed = -sum(v for a, v in booking.postings if a.startswith("merchant_payable:"))
    assert owed == booking.payable == booking.funded - booking.fee
    assert 0 <= booking.fee <= booking.funded
    assert booking.funded == (0 if funding == "merchant" else amount)
    mirrored = domain.reversal_postings(booking.postings)
    totals = {}
    for account, value in booking.postings + mirrored:
        totals[account] = totals.get(account, 0) + value
    assert set(totals.values()) <= {0}


def test_a_payout_clears_what_each_store_was_owed():
    other = str(uuid.uuid4())
    postings = domain.payout_postings(MERCHANT, [(STORE, 2438), (other, 100), (None, 0)])
    assert postings == [(domain.merchant_payable(MERCHANT, STORE), 2438, STORE),
                        (domain.merchant_payable(MERCHANT, other), 100, other), ("payouts_sent:%s" % MERCHANT, -2538)]


# -- the hash chain and reconciliation ------------------------------------------------------------

def test_each_link_depends_on_the_previous_and_on_every_field():
    entry = {"seq": 1, "merchant_id": MERCHANT, "kind": "redemption", "amount": 2500, "currency": "ZAR",
             "occurred_at": NOW, "payable": 2438}
    first = domain.chain_hash(domain.GENESIS, entry, [("a", 1), ("b", -1)])
    assert first == domain.chain_hash(domain.GENESIS, dict(entry, occurred_at=NOW.astimezone(
        timezone(timedelta(hours=2)))), [("a", 1), ("b", -1)])  # the same moment, written otherwise
    assert first != domain.chain_hash(domain.GENESIS, dict(entry, amount=2501), [("a", 1), ("b", -1)])
    assert first != domain.chain_hash(domain.GENESIS, dict(entry, payable=2500), [("a", 1), ("b", -1)])
    assert first != domain.chain_hash(domain.GENESIS, entry, [("a", 2), ("b", -2)])
    assert first != domain.chain_hash("1" * 64, entry, [("a", 1), ("b", -1)])


def test_reconciliation_names_each_store_and_currency_that_differs():
    store = str(uuid.uuid4())
    expected = [{"store_id": store, "currency": "ZAR", "redemptions": 3, "redeemed_amount": 7500, "reversals": 1,
                 "reversed_amount": 2500}]
    assert domain.reconcile(expected, [dict(expected[0], store_id=uuid.UUID(store), currency="ZAR")]) == []
    [difference] = domain.reconcile(expected, [dict(expected[0], redemptions=2, redeemed_amount=5000)])
    assert difference["store_id"] == store and difference["expected"]["redemptions"] == 3
    assert difference["actual"]["redeemed_amount"] == 5000
    [missing] = domain.reconcile([], expected)  # the ledger has what redemption never recorded
    assert missing["expected"]["redemptions"] == 0 and missing["actual"]["redemptions"] == 3


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
