"""Voucher rules, without a database: what a voucher can give, what a redemption or a
reversal does to it, and when failed attempts throttle and lock."""
from datetime import datetime, timedelta, timezone

import pytest

from plumbing.errors import Conflict, Forbidden, Locked, TooManyRequests, ValidationFailed
from services.redemption import domain

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
STORE = "6f1c2f8e-2f7a-4a8e-9d59-3e6a4a1b2c3d"
OTHER_STORE = "0b5d7e1a-9c3f-4f6a-8a2b-1c4d5e6f7a8b"


def voucher(**fields):
    base = {"kind": domain.DISCOUNT_FIXED, "face_value": 1000, "balance": None, "percent_bp": None, "cap": None,
            "min_purchase": None, "hybrid": False, "point_value": 1, "uses_allowed": 1, "uses": 0,
            "valid_from": NOW - timedelta(days=1), "valid_until": None, "status": domain.ACTIVE,
            "store_ids": None, "locked_until": None}
    base.update(fields)
    if base["kind"] == domain.STORED_VALUE and base["balance"] is None:
        base["balance"] = base["face_value"]
    return base


def refusal(exc_type, fn, *args, **kwargs):
    with pytest.raises(exc_type) as raised:
        fn(*args, **kwargs)
    return raised.value.code


def test_a_fixed_discount_is_used_whole_and_then_redeemed():
    plan = domain.plan_redemption(voucher(), NOW, STORE)
    assert (plan.amount, plan.uses, plan.status) == (1000, 1, domain.REDEEMED)
    used = voucher(uses=1, status=domain.REDEEMED)
    assert refusal(Conflict, domain.plan_redemption, used, NOW, STORE) == "voucher_already_redeemed"
    assert refusal(ValidationFailed, domain.plan_redemption, voucher(), NOW, STORE, amount=400) \
        == "partial_not_allowed"


def test_a_fixed_discount_never_exceeds_the_purchase():
    assert domain.plan_redemption(voucher(), NOW, STORE, purchase_amount=600).amount == 600


def test_a_percentage_needs_the_purchase_and_respects_its_cap():
    pct = voucher(kind=domain.DISCOUNT_PERCENT, face_value=None, percent_bp=1250, cap=500)
    assert refusal(ValidationFailed, domain.plan_redemption, pct, NOW, STORE) == "purchase_amount_required"
    assert domain.plan_redemption(pct, NOW, STORE, purchase_amount=2000).amount == 250  # 12.5%
    assert domain.plan_redemption(pct, NOW, STORE, purchase_amount=99999).amount == 500  # capped
    assert domain.discount_for(pct, 7) == 0  # floors: never more than the percentage


def test_stored_value_takes_what_is_asked_never_more_than_the_balance():
    card = voucher(kind=domain.STORED_VALUE, face_value=5000)
    plan = domain.plan_redemption(card, NOW, STORE, amount=1200)
    assert (plan.amount, plan.balance, plan.status) == (1200, 3800, domain.PARTIALLY_REDEEMED)
    assert refusal(Conflict, domain.plan_redemption, card, NOW, STORE, amount=5001) == "insufficient_balance"
    rest = domain.plan_redemption(card, NOW, STORE)
    assert (rest.amount, rest.balance, rest.status) == (5000, 0, domain.REDEEMED)
    capped = domain.plan_redemption(card, NOW, STORE, purchase_amount=1800)
    assert capped.amount == 1800  # no amount given: the purchase, up to the balance


def test_hybrid_points_pay_part_of_the_purchase():
    card = voucher(kind=domain.STORED_VALUE, face_value=3000, hybrid=True, point_value=2)
    plan = domain.plan_redemption(card, NOW, STORE, purchase_amount=5000, points=400)
    assert (plan.amount, plan.points, plan.points_value) == (3000, 400, 800)
    # no amount given: the voucher pays what the points leave of the purchase
    assert domain.plan_redemption(card, NOW, STORE, purchase_amount=3500, points=400).amount == 2700
    plain = voucher(kind=domain.STORED_VALUE, face_value=3000)
    assert refusal(ValidationFailed, domain.plan_redemption, plain, NOW, STORE, points=10) == "points_not_allowed"


