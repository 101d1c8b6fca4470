"""Brute force at the till: failed code, PIN and QR attempts are counted per user,
store and voucher; a scope that keeps failing is throttled, then locked for a while,
and the lock raises a ``redemption_lockout`` alert.

The counters are written even though the request that failed is refused: ``count``
hands them to the transaction's ``despite_failure`` (see ``till.present``).
"""
from services.redemption import domain, storage
from services.redemption.contract.events import RedemptionLockout

COUNTED = ("voucher_not_found", "wrong_pin", "qr_forged")


def count(svc, identity, store_id, now, voucher=None, failures=1, reason="voucher_not_found"):
    """Count ``failures`` whatever becomes of this request. A user or store that is locked (or
    must wait) hears that instead, and nothing is counted."""
    check_allowed(svc.db, identity, store_id, now)
    svc.db.despite_failure(lambda tx: record_failure(tx, svc.events, identity, store_id, now, voucher, failures))
    svc.metrics.count("vowrewards_redemption_failed_attempts_total", "Failed code/PIN attempts",
                      amount=failures, reason=reason)


def check_allowed(tx, identity, store_id, now):
    """Refuse work from a user or store that is locked or must wait (one query)."""
    rows = storage.attempt_counters(tx, [("user", identity.user_id), ("store", store_id)])
    domain.check_attempts_allowed(rows, now)


def record_failure(tx, events, identity, store_id, now, voucher=None, failures=1):
    """Count ``failures`` (one per guessed text) against the user, the store and (if known) the voucher."""
    scopes = [("user", identity.user_id), ("store", store_id)]
    if voucher is not None:
        scopes.append(("voucher", str(voucher["id"])))
    for scope, scope_id in scopes:
        row = storage.attempt_counter(tx, scope, scope_id)
        newly_locked = False
        for _ in range(max(1, failures)):
            count, window_start, locked_until, locked_now = domain.after_failure(row, scope, now)
            newly_locked = newly_locked or locked_now
            row = {"failures": count, "window_start": window_start, "locked_until": locked_until}
        storage.save_attempt_counter(tx, scope, scope_id, identity.merchant_id, count, window_start, now,
                                     locked_until)
        if scope == "voucher" and newly_locked:
            storage.lock_voucher(tx, voucher["id"], locked_until)
        if newly_locked:
            events.emit(RedemptionLockout.of(
                scope=scope, scope_id=scope_id, merchant_id=identity.merchant_id, store_id=store_id,
                user=identity.actor(), failures=count, locked_until=locked_until))
