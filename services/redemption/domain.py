"""Voucher rules: what a voucher may still give, and what one redemption does to it.

Pure functions over plain dicts (rows of the ``vouchers`` table); no database
and no framework, so every rule is unit-tested on its own. The service locks
the voucher row, asks ``plan_redemption`` what to do, and writes the result.
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from plumbing.errors import Conflict, Forbidden, Locked, TooManyRequests, ValidationFailed
from services.redemption.contract.enums import (ACTIVE, CANCELLED, DISCOUNT_FIXED, DISCOUNT_PERCENT, EXPIRED,
                                                PARTIALLY_REDEEMED, REDEEMED, REVERSED, STORED_VALUE)


def effective_status(voucher, now):
    """The status a user should see now: an unused voucher past its end is expired."""
    status = voucher["status"]
    if status in (ACTIVE, PARTIALLY_REDEEMED) and voucher.get("valid_until") \
            and now >= voucher["valid_until"]:
        return EXPIRED
    return status


def remaining_value(voucher):
    """What the voucher can still take off a bill (minor units), before any purchase cap."""
    if voucher["kind"] == STORED_VALUE:
        return voucher["balance"]
    if voucher["uses"] >= voucher["uses_allowed"]:
        return 0
    if voucher["kind"] == DISCOUNT_FIXED:
        return voucher["face_value"]
    return voucher.get("cap")  # percentage: at most the cap (None: uncapped)


def unused_value(voucher):
    """What the voucher could still give over all its remaining uses (None: an uncapped percentage)."""
    if voucher["kind"] == STORED_VALUE:
        return voucher["balance"]
    per_use = voucher["face_value"] if voucher["kind"] == DISCOUNT_FIXED else voucher.get("cap")
    if per_use is None:
        return None
    return per_use * max(voucher["uses_allowed"] - voucher["uses"], 0)


def discount_for(voucher, purchase_amount):
    """The discount a percentage or fixed voucher gives on a purchase of this size."""
    if voucher["kind"] == DISCOUNT_PERCENT:
        amount = purchase_amount * voucher["percent_bp"] // 10000
        cap = voucher.get("cap")
        return min(amount, cap) if cap is not None else amount
    return min(voucher["face_value"], purchase_amount)


def check_usable(voucher, now, store_id=None):
    """Raise the precise reason a voucher cannot be used at this store now."""
    if voucher.get("locked_until") and voucher["locked_until"] > now:
        raise Locked("This voucher is locked after too many failed attempts; try again later",
                     code="voucher_locked")
    status = effective_status(voucher, now)
    if status == CANCELLED:
        raise Conflict("This voucher was cancelled", code="voucher_cancelled")
    if status == EXPIRED:
        raise Conflict("This voucher expired on %s" % voucher["valid_until"].date(),
                                code="voucher_expired")
    if status == REDEEMED or remaining_value(voucher) == 0:
        raise Conflict("This voucher has already been redeemed",
                                code="voucher_already_redeemed")
    if voucher["valid_from"] > now:
        raise Conflict("This voucher is valid from %s" % voucher["valid_from"].date(),
                                code="voucher_not_yet_valid")
    store_ids = voucher.get("store_ids")
    if store_id and store_ids and store_id not in [str(s) for s in store_ids]:
        raise Forbidden("This voucher cannot be redeemed at this store", code="wrong_store")
    check_campaign(voucher.get("campaign_rules"), now, store_id)


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _moment(value):
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def check_campaign(rules, now, store_id=None):
    """Raise why the voucher's campaign does not allow a redemption now (paused, spent, ended, not
    started, outside its days or hours in the merchant's time zone, another store); ``rules`` is
    this service's copy of the campaign (None: a voucher of no campaign, or one from before copies)."""
    if not rules:
        return
    status = rules["status"]
    if status == "paused":
        if rules.get("pause_reason") == "budget_exhausted":
            raise Conflict("This voucher's campaign has spent its budget", code="campaign_exhausted")
        raise Conflict("This voucher's campaign is paused", code="campaign_paused")
    valid_from, valid_until = _moment(rules["valid_from"]), _moment(rules.get("valid_until"))
    if status == "ended" or (valid_until is not None and now >= valid_until):
        raise Conflict("This voucher's campaign has ended", code="campaign_ended")
    if status in ("draft", "scheduled") or now < valid_from:
        raise Conflict("This voucher's campaign has not started (from %s)" % valid_from.date(),
                       code="campaign_not_started")
    local = now.astimezone(ZoneInfo(rules.get("time_zone") or "UTC"))
    weekdays = rules.get("weekdays")
    if weekdays and local.weekday() not in weekdays:
        raise Conflict("This voucher's campaign runs on %s only (today is %s, %s)" % (
            ", ".join(WEEKDAYS[d] for d in sorted(weekdays)), WEEKDAYS[local.weekday()], rules["time_zone"]),
            code="campaign_outside_days")
    if rules.get("hours_from") and not in_hours(local.time(), rules["hours_from"], rules["hours_until"]):
        raise Conflict("This voucher's campaign runs from %s to %s (%s); it is %s there now" % (
            rules["hours_from"], rules["hours_until"], rules["time_zone"], local.strftime("%H:%M")),
            code="campaign_outside_hours")
    stores = rules.get("store_ids")
    if store_id and stores and str(store_id) not in [str(s) for s in stores]:
        raise Forbidden("This voucher's campaign does not run at this store", code="campaign_wrong_store")


