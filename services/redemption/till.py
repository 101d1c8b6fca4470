"""The till: a voucher presented (typed code, code and PIN, our QR, a barcode, a partner's code or a
photo of one), resolved to a voucher, validated, and redeemed; failed attempts counted.

A redemption moves money once: the voucher row is locked while it is planned and written.
Nothing is asked of another service under that lock: points for a hybrid redemption are
reserved first (idempotently, by the redemption's id, which is the same for every retry of the
request) and released if the redemption does not happen. A repeat of a request is answered by
``plumbing.idempotency`` alone, before any of this runs.

``svc``: the service's worker (its db, events, caller, qr, campaign, metrics, idempotency).
"""
import secrets

from plumbing.auth import STORE_BOUND, TILLS
from plumbing.errors import AppError, Conflict, Forbidden, Locked, ValidationFailed
from plumbing.fields import utcnow
from plumbing.hashing import SHORT_SECRETS
from plumbing.validation import load
from services.redemption import attempts, domain, storage
from services.redemption.contract.codes import ALPHABET, is_valid_code, mask_code, normalize_code
from services.redemption.contract.events import VoucherRedeemed
from services.redemption.contract.schemas import (PhotoPresentationSchema, PhotoRedeemSchema, PresentationSchema,
                                                  RedeemSchema)
from services.redemption.qr_signing import looks_like_signed_payload
from services.redemption.views import dump_redemption, dump_voucher, not_found, sees_codes

PRESENTED_CODE = ("code", "pin", "qr", "barcode")  # presentations that carry the code itself


def new_reference():
    return "RD-" + "".join(secrets.choice(ALPHABET) for _ in range(10))  # the codes' alphabet: read aloud safely


def told_code(identity, method):
    """Whether an answer at the till may show the whole code: to issuers, and to a till that
    was just shown the code itself (typed, scanned or our QR; not a partner's code or a photo)."""
    return sees_codes(identity) or method in PRESENTED_CODE


def load_presentation(schema, photo_schema, presentation, image_texts):
    """Texts read from a photo come only as the RPC's own ``image_texts`` argument (the
    gateway's upload path sets it); inside a presentation they are an unknown field."""
    if image_texts is None:
        return load(schema, presentation)
    return load(photo_schema, dict(presentation or {}, image_texts=image_texts))


def store_for(identity, data):
    if identity.role in STORE_BOUND:
        if data.get("store_id") and data["store_id"] != identity.store_id:
            raise Forbidden("You redeem for your own store only", code="store_forbidden")
        if not identity.store_id:
            raise Forbidden("You are not bound to a store", code="store_required")
        return identity.store_id
    if not data.get("store_id"):
        raise ValidationFailed("Say which store is redeeming", code="store_required",
                               fields={"store_id": ["Required for owners."]})
    return data["store_id"]


# -- presenting ----------------------------------------------------------------------------------
def present(svc, identity, data, store_id, now, lock=False):
    """The voucher a presentation names (``lock``: its row locked), checked for its PIN; failures counted.

    Unknown codes, forged QRs and wrong PINs count against the user, the store and the
    voucher, even though the request is refused. Every text of a photo that names no
    voucher is a guess and counts, even when another text of it names one. A user or
    store that is locked (or must wait) hears that first.
    """
    voucher, guesses = None, 1
    try:
        code, method, misses = resolve(svc, identity, data)
        if code is None:
            guesses = max(misses, 1)
            raise not_found()
        if misses:
            attempts.count(svc, identity, store_id, now, None, failures=misses)
        voucher = storage.voucher_at_till(svc.db, code, identity.user_id, store_id, lock)
        if voucher is None or str(voucher["merchant_id"]) != identity.merchant_id:
            voucher = None
            raise not_found()
        counters = {counter["scope"]: counter for counter in voucher["counters"]}
        domain.check_attempts_allowed([counters[s] for s in ("user", "store") if s in counters], now)
        if voucher.get("locked_until") and voucher["locked_until"] > now:
            raise Locked(domain.LOCK_MESSAGES["voucher"] % voucher["locked_until"].strftime("%H:%M"),
                         code="voucher_locked")
        if voucher["pin_hash"]:
            domain.check_attempts_allowed([counters["voucher"]] if "voucher" in counters else [], now)
            if not data.get("pin"):
                raise ValidationFailed("This voucher needs its PIN", code="pin_required",
                                       fields={"pin": ["Required for this voucher."]})
            if not SHORT_SECRETS.matches(voucher["pin_hash"], data["pin"]):
                raise ValidationFailed("Wrong PIN", code="wrong_pin", fields={"pin": ["Wrong PIN."]})
        return voucher, method
    except AppError as error:
        if error.code in attempts.COUNTED:
            attempts.count(svc, identity, store_id, now, voucher, failures=guesses, reason=error.code)
        raise


