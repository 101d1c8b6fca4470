"""Issuing a campaign's voucher to one customer, a segment (or the campaign's audience), or as
anonymous codes: a job recorded at once and worked on by a timer, with its progress to poll.

Every voucher goes through the redemption service (``issue_voucher`` per customer, ``issue_batch``
for codes), which asks this service to commit it against the campaign with the campaign's row
locked: the budget, the vouchers allowed and each customer's limit hold however many jobs and
owners issue at once. A customer the limit or the budget leaves out is skipped, with why. A job's
customers are fixed when it is created; each is worked on in a transaction of its own, so a crash
loses at most the one in flight. Each call to the redemption service carries the job's own
Idempotency-Key (job and customer, or the job for codes) and a request made from the job alone, so
the retry of one in flight is answered with the voucher already issued, never a second one.
"""
import time
from datetime import timedelta

from plumbing.auth import MERCHANT_STAFF, OWNERS
from plumbing.errors import AppError, Conflict, NotFound, ValidationFailed
from plumbing.fields import new_id, utcnow
from plumbing.validation import load, require_id
from services.campaign import storage
from services.campaign.campaigns import campaign_of
from services.campaign.contract.enums import ACTIVE
from services.campaign.contract.schemas import IssuanceJobSchema, IssuanceRequestSchema

WORK_SECONDS = 5
STALE_SECONDS = 30
# refusals after which no other customer of the job can be issued either
STOPPERS = ("campaign_budget_exceeded", "campaign_voucher_limit_reached", "campaign_not_active",
            "campaign_window_over", "agreement_budget_exceeded", "agreement_not_active", "agreement_not_in_force",
            "platform_approval_required")


def template(campaign, now):
    """The voucher a campaign gives, as the redemption service's issue request."""
    reward = campaign["reward"]
    until = campaign["valid_until"]
    if reward.get("valid_days"):
        own = now + timedelta(days=reward["valid_days"])
        until = own if until is None or own < until else until
    request = {"merchant_id": str(campaign["merchant_id"]), "campaign_id": str(campaign["id"]),
               "kind": reward["kind"], "currency": campaign["currency"].strip(), "value": reward.get("value"),
               "percent_bp": reward.get("percent_bp"), "cap": reward.get("cap"),
               "min_purchase": reward.get("min_purchase"), "hybrid": reward.get("hybrid", False),
               "point_value": reward.get("point_value", 1), "uses_allowed": reward.get("uses_allowed", 1),
               "per_customer_limit": campaign["per_customer_limit"],
               "store_ids": [str(s) for s in campaign["store_ids"]] if campaign["store_ids"] else None,
               "valid_until": until.isoformat() if until else None}
    return {k: v for k, v in request.items() if v is not None}


def start(svc, campaign_id, data, merchant_id=None):
    identity = svc.caller.require(*OWNERS)
    data = load(IssuanceRequestSchema, data)
    campaign = campaign_of(svc, identity, campaign_id, merchant_id)
    if campaign["status"] != ACTIVE:
        raise Conflict("The campaign is %s: it issues only while active" % campaign["status"],
                       code="campaign_not_active", fields={"status": [campaign["status"]]})
    if not campaign["reward"] or campaign["reward"].get("type") != "voucher":
        raise ValidationFailed("This campaign gives no voucher (its reward is %s)" % (
            (campaign["reward"] or {}).get("type") or "not set"), code="reward_not_voucher",
            fields={"reward": ["Set a voucher reward to issue."]})
    job = {"id": new_id(), "campaign_id": campaign["id"], "merchant_id": campaign["merchant_id"],
           "target": data["target"], "customer_id": data["customer_id"], "segment_id": data["segment_id"],
           "requested": data["count"] or 0, "created_by": identity.actor()}
    storage.insert_issuance_job(svc.db, job)
    if data["target"] == "customer":
        customer = storage.customer_by_id(svc.db, data["customer_id"])
        if customer is None or customer["merchant_id"] != campaign["merchant_id"]:
            raise NotFound("No customer %s" % data["customer_id"], code="customer_not_found",
                           fields={"customer_id": ["No such customer."]})
        job["requested"] = storage.add_job_customers(svc.db, job["id"], campaign["merchant_id"], ["id = %s"],
                                                     [data["customer_id"]])
    elif data["target"] == "segment":
        where, params = storage.segment_condition(_rules(svc, campaign, data["segment_id"]), utcnow())
        job["requested"] = storage.add_job_customers(svc.db, job["id"], campaign["merchant_id"], where, params)
    storage.set_job_requested(svc.db, job["id"], job["requested"])
    return get(svc, campaign["id"], job["id"], merchant_id)


