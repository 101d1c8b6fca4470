"""Voucher rules: what a voucher may still give, and what one redemption does to it.

Pure functions over plain dicts (rows of the ``vouchers`` table); no database
and no framework, so every rule is unit-tested on its own. The service locks
the voucher row, asks ``plan_redemption`` what to do, and writes the result.
"""
from dataclasses import dataclass

from plumbing.errors import Conflict, Forbidden, Locked, ValidationFailed

DISCOUNT_FIXED = "discount_fixed"
DISCOUNT_PERCENT = "discount_percent"
STORED_VALUE = "stored_value"
KINDS = (DISCOUNT_FIXED, DISCOUNT_PERCENT, STORED_VALUE)

ACTIVE = "active"
PARTIALLY_REDEEMED = "partially_redeemed"
REDEEMED = "redeemed"
EXPIRED = "expired"
CANCELLED = "cancelled"
STATUSES = (ACTIVE, PARTIALLY_REDEEMED, REDEEMED, EXPIRED, CANCELLED)

CHANNELS = ("pos", "vending_machine", "in_app", "web", "kiosk")


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
