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


# -- the campaign lifecycle, budget and forecast -------------------------------------------------
def campaign(**fields):
    row = {"id": "c1", "merchant_id": MERCHANT, "status": "draft", "currency": "ZAR", "budget": 1000,
           "time_zone": "UTC", "weekdays": None, "hours_from": None, "hours_until": None, "store_ids": None,
           "max_vouchers": None, "committed": 0, "issued_count": 0, "spent": 0, "per_customer_limit": None,
           "valid_from": NOW - timedelta(days=10), "valid_until": None, "pause_reason": None}
    row.update(fields)
    return row


@pytest.mark.parametrize("status,action,after", [
    ("draft", "activate", "active"), ("paused", "activate", "active"), ("active", "pause", "paused"),
    ("scheduled", "pause", "paused"), ("draft", "end", "ended"), ("active", "end", "ended"),
    ("paused", "end", "ended"), ("scheduled", "end", "ended")])
def test_allowed_transitions(status, action, after):
    assert domain.campaign_after(campaign(status=status), action, NOW) == after


@pytest.mark.parametrize("status,action", [
    ("active", "activate"), ("scheduled", "activate"), ("ended", "activate"), ("draft", "pause"),
    ("paused", "pause"), ("ended", "pause"), ("ended", "end")])
def test_refused_transitions_name_the_state(status, action):
    with pytest.raises(Conflict) as raised:
        domain.campaign_after(campaign(status=status), action, NOW)
    assert raised.value.code == "campaign_%s" % status and status in raised.value.message


def test_activation_schedules_a_future_start_and_refuses_a_closed_window_or_spent_budget():
    assert domain.campaign_after(campaign(valid_from=NOW + timedelta(hours=1)), "activate", NOW) == "scheduled"
    assert code_of(Conflict, domain.campaign_after, campaign(valid_until=NOW), "activate", NOW) \
        == "campaign_window_over"
    assert code_of(Conflict, domain.campaign_after, campaign(status="paused", spent=1000), "activate", NOW) \
        == "campaign_budget_exhausted"


def test_an_issue_commits_its_most_against_the_budget_and_count():
    active = campaign(status="active", committed=600, max_vouchers=3, issued_count=1)
    assert domain.check_campaign_issue(active, 400, 1, "ZAR", NOW) == 400
    assert code_of(Conflict, domain.check_campaign_issue, active, 401, 1, "ZAR", NOW) \
        == "campaign_budget_exceeded"
    assert code_of(Conflict, domain.check_campaign_issue, dict(active, budget=None), 1, 3, "ZAR", NOW) \
        == "campaign_voucher_limit_reached"
    assert code_of(ValidationFailed, domain.check_campaign_issue, active, None, 1, "ZAR", NOW) \
        == "percentage_cap_required"
    assert domain.check_campaign_issue(dict(active, budget=None), None, 2, "ZAR", NOW) == 0
    assert code_of(Conflict, domain.check_campaign_issue, campaign(), 1, 1, "ZAR", NOW) == "campaign_not_active"
    assert code_of(ValidationFailed, domain.check_campaign_issue, active, 1, 1, "USD", NOW) == "currency_mismatch"
    assert code_of(Conflict, domain.check_per_customer, campaign(per_customer_limit=2), 2, 1) \
        == "per_customer_limit_reached"
    domain.check_per_customer(campaign(per_customer_limit=2), 1, 1)


def test_a_spent_budget_pauses_the_campaign_with_the_reason():
    assert domain.campaign_status_after_spend(campaign(status="active"), 999) == ("active", None)
    assert domain.campaign_status_after_spend(campaign(status="active"), 1000) == ("paused", "budget_exhausted")
    assert domain.campaign_status_after_spend(campaign(status="active", budget=None), 10 ** 9) == ("active", None)


