"""A voucher's life after issue: cancelled by its issuer, expired at its end, and a redemption
reversed within the policy window. Each change leaves a history line and an event.

``svc``: the service's worker (its db, events, caller, config).
"""
from datetime import timedelta

from plumbing.auth import OWNERS, Identity
from plumbing.fields import Reason, utcnow
from plumbing.errors import Conflict
from plumbing.validation import load
from services.redemption import domain, storage
from services.redemption.contract.codes import normalize_code
from services.redemption.contract.events import RedemptionReversed, VoucherCancelled, VoucherExpired
from services.redemption.views import dump_redemption, get_voucher, redemption_for, voucher_for

DEFAULT_REVERSAL_WINDOW_HOURS = 72


def unused_voucher(event, voucher, **values):
    """A cancelled or expired voucher: what it had left, and whose money that was (its agreement gets it back)."""
    return event.of(voucher_id=voucher["id"], merchant_id=voucher["merchant_id"], campaign_id=voucher["campaign_id"],
                    batch_id=voucher["batch_id"], funding_agreement_id=voucher["funding_agreement_id"],
                    unused_balance=voucher["balance"], unused_value=domain.unused_value(voucher), **values)


def cancel_voucher(svc, code, data, merchant_id=None):
    identity = svc.caller.require(*OWNERS)
    data = load(Reason, data)
    voucher = voucher_for(svc.db, identity, normalize_code(code), merchant_id, lock=True)
    if voucher["status"] in (domain.REDEEMED, domain.CANCELLED):
        raise Conflict("This voucher is %s" % voucher["status"], code="voucher_%s" % voucher["status"])
    storage.set_voucher_status(svc.db, voucher["id"], domain.CANCELLED)
    storage.record_status_change(svc.db, voucher["id"], voucher["status"], domain.CANCELLED,
                                 identity.actor(), data["reason"])
    svc.events.emit(unused_voucher(VoucherCancelled, voucher, reason=data["reason"]))
    return get_voucher(svc, voucher["code"], merchant_id)


def expire_vouchers(svc):
    """Vouchers past their end become expired, with a history line saying so."""
    rows = storage.expire_due_vouchers(svc.db)
    storage.record_expiries(svc.db, rows, Identity.system(svc.name).actor())
    for row in rows:
        svc.events.emit(unused_voucher(VoucherExpired, row))


def reverse(svc, redemption_id, data, merchant_id=None):
    """Undo a redemption within the policy window: the voucher gets its value or use back.

    Owners reverse their own merchant's; a platform admin names the merchant it acts for,
    and the record and the voucher's history say the admin did it."""
    identity = svc.caller.require(*OWNERS)
    data = load(Reason, data)
    redemption = redemption_for(svc.db, identity, redemption_id, merchant_id, lock=True)
    voucher = storage.voucher_by_id(svc.db, redemption["voucher_id"], lock=True)
    window = timedelta(hours=float(svc.config.get("REVERSAL_WINDOW_HOURS", DEFAULT_REVERSAL_WINDOW_HOURS)))
    now = utcnow()
    plan = domain.plan_reversal(redemption, voucher, now, window)
    storage.apply_plan(svc.db, voucher["id"], plan)
    actor = identity.actor()
    reason = "reversal of %s: %s" % (redemption["reference"], data["reason"])
    if identity.is_platform:
        actor["acting_for_merchant"] = str(redemption["merchant_id"])
        reason += " (by platform %s %s)" % (identity.role, identity.username)
    # always a history line, even when the status stays (a partial reversal): who undid what, and why
    storage.record_status_change(svc.db, voucher["id"], voucher["status"], plan.status, actor, reason)
    storage.mark_reversed(svc.db, redemption["id"], actor, data["reason"])
    svc.events.emit(RedemptionReversed.of(
        redemption_id=redemption["id"], reference=redemption["reference"], voucher_id=voucher["id"],
        merchant_id=redemption["merchant_id"], store_id=redemption["store_id"], amount=redemption["amount"],
        currency=redemption["currency"].strip(), points=redemption["points"],
        points_value=redemption["points_value"], customer_id=redemption["customer_id"],
        campaign_id=voucher["campaign_id"], reason=data["reason"], reversed_by=actor, reversed_at=now))
    return dump_redemption(storage.redemption_by_id(svc.db, redemption["id"]))