def resolve(svc, identity, data):
    """``(code, method, misses)``: the voucher code a presentation names (None: none), how it
    was presented, and how many texts of a photo named no voucher."""
    if data.get("code"):
        return normalize_code(data["code"]), "pin" if data.get("pin") else "code", 0
    if data.get("qr_payload"):
        return svc.qr.verify(data["qr_payload"]), "qr", 0
    texts = list(dict.fromkeys(text.strip() for text in data.get("image_texts") or [data["scanned_text"]]))
    if len(texts) == 1:
        code, method = _code_for_text(svc, identity, texts[0])
        return code, "image" if data.get("image_texts") else method, 0 if code else 1
    # several codes in one photo: each must name a voucher of this merchant, or it was a guess
    found, misses = None, 0
    for text in texts:
        code = _known_code(svc, identity, text)
        if code is None:
            misses += 1
        elif found is None:
            found = code
    return found, "image", misses


def _code_for_text(svc, identity, text):
    """What one scanned text names: our signed QR, our code, or a partner's registered code."""
    if looks_like_signed_payload(text):
        return svc.qr.verify(text), "qr"
    if is_valid_code(text):
        return normalize_code(text), "barcode"
    return storage.voucher_code_for_external(svc.db, identity.merchant_id, text), "external_qr"


def _known_code(svc, identity, text):
    """The code of this merchant's voucher that ``text`` names, or None (forged and expired QRs too)."""
    try:
        code, _ = _code_for_text(svc, identity, text)
    except AppError:
        return None
    if code is None:
        return None
    voucher = storage.voucher_by_code(svc.db, code)
    return code if voucher is not None and str(voucher["merchant_id"]) == identity.merchant_id else None


def check_customer(db, voucher, data, lock=False):
    """A voucher bound to a customer, or limited per customer, needs to know who is redeeming
    (``lock``: two tills must not both let the same customer past the limit)."""
    customer_id = data.get("customer_id") or (str(voucher["customer_id"]) if voucher["customer_id"] else None)
    if voucher["customer_id"] and customer_id != str(voucher["customer_id"]):
        raise Forbidden("This voucher belongs to another customer", code="wrong_customer")
    limit = voucher.get("per_customer_limit")
    if not limit:
        return customer_id
    if not customer_id:
        raise ValidationFailed("Say which customer is redeeming: this voucher is limited per customer",
                               code="customer_required", fields={"customer_id": ["Required for this voucher."]})
    scope_column, scope_id = ("campaign_id", voucher["campaign_id"]) if voucher["campaign_id"] else \
        ("batch_id", voucher["batch_id"]) if voucher["batch_id"] else ("id", voucher["id"])
    if lock:
        db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("limit:%s:%s" % (scope_id, customer_id),))
    if storage.customer_redemptions(db, scope_column, scope_id, customer_id) >= limit:
        raise Conflict("This customer has reached the limit of %d for this offer" % limit, code="limit_reached")
    return customer_id


def _plan(voucher, data, now, store_id):
    return domain.plan_redemption(voucher, now, store_id, amount=data.get("amount"),
                                  purchase_amount=data.get("purchase_amount"), points=data.get("points"))


# -- validating ----------------------------------------------------------------------------------
def validate(svc, presentation, image_texts=None):
    """Look up a presented voucher and say what it can be redeemed for, or why not.

    ``image_texts``: what the gateway read from an uploaded photo, instead of a code.
    """
    identity = svc.caller.require(*TILLS)
    data = load_presentation(PresentationSchema, PhotoPresentationSchema, presentation, image_texts)
    store_id = store_for(identity, data)
    now = utcnow()
    voucher, method = present(svc, identity, data, store_id, now)
    result = {"voucher": dump_voucher(voucher, now, masked=not told_code(identity, method)),
              "method": method, "store_id": store_id}
    try:
        result["redeemable"] = domain.redeemable_summary(voucher, now, store_id)
        if data.get("purchase_amount") is not None and voucher["kind"] != domain.STORED_VALUE:
            result["redeemable"]["discount"] = domain.discount_for(voucher, data["purchase_amount"])
        check_customer(svc.db, voucher, data)
        if any(data.get(field) for field in ("amount", "points", "purchase_amount")):
            # what confirming exactly this would do, or precisely why it would be refused
            plan = _plan(voucher, data, now, store_id)
            result["would_redeem"] = {"amount": plan.amount, "points": plan.points,
                                      "points_value": plan.points_value, "balance_after": plan.balance}
        result["ok"], result["reason"] = True, None
    except (Conflict, Forbidden, Locked, ValidationFailed) as refusal:
        result.update(ok=False, reason={"code": refusal.code, "message": refusal.message})
    return result


