"""The campaign service's pure rules: who funds a campaign, what a voucher can cost its funder,
what an agreement still allows, approvals above the ceiling, and manual points."""
from datetime import datetime, timedelta, timezone

import pytest

from plumbing.errors import Conflict, Forbidden, ValidationFailed
from services.campaign import domain

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
MERCHANT = "0b6f1c9e-6a0e-4c8f-9d3b-6a1f1d7e2c10"


def agreement(**fields):
    row = {"id": "a1", "merchant_id": MERCHANT, "funder_kind": "platform", "funder_name": None,
           "currency": "ZAR", "budget": 10000, "committed": 0, "max_voucher_value": 4000, "status": "active",
           "valid_from": NOW - timedelta(days=1), "valid_until": None}
    row.update(fields)
    return row


def approval(**fields):
    row = {"id": "p1", "merchant_id": MERCHANT, "currency": "ZAR", "value": 8000, "count": 2, "remaining": 2,
           "status": "approved"}
    row.update(fields)
    return row


def code_of(error_type, fn, *args):
    with pytest.raises(error_type) as raised:
        fn(*args)
    return raised.value.code


# -- campaigns -------------------------------------------------------------------------------------
@pytest.mark.parametrize("requested", ["platform", "partner"])
def test_platform_or_partner_funding_without_an_agreement_is_refused(requested):
    assert code_of(Forbidden, domain.campaign_funding, requested, None) == "funding_agreement_required"


def test_merchant_funding_needs_no_agreement_and_an_agreement_decides_the_funder():
    assert domain.campaign_funding(None, None) == ("merchant", None)
    assert domain.campaign_funding("merchant", None) == ("merchant", None)
    partner = agreement(funder_kind="partner", funder_name="Acme")
    assert domain.campaign_funding(None, partner) == ("partner", "Acme")
    assert domain.campaign_funding("partner", partner) == ("partner", "Acme")
    assert code_of(ValidationFailed, domain.campaign_funding, "platform", partner) == "funding_mismatch"
    assert code_of(ValidationFailed, domain.campaign_funding, "merchant", partner) == "funding_mismatch"


# -- what a voucher can cost -----------------------------------------------------------------------
@pytest.mark.parametrize("kind,value,cap,uses,expected", [
    ("stored_value", 5000, None, 1, 5000),
    ("stored_value", 5000, None, 50, 5000),      # many uses of one balance
    ("discount_fixed", 1000, None, 1, 1000),
    ("discount_fixed", 1000, None, 3, 3000),     # each use gives the face value
    ("discount_percent", None, 2000, 2, 4000),   # each use gives at most the cap
    ("discount_percent", None, None, 1, None),   # uncapped: no bound at all
])
def test_a_voucher_is_worth_the_most_it_can_ever_give(kind, value, cap, uses, expected):
    assert domain.voucher_value(kind, value, cap, uses) == expected


# -- agreements --------------------------------------------------------------------------------------
def test_a_commitment_within_the_budget_is_value_times_count():
    assert domain.check_commitment(agreement(), 4000, 2, "ZAR", NOW) == 8000
    assert domain.check_commitment(agreement(committed=6000), 4000, 1, "ZAR", NOW) == 4000  # exactly what is left


@pytest.mark.parametrize("row,value,count,currency,error_type,code", [
    (agreement(committed=6001), 4000, 1, "ZAR", Conflict, "agreement_budget_exceeded"),
    (agreement(), 1000, 11, "ZAR", Conflict, "agreement_budget_exceeded"),
    (agreement(), 4001, 1, "ZAR", ValidationFailed, "voucher_value_above_agreement_max"),
    (agreement(), None, 1, "ZAR", ValidationFailed, "percentage_cap_required"),
    (agreement(), 1000, 1, "USD", ValidationFailed, "currency_mismatch"),
    (agreement(status="suspended"), 1000, 1, "ZAR", Conflict, "agreement_not_active"),
    (agreement(status="ended"), 1000, 1, "ZAR", Conflict, "agreement_not_active"),
    (agreement(valid_from=NOW + timedelta(hours=1)), 1000, 1, "ZAR", Conflict, "agreement_not_in_force"),
    (agreement(valid_until=NOW), 1000, 1, "ZAR", Conflict, "agreement_not_in_force"),
])
def test_a_commitment_the_agreement_does_not_allow_is_refused(row, value, count, currency, error_type, code):
    assert code_of(error_type, domain.check_commitment, row, value, count, currency, NOW) == code