def _rules(svc, campaign, segment_id):
    """The segment named, else the campaign's audience (None: all its customers)."""
    if segment_id is None and campaign["audience"]:
        if campaign["audience"].get("rules") is not None:
            return campaign["audience"]["rules"]
        segment_id = campaign["audience"]["segment_id"]
    if segment_id is None:
        return None
    segment = storage.segment_by_id(svc.db, require_id(segment_id, "segment_id"))
    if segment is None or segment["merchant_id"] != campaign["merchant_id"]:
        raise NotFound("No segment %s" % segment_id, code="segment_not_found",
                       fields={"segment_id": ["No such segment."]})
    return segment["rules"]


def get(svc, campaign_id, job_id, merchant_id=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    campaign = campaign_of(svc, identity, campaign_id, merchant_id)
    job = storage.issuance_job(svc.db, require_id(job_id, "job_id"))
    if job is None or job["campaign_id"] != campaign["id"]:
        raise NotFound("No issuance job %s" % job_id, code="issuance_job_not_found")
    if job["redemption_job_id"]:
        # anonymous codes: the redemption service's batch says how far it got
        batch = svc.redemption.get_issue_job(str(job["redemption_job_id"]),
                                             str(campaign["merchant_id"]) if identity.is_platform else None)
        job = dict(job, issued=batch["issued"], status="completed" if batch["status"] == "completed" else "running")
    return IssuanceJobSchema().dump(job)


def work(svc, work_seconds=WORK_SECONDS):
    """Work on queued (or abandoned) jobs for about ``work_seconds``; one customer a transaction."""
    deadline = time.monotonic() + work_seconds
    while time.monotonic() < deadline:
        with svc.db.separately():
            job = storage.claim_issuance_job(svc.db, STALE_SECONDS)
        if job is None:
            return
        campaign = storage.campaign_by_id(svc.db, job["campaign_id"])
        if job["target"] == "codes":
            _codes(svc, job, campaign)
            continue
        while time.monotonic() < deadline:
            with svc.db.separately():
                if not _next_customer(svc, job, campaign):
                    storage.finish_issuance_job(svc.db, job["id"], "completed")
                    break
        else:
            with svc.db.separately():
                storage.finish_issuance_job(svc.db, job["id"], "queued")  # the next tick goes on


def _codes(svc, job, campaign):
    with svc.db.separately():
        try:
            batch = svc.redemption.keyed("issuance:%s" % job["id"]).issue_batch(
                dict(template(campaign, job["created_at"]), count=job["requested"]))
        except AppError as refusal:
            storage.finish_issuance_job(svc.db, job["id"], "failed", refusal.message)
            return
        storage.set_redemption_job(svc.db, job["id"], batch["id"])


def _next_customer(svc, job, campaign):
    """Issue to the job's next customer; False when none is left."""
    item = storage.next_job_customer(svc.db, job["id"])
    if item is None:
        return False
    try:
        # validity counted from the job's creation: the same request on every retry
        voucher = svc.redemption.keyed("issuance:%s:%s" % (job["id"], item["customer_id"])).issue_voucher(
            dict(template(campaign, job["created_at"]), customer_id=str(item["customer_id"])))
    except AppError as refusal:
        storage.settle_job_customer(svc.db, job["id"], item["customer_id"], "skipped", None,
                                    "%s: %s" % (refusal.code, refusal.message))
        if refusal.code in STOPPERS:
            storage.skip_rest(svc.db, job["id"], refusal.code)
        return True
    storage.settle_job_customer(svc.db, job["id"], item["customer_id"], "issued", voucher["id"], None)
    return True