def test_voucher_and_points_together_may_not_pay_more_than_the_purchase():
    card = voucher(kind=domain.STORED_VALUE, face_value=3000, hybrid=True)
    assert refusal(ValidationFailed, domain.plan_redemption, card, NOW, STORE, amount=3000,
                   purchase_amount=3100, points=200) == "exceeds_purchase"


@pytest.mark.parametrize("fields, error, code", [
    ({"status": domain.CANCELLED}, Conflict, "voucher_cancelled"),
    ({"valid_until": NOW - timedelta(seconds=1)}, Conflict, "voucher_expired"),
    ({"valid_from": NOW + timedelta(hours=1)}, Conflict, "voucher_not_yet_valid"),
    ({"store_ids": [OTHER_STORE]}, Forbidden, "wrong_store"),
    ({"locked_until": NOW + timedelta(minutes=5)}, Locked, "voucher_locked"),
    ({"min_purchase": 5000}, Conflict, "purchase_too_small"),
])
def test_each_refusal_says_precisely_why(fields, error, code):
    assert refusal(error, domain.plan_redemption, voucher(**fields), NOW, STORE, purchase_amount=1000) == code


def test_the_status_a_user_sees():
    assert domain.effective_status(voucher(valid_until=NOW), NOW) == domain.EXPIRED
    assert domain.effective_status(voucher(valid_until=NOW, status=domain.REDEEMED), NOW) == domain.REDEEMED
    assert domain.effective_status(voucher(valid_until=NOW + timedelta(days=1)), NOW) == domain.ACTIVE


def test_what_a_voucher_has_left_for_its_funder_to_take_back():
    assert domain.unused_value(voucher(kind=domain.STORED_VALUE, face_value=5000, balance=1200)) == 1200
    assert domain.unused_value(voucher(uses_allowed=3, uses=1)) == 2000  # two uses of 1000 left
    assert domain.unused_value(voucher(uses_allowed=3, uses=3)) == 0
    capped = voucher(kind=domain.DISCOUNT_PERCENT, face_value=None, percent_bp=1500, cap=800, uses_allowed=2)
    assert domain.unused_value(capped) == 1600
    assert domain.unused_value(dict(capped, cap=None)) is None


def test_reversal_gives_back_the_value_or_the_use():
    card = voucher(kind=domain.STORED_VALUE, face_value=5000, balance=1000, uses=2, status=domain.PARTIALLY_REDEEMED)
    redemption = {"status": "completed", "created_at": NOW - timedelta(hours=1), "amount": 4000, "points": 0,
                  "points_value": 0}
    plan = domain.plan_reversal(redemption, card, NOW, timedelta(hours=72))
    assert (plan.balance, plan.uses, plan.status) == (5000, 1, domain.PARTIALLY_REDEEMED)
    single = voucher(uses=1, status=domain.REDEEMED)
    plan = domain.plan_reversal(dict(redemption, amount=1000), single, NOW, timedelta(hours=72))
    assert (plan.uses, plan.status) == (0, domain.ACTIVE)


def test_reversal_refusals():
    redemption = {"status": "completed", "created_at": NOW - timedelta(hours=73), "amount": 1000,
                  "points": 0, "points_value": 0}
    assert refusal(Conflict, domain.plan_reversal, redemption, voucher(uses=1), NOW, timedelta(hours=72)) \
        == "reversal_window_passed"
    assert refusal(Conflict, domain.plan_reversal, dict(redemption, status="reversed"), voucher(uses=1), NOW,
                   timedelta(hours=72)) == "already_reversed"


def counter(scope, failures, last=NOW, locked_until=None, window_start=None):
    return {"scope": scope, "failures": failures, "last_failure_at": last, "locked_until": locked_until,
            "window_start": window_start or NOW - timedelta(minutes=1)}