def in_hours(moment, start, end):
    """Whether a local time of day is within [start, end); an end before the start spans midnight."""
    start, end = time.fromisoformat(start), time.fromisoformat(end)
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


@dataclass(frozen=True)
class Plan:
    amount: int            # voucher value applied, minor units
    points: int            # points spent (hybrid)
    points_value: int      # what those points are worth, minor units
    balance: int           # stored value left afterwards (None for discounts)
    uses: int
    status: str


def plan_redemption(voucher, now, store_id=None, amount=None, purchase_amount=None, points=0):
    """What one redemption takes from this voucher, or the precise reason it cannot.

    * stored value: ``amount`` (default: everything left, capped by the purchase)
      comes off the balance; more than the balance is refused, never clipped.
    * fixed discount: the face value, capped by the purchase amount if given.
    * percentage: needs the purchase amount; the discount is capped.
    * hybrid: ``points`` pay part of the purchase at the voucher's point value.
    """
    check_usable(voucher, now, store_id)
    points = points or 0
    if points and not voucher.get("hybrid"):
        raise ValidationFailed("This voucher cannot be combined with points",
                               code="points_not_allowed", fields={"points": ["Not allowed here."]})
    points_value = points * voucher.get("point_value", 1)
    min_purchase = voucher.get("min_purchase")
    if min_purchase and (purchase_amount is None or purchase_amount < min_purchase):
        raise Conflict("This voucher needs a purchase of at least %d" % min_purchase,
                                code="purchase_too_small")

    if voucher["kind"] == STORED_VALUE:
        balance = voucher["balance"]
        if amount is None:
            amount = balance if purchase_amount is None else min(balance, max(purchase_amount - points_value, 0))
        if amount > balance:
            raise Conflict(
                "The voucher has only %d left; %d was asked" % (balance, amount),
                code="insufficient_balance")
        new_balance = balance - amount
        uses = voucher["uses"] + 1
        status = REDEEMED if new_balance == 0 else PARTIALLY_REDEEMED
    else:
        if voucher["kind"] == DISCOUNT_PERCENT and purchase_amount is None:
            raise ValidationFailed("A percentage voucher needs the purchase amount",
                                   code="purchase_amount_required",
                                   fields={"purchase_amount": ["Required for this voucher."]})
        full = discount_for(voucher, purchase_amount) if purchase_amount is not None \
            else voucher["face_value"]
        if amount is not None and amount != full:
            raise ValidationFailed("This voucher is used whole: it gives %d" % full,
                                   code="partial_not_allowed",
                                   fields={"amount": ["This voucher is used whole."]})
        amount = full
        new_balance = None
        uses = voucher["uses"] + 1
        status = REDEEMED if uses >= voucher["uses_allowed"] else PARTIALLY_REDEEMED

    if purchase_amount is not None and amount + points_value > purchase_amount:
        raise ValidationFailed("Voucher and points would pay more than the purchase",
                               code="exceeds_purchase",
                               fields={"points": ["Together with the voucher this exceeds the purchase."]})
    if amount == 0 and points == 0:
        raise ValidationFailed("Nothing to redeem", code="nothing_to_redeem",
                               fields={"amount": ["Must be more than zero."]})
    return Plan(amount=amount, points=points, points_value=points_value, balance=new_balance,
                uses=uses, status=status)


