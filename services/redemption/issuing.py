"""Issuing: one voucher at once, a batch as a job (worked on by ``jobs.py``), and a partner's code
registered as another way to present a voucher.

Who funds what is issued is asked of the campaign service first (``authorize``), under an id
that is the same for every retry of the request (``svc.idempotency.stable_id()``), so a retry
never commits a funding agreement's budget twice. ``svc``: the service's worker.
"""
import psycopg2

from plumbing.auth import OWNERS, SYSTEM
from plumbing.errors import Conflict, Forbidden, ValidationFailed
from plumbing.fields import new_id, utcnow
from plumbing.hashing import SHORT_SECRETS
from plumbing.validation import load
from services.redemption import domain, jobs, storage
from services.redemption.codes import generate_code
from services.redemption.contract.codes import is_valid_code, normalize_code
from services.redemption.contract.events import VoucherIssued
from services.redemption.contract.schemas import (ExternalCodeSchema, IssueBatchSchema, IssueJobSchema,
                                                  IssueVoucherSchema)
from services.redemption.qr_signing import looks_like_signed_payload
from services.redemption.views import dump_voucher, get_voucher, voucher_for

CODE_TRIES = 5


def authorize(svc, data, merchant_id, reference, count=1):
    """Who funds these vouchers, asked of the campaign service (off the till's path).

    It checks the campaign, commits the vouchers' value against the funding agreement that
    pays for them (never past its budget), and uses up a platform approval for vouchers above
    the merchant's ceiling; the vouchers then carry the agreement. Asked again under the same
    ``reference`` it answers the same; should this issue fail after it, the commitment stays:
    an agreement is under-used, never overdrawn.
    """
    return svc.campaign.authorize_issuance({
        "reference": reference, "merchant_id": merchant_id, "campaign_id": data.get("campaign_id"),
        "approval_id": data.get("approval_id"), "kind": data["kind"], "currency": data["currency"],
        "value": data.get("value"), "cap": data.get("cap"), "uses_allowed": data["uses_allowed"],
        "count": count, "customer_id": data.get("customer_id")})


def issuer(svc):
    """An owner (or an admin naming the merchant), or the campaign service's own issuance jobs
    (they name the merchant; the campaign service checks the campaign is that merchant's)."""
    identity = svc.caller.require(*OWNERS, SYSTEM)
    if identity.role == SYSTEM and identity.username != "campaign":
        raise Forbidden("Only the campaign service issues on its own account", code="role_not_allowed")
    return identity


def keep_campaign(svc, funding):
    """The campaign's rules, as the campaign service answered, for the till to check."""
    if funding.get("campaign"):
        storage.keep_campaign_rules(svc.db, funding["campaign"])


def issue_voucher(svc, data):
    identity = issuer(svc)
    data = load(IssueVoucherSchema, data)
    merchant_id = identity.merchant_scope(data.pop("merchant_id"))
    voucher_id = svc.idempotency.stable_id()
    funding = authorize(svc, data, merchant_id, voucher_id)
    keep_campaign(svc, funding)
    now = utcnow()
    pin = data.pop("pin", None)
    value = data.pop("value")
    data.pop("approval_id")
    state = domain.initial_state(data["kind"], value)
    voucher = dict(data, id=voucher_id, merchant_id=merchant_id, batch_id=None, funding=funding["funding"],
                   funding_agreement_id=funding["funding_agreement_id"],
                   face_value=value, balance=state["balance"], uses=0, status=state["status"],
                   valid_from=data.get("valid_from") or now, created_by=identity.actor(), created_at=now,
                   pin_hash=None if pin is None else SHORT_SECRETS.hash(pin), locked_until=None)
    insert_with_unique_code(svc.db, voucher)
    storage.record_status_change(svc.db, voucher["id"], None, voucher["status"], identity.actor(), "issued")
    svc.events.emit(VoucherIssued.of(
        voucher_id=voucher["id"], merchant_id=merchant_id, kind=voucher["kind"], currency=voucher["currency"],
        value=voucher["face_value"], campaign_id=voucher["campaign_id"], customer_id=voucher["customer_id"],
        funding=voucher["funding"], funding_agreement_id=voucher["funding_agreement_id"],
        approval_id=funding["approval_id"], issued_at=now))
    svc.metrics.count("vowrewards_vouchers_issued_total", "Vouchers issued", kind=voucher["kind"])
    return dump_voucher(voucher, now)


def insert_with_unique_code(db, voucher):
    # 75 random bits make a collision all but impossible; the constraint decides anyway
    for _ in range(CODE_TRIES):
        voucher["code"] = generate_code()
        try:
            with db.savepoint():
                storage.insert_voucher(db, voucher)
            return
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "vouchers_code_key":
                raise
    raise Conflict("Could not find a free voucher code; try again", code="code_space_exhausted")


def issue_batch(svc, data):
    """Queue a batch of vouchers; answers at once with a job to poll."""
    identity = issuer(svc)
    loaded = load(IssueBatchSchema, data)
    merchant_id = identity.merchant_scope(loaded["merchant_id"])
    job_id = svc.idempotency.stable_id()
    funding = authorize(svc, loaded, merchant_id, job_id, count=loaded["count"])
    keep_campaign(svc, funding)
    job = {"id": job_id, "merchant_id": merchant_id, "requested": loaded["count"],
           "template": jobs.template_for(data, funding), "created_by": identity.actor()}
    storage.insert_job(svc.db, job)
    return IssueJobSchema().dump(storage.job_by_id(svc.db, job["id"]))


def add_external_code(svc, code, data, merchant_id=None):
    """Register a partner's code (e.g. their own QR) as another way to present a voucher."""
    identity = svc.caller.require(*OWNERS)
    data = load(ExternalCodeSchema, data)
    voucher = voucher_for(svc.db, identity, normalize_code(code), merchant_id)
    if is_valid_code(data["value"]) or looks_like_signed_payload(data["value"]):
        raise ValidationFailed("That is a VowRewards code already", code="external_code_invalid",
                               fields={"value": ["Use a partner's code, not one of ours."]})
    inserted = storage.insert_external_code(svc.db, dict(
        data, id=new_id(), voucher_id=voucher["id"], merchant_id=str(voucher["merchant_id"]),
        created_by=identity.actor()))
    if not inserted:
        raise Conflict("That partner code is registered already", code="external_code_taken",
                       fields={"value": ["Already registered."]})
    return get_voucher(svc, voucher["code"], merchant_id)