# -- redeeming -----------------------------------------------------------------------------------
def redeem(svc, request, image_texts=None):
    """Confirm a redemption: the voucher row is locked, so money moves once.

    ``image_texts``: what the gateway read from an uploaded photo, instead of a code.
    The answer shows the code as the till presented it; the record read later is masked."""
    identity = svc.caller.require(*TILLS)
    data = load_presentation(RedeemSchema, PhotoRedeemSchema, request, image_texts)
    store_id = store_for(identity, data)
    now = utcnow()
    redemption_id = svc.idempotency.stable_id()
    reservation = None
    if data.get("points"):
        # points first, with the voucher unlocked: refused early if the plan cannot work, and
        # the voucher row is locked (below) only once the points are held
        voucher, method = present(svc, identity, data, store_id, now)
        customer_id = check_customer(svc.db, voucher, data)
        reservation = reserve_points(svc, customer_id, _plan(voucher, data, now, store_id), redemption_id)
        voucher = dict(voucher, **storage.voucher_by_id(svc.db, voucher["id"], lock=True))
    else:
        voucher, method = present(svc, identity, data, store_id, now, lock=True)
    customer_id = check_customer(svc.db, voucher, data, lock=True)
    plan = _plan(voucher, data, now, store_id)
    answer = record(svc, identity, voucher, plan, data, store_id, method, now, redemption_id, customer_id,
                    reservation)
    if not told_code(identity, method):
        answer = dict(answer, voucher_code=mask_code(answer["voucher_code"]), voucher_code_masked=True)
    return answer


def reserve_points(svc, customer_id, plan, redemption_id):
    """Hold the points a hybrid redemption spends, under its id; they go back if it does not happen."""
    if not customer_id:
        raise ValidationFailed("Say whose points pay: customer_id", code="customer_required",
                               fields={"customer_id": ["Required to spend points."]})
    reservation = svc.campaign.reserve_points({"customer_id": customer_id, "points": plan.points,
                                               "reference": redemption_id})
    svc.db.after_rollback(lambda: svc.campaign.release_points(reservation["reservation_id"]))  # no points lost
    return reservation


def record(svc, identity, voucher, plan, data, store_id, method, now, redemption_id, customer_id, reservation):
    """The voucher's new state, its history line and the redemption (one statement), and the event:
    both go with the commit, so the voucher row is locked for one round trip less."""
    redemption = {
        "id": redemption_id, "reference": new_reference(), "voucher_id": voucher["id"],
        "merchant_id": identity.merchant_id, "store_id": store_id, "user_id": identity.user_id,
        "processed_by": {"user_id": identity.user_id, "username": identity.username, "role": identity.role},
        "channel": data["channel"], "method": method, "customer_id": customer_id,
        "amount": plan.amount, "points": plan.points, "points_value": plan.points_value,
        "purchase_amount": data.get("purchase_amount"), "currency": voucher["currency"].strip(),
        "receipt_remarks": data.get("receipt_remarks"),
        "points_reservation_id": reservation["reservation_id"] if reservation else None, "created_at": now,
    }
    storage.record_redemption(svc.db, voucher, plan, identity.actor(), redemption, with_commit=True)
    svc.events.emit(VoucherRedeemed.of(
        redemption_id=redemption_id, reference=redemption["reference"], voucher_id=voucher["id"],
        merchant_id=redemption["merchant_id"], store_id=store_id, amount=plan.amount,
        currency=redemption["currency"], points=plan.points, points_value=plan.points_value,
        points_reservation_id=redemption["points_reservation_id"], campaign_id=voucher["campaign_id"],
        funding=voucher["funding"], funding_agreement_id=voucher["funding_agreement_id"],
        customer_id=customer_id, channel=redemption["channel"], method=method,
        processed_by=redemption["processed_by"], redeemed_at=now))
    svc.metrics.count("vowrewards_redemptions_total", "Redemptions confirmed", channel=data["channel"],
                      method=method)
    return dump_redemption(dict(redemption, voucher_code=voucher["code"], status="completed",
                                voucher_status=plan.status, voucher_balance=plan.balance))