def redeemable_summary(voucher, now, store_id=None):
    """For the validation screen: can it be used, and for how much."""
    check_usable(voucher, now, store_id)
    return {
        "kind": voucher["kind"],
        "max_amount": remaining_value(voucher),
        "percent_bp": voucher.get("percent_bp"),
        "partial_allowed": voucher["kind"] == STORED_VALUE,
        "points_allowed": bool(voucher.get("hybrid")),
        "point_value": voucher.get("point_value", 1),
        "min_purchase": voucher.get("min_purchase"),
    }


def initial_state(kind, face_value):
    """Balance and status of a newly issued voucher."""
    return {"balance": face_value if kind == STORED_VALUE else None, "status": ACTIVE, "uses": 0}


# -- reversals -------------------------------------------------------------------------
def plan_reversal(redemption, voucher, now, window):
    """What undoing a redemption gives back to its voucher, or why it cannot be undone."""
    if redemption["status"] == REVERSED:
        raise Conflict("This redemption was already reversed", code="already_reversed")
    if now - redemption["created_at"] > window:
        raise Conflict("Redemptions can be reversed within %d hours; this one is older"
                       % (window.total_seconds() // 3600), code="reversal_window_passed")
    uses = max(voucher["uses"] - 1, 0)
    if voucher["kind"] == STORED_VALUE:
        balance = voucher["balance"] + redemption["amount"]
        restored = ACTIVE if balance == voucher["face_value"] and uses == 0 else PARTIALLY_REDEEMED
    else:
        balance = None
        restored = ACTIVE if uses == 0 else PARTIALLY_REDEEMED
    status = voucher["status"] if voucher["status"] in (CANCELLED, EXPIRED) else restored
    return Plan(amount=redemption["amount"], points=redemption["points"],
                points_value=redemption["points_value"], balance=balance, uses=uses, status=status)


# -- brute force -----------------------------------------------------------------------
@dataclass(frozen=True)
class AttemptPolicy:
    throttle_after: int    # failures in the window before each attempt must wait
    lock_after: int        # failures in the window that lock the scope
    lock_for: timedelta


ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_THROTTLE_SECONDS = 60
ATTEMPT_POLICIES = {
    "user": AttemptPolicy(throttle_after=5, lock_after=10, lock_for=timedelta(minutes=15)),
    "store": AttemptPolicy(throttle_after=20, lock_after=40, lock_for=timedelta(minutes=15)),
    "voucher": AttemptPolicy(throttle_after=3, lock_after=5, lock_for=timedelta(minutes=30)),
}
LOCK_MESSAGES = {
    "user": "Too many failed attempts from your user: redemptions are locked until %s UTC",
    "store": "Too many failed attempts at this store: redemptions are locked until %s UTC",
    "voucher": "This voucher is locked after too many failed attempts until %s UTC",
}


def after_failure(row, scope, now):
    """The counter after one more failure: (failures, window_start, locked_until, newly_locked)."""
    policy = ATTEMPT_POLICIES[scope]
    if row is None or now - row["window_start"] > ATTEMPT_WINDOW:
        failures, window_start = 1, now
    else:
        failures, window_start = row["failures"] + 1, row["window_start"]
    locked_until = row["locked_until"] if row else None
    newly_locked = failures >= policy.lock_after and not (locked_until and locked_until > now)
    if newly_locked:
        locked_until = now + policy.lock_for
    return failures, window_start, locked_until, newly_locked


def check_attempts_allowed(rows, now):
    """Refuse work from a locked or throttled user, store or voucher, saying until when."""
    for row in rows:
        if row["locked_until"] and row["locked_until"] > now:
            raise Locked(LOCK_MESSAGES[row["scope"]] % row["locked_until"].strftime("%H:%M"),
                         code="%s_locked" % row["scope"])
        policy = ATTEMPT_POLICIES[row["scope"]]
        if now - row["window_start"] > ATTEMPT_WINDOW or row["failures"] < policy.throttle_after:
            continue
        wait = min(2 ** (row["failures"] - policy.throttle_after), MAX_THROTTLE_SECONDS)
        retry_at = row["last_failure_at"] + timedelta(seconds=wait)
        if now < retry_at:
            seconds = int((retry_at - now).total_seconds()) + 1
            raise TooManyRequests("Too many failed attempts: wait %d seconds before trying again" % seconds,
                                  code="too_many_attempts", fields={"retry_after": [str(seconds)]})