@pytest.mark.parametrize("status,action,after", [
    ("active", "suspend", "suspended"), ("suspended", "resume", "active"),
    ("active", "end", "ended"), ("suspended", "end", "ended"),
])
def test_agreement_status_changes(status, action, after):
    assert domain.agreement_after(status, action) == after


@pytest.mark.parametrize("status,action", [
    ("active", "resume"), ("suspended", "suspend"), ("ended", "resume"), ("ended", "suspend"), ("ended", "end")])
def test_agreement_status_changes_that_make_no_sense_are_refused(status, action):
    assert code_of(Conflict, domain.agreement_after, status, action) == "agreement_%s" % status


@pytest.mark.parametrize("unused,committed,released,expected", [
    (3000, (4000, 4000), 0, 3000),       # a voucher's unused value
    (10 ** 9, (4000, 12000), 0, 4000),   # never more than one voucher of the issue could give
    (4000, (4000, 12000), 10000, 2000),  # never more, in all, than the issue committed
    (None, (4000, 4000), 0, 0),
    (-5, (4000, 4000), 0, 0),
])
def test_what_a_cancelled_or_expired_voucher_gives_back(unused, committed, released, expected):
    value, total = committed
    commitment = {"voucher_value": value, "total": total, "released": released}
    assert domain.releasable(unused, commitment) == expected


# -- the ceiling and approvals ----------------------------------------------------------------------
def test_only_vouchers_above_the_ceiling_need_approval():
    assert not domain.needs_approval(500000, 500000)
    assert domain.needs_approval(500001, 500000)
    assert not domain.needs_approval(None, 0)  # uncapped percentages are bounded by no value (merchant money)


def test_an_approval_that_covers_the_issue_is_used_up_by_its_count():
    domain.check_approval(approval(), MERCHANT, 8000, 2, "ZAR", 5000)
    assert domain.approval_after_use(approval(), 1) == (1, "approved")
    assert domain.approval_after_use(approval(), 2) == (0, "used")


@pytest.mark.parametrize("row,value,count,currency,error_type,code", [
    (None, 8000, 1, "ZAR", Forbidden, "platform_approval_required"),
    (approval(merchant_id="another"), 8000, 1, "ZAR", Forbidden, "platform_approval_required"),
    (approval(status="pending"), 8000, 1, "ZAR", Forbidden, "approval_pending"),
    (approval(status="rejected"), 8000, 1, "ZAR", Forbidden, "approval_rejected"),
    (approval(status="used", remaining=0), 8000, 1, "ZAR", Conflict, "approval_used_up"),
    (approval(remaining=1), 8000, 2, "ZAR", Conflict, "approval_used_up"),
    (approval(), 8001, 1, "ZAR", Forbidden, "approval_value_exceeded"),
    (approval(), 8000, 1, "USD", ValidationFailed, "currency_mismatch"),
])
def test_an_approval_that_does_not_cover_the_issue_is_refused(row, value, count, currency, error_type, code):
    assert code_of(error_type, domain.check_approval, row, MERCHANT, value, count, currency, 5000) == code


def test_an_approval_is_decided_once():
    domain.check_decision(approval(status="pending"))
    for status in ("approved", "rejected", "used"):
        assert code_of(Conflict, domain.check_decision, approval(status=status)) == "approval_already_decided"


# -- manual points ----------------------------------------------------------------------------------
def test_a_debit_never_takes_points_that_are_not_there_or_are_reserved():
    account = {"balance": 1000, "reserved": 300}
    domain.check_adjustment(account, -700)
    domain.check_adjustment(account, 10 ** 9)  # credits are bounded by the daily limit, not here
    assert code_of(Conflict, domain.check_adjustment, account, -701) == "insufficient_points"


def test_manual_credits_stay_within_the_daily_limit():
    domain.check_daily_credit(0, 1000, 1000)
    domain.check_daily_credit(900, 100, 1000)
    domain.check_daily_credit(1000, -500, 1000)  # debits are not credits
    assert code_of(Conflict, domain.check_daily_credit, 900, 101, 1000) == "points_daily_limit_exceeded"
    assert code_of(Conflict, domain.check_daily_credit, 0, 10 ** 9, 100000) == "points_daily_limit_exceeded"