def test_failures_throttle_with_growing_waits_then_lock():
    policy = domain.ATTEMPT_POLICIES["user"]
    domain.check_attempts_allowed([counter("user", policy.throttle_after - 1)], NOW)  # still free
    assert refusal(TooManyRequests, domain.check_attempts_allowed,
                   [counter("user", policy.throttle_after)], NOW) == "too_many_attempts"
    domain.check_attempts_allowed([counter("user", policy.throttle_after, last=NOW - timedelta(seconds=2))], NOW)
    waits = []
    for failures in range(policy.throttle_after, policy.lock_after):
        with pytest.raises(TooManyRequests) as raised:
            domain.check_attempts_allowed([counter("user", failures)], NOW)
        waits.append(int(raised.value.fields["retry_after"][0]))
    assert waits == sorted(waits) and waits[-1] > waits[0]
    assert refusal(Locked, domain.check_attempts_allowed,
                   [counter("store", 1, locked_until=NOW + timedelta(minutes=3))], NOW) == "store_locked"


def test_a_failure_counts_within_the_window_and_locks_once():
    policy = domain.ATTEMPT_POLICIES["voucher"]
    row = None
    locks = 0
    for _ in range(policy.lock_after + 2):
        failures, window_start, locked_until, newly = domain.after_failure(row, "voucher", NOW)
        locks += newly
        row = {"failures": failures, "window_start": window_start, "locked_until": locked_until}
    assert locks == 1 and row["locked_until"] == NOW + policy.lock_for
    stale = dict(row, window_start=NOW - domain.ATTEMPT_WINDOW - timedelta(seconds=1), locked_until=None)
    assert domain.after_failure(stale, "voucher", NOW)[0] == 1  # an old window starts again


# -- the campaign's rules, as the till checks them from its own copy ------------------------------
from datetime import datetime as _dt, timezone as _tz  # noqa: E402

from plumbing.errors import Conflict as _Conflict, Forbidden as _Forbidden  # noqa: E402
from services.redemption.domain import check_campaign, in_hours  # noqa: E402

MONDAY_NOON_UTC = _dt(2026, 6, 1, 12, 0, tzinfo=_tz.utc)  # 14:00 in Johannesburg, a Monday


def rules(**fields):
    row = {"status": "active", "pause_reason": None, "valid_from": "2026-05-01T00:00:00+00:00",
           "valid_until": None, "time_zone": "Africa/Johannesburg", "weekdays": None, "hours_from": None,
           "hours_until": None, "store_ids": None}
    row.update(fields)
    return row


@pytest.mark.parametrize("fields,code", [
    ({"status": "paused"}, "campaign_paused"),
    ({"status": "paused", "pause_reason": "budget_exhausted"}, "campaign_exhausted"),
    ({"status": "ended"}, "campaign_ended"),
    ({"valid_until": "2026-06-01T11:59:00+00:00"}, "campaign_ended"),
    ({"status": "scheduled"}, "campaign_not_started"),
    ({"valid_from": "2026-06-02T00:00:00+00:00"}, "campaign_not_started"),
    ({"weekdays": [1, 2, 3, 4, 5]}, "campaign_outside_days"),
    ({"hours_from": "08:00", "hours_until": "13:59"}, "campaign_outside_hours"),  # it is 14:00 there
    ({"hours_from": "14:01", "hours_until": "02:00"}, "campaign_outside_hours"),
])
def test_the_campaign_refuses_with_its_reason(fields, code):
    with pytest.raises(_Conflict) as raised:
        check_campaign(rules(**fields), MONDAY_NOON_UTC, "s1")
    assert raised.value.code == code


def test_the_campaign_allows_within_its_window_and_stores():
    check_campaign(rules(weekdays=[0], hours_from="14:00", hours_until="15:00", store_ids=["s1"]),
                   MONDAY_NOON_UTC, "s1")
    check_campaign(rules(hours_from="22:00", hours_until="14:30"), MONDAY_NOON_UTC, "s1")  # across midnight
    check_campaign(None, MONDAY_NOON_UTC, "s1")
    with pytest.raises(_Forbidden) as raised:
        check_campaign(rules(store_ids=["s2"]), MONDAY_NOON_UTC, "s1")
    assert raised.value.code == "campaign_wrong_store"
    # in UTC it is still Monday noon; in Kiritimati (UTC+14) it is Tuesday 02:00
    with pytest.raises(_Conflict):
        check_campaign(rules(time_zone="Pacific/Kiritimati", weekdays=[0]), MONDAY_NOON_UTC, "s1")
    assert in_hours(_dt(2026, 1, 1, 23, 30).time(), "22:00", "02:00")