def test_the_forecast_runs_out_at_the_recent_pace():
    day = NOW.date()
    spends = {day - timedelta(days=d): 100 for d in range(7)}  # 100 a day for the last 7 days
    result = domain.forecast(campaign(status="active", spent=700, committed=900), spends, NOW)
    assert (result["pace_per_day"], result["pace_window_days"], result["remaining"]) == (100, 7, 300)
    assert result["exhausted_at"] == NOW + timedelta(days=3)
    young = domain.forecast(campaign(spent=200, valid_from=NOW - timedelta(days=1)), {day: 200}, NOW)
    assert (young["pace_window_days"], young["pace_per_day"], young["exhausted_at"]) == (2, 100, NOW + timedelta(days=8))
    assert domain.forecast(campaign(), {}, NOW)["exhausted_at"] is None
    assert domain.forecast(campaign(spent=1000), {}, NOW)["exhausted_at"] == NOW
    assert domain.forecast(campaign(budget=None), spends, NOW)["remaining"] is None
    # the database's SUM gives Decimal: the forecast still answers (it was a 500)
    from decimal import Decimal
    decimals = {d: Decimal(v) for d, v in spends.items()}
    assert domain.forecast(campaign(status="active", spent=700), decimals, NOW)["exhausted_at"] == NOW + timedelta(days=3)


# -- tiers, earning, the window a purchase falls in; the budget as a property --------------------------
from hypothesis import given, strategies as st  # noqa: E402


def test_tiers_follow_the_rolling_spend():
    assert [domain.tier_for(s) for s in (0, 99_999, 100_000, 499_999, 500_000, 2_000_000, 10 ** 9)] == [
        "member", "member", "silver", "silver", "gold", "platinum", "platinum"]


def test_points_per_unit_with_the_campaigns_and_the_tiers_multipliers():
    reward = {"points_per_unit": 3, "multiplier_pct": 200}
    assert domain.points_for(12_345, reward, "member") == 123 * 3 * 2
    assert domain.points_for(12_345, reward, "gold") == 123 * 3 * 2 * 125 // 100
    assert domain.points_for(99, reward, "platinum") == 0  # less than a whole unit earns nothing


def test_a_purchase_counts_for_a_campaign_only_within_its_window_days_hours_and_stores():
    running = campaign(status="active", time_zone="Africa/Johannesburg", weekdays=[0], hours_from="13:00",
                       hours_until="15:00", store_ids=["s1"])  # NOW is Monday 14:00 in Johannesburg
    assert domain.runs_now(running, NOW, "s1")
    assert not domain.runs_now(running, NOW, "s2")
    assert not domain.runs_now(dict(running, weekdays=[1]), NOW, "s1")
    assert not domain.runs_now(dict(running, hours_from="15:00", hours_until="13:00"), NOW, "s1")
    assert not domain.runs_now(dict(running, status="paused"), NOW, "s1")
    assert not domain.runs_now(dict(running, valid_until=NOW), NOW, "s1")


def test_a_replayed_receipt_must_be_the_same_purchase():
    domain.check_purchase_replay({"receipt_id": "R-1", "request_hash": "h"}, "h")
    with pytest.raises(Conflict) as raised:
        domain.check_purchase_replay({"receipt_id": "R-1", "request_hash": "h"}, "other")
    assert raised.value.code == "receipt_conflict"


ISSUES = st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 3000)), st.integers(1, 5)), max_size=40)


@given(budget=st.one_of(st.none(), st.integers(1, 20_000)), max_vouchers=st.one_of(st.none(), st.integers(1, 30)),
       issues=ISSUES)
def test_issues_one_after_another_never_commit_past_the_budget_or_count(budget, max_vouchers, issues):
    """What the campaign's row lock makes of concurrent issues: each sees the ones before it."""
    state = campaign(status="active", budget=budget, max_vouchers=max_vouchers)
    for value, count in issues:
        try:
            total = domain.check_campaign_issue(state, value, count, "ZAR", NOW)
        except (Conflict, ValidationFailed) as refused:
            assert refused.code in ("campaign_budget_exceeded", "campaign_voucher_limit_reached",
                                    "percentage_cap_required")
            continue
        assert total == (value or 0) * count
        state = dict(state, committed=state["committed"] + total, issued_count=state["issued_count"] + count)
        assert budget is None or state["committed"] <= budget
        assert max_vouchers is None or state["issued_count"] <= max_vouchers
