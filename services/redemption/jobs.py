"""Issuing a batch of up to 100,000 vouchers without blocking the service.

A batch request only records a job and answers at once. A timer of the
service works on queued jobs in chunks: each chunk (codes generated, vouchers
inserted, progress recorded) is a transaction of its own (``tx.separately()``),
so a crash loses at most the chunk in flight and another replica picks the job
up where it stopped. Between chunks the worker yields, so redemptions keep flowing.
"""
import time

import eventlet

from plumbing.fields import new_id, utcnow
from plumbing.validation import load
from services.redemption import domain, storage
from services.redemption.codes import generate_codes
from services.redemption.contract.events import VoucherBatchIssued
from services.redemption.contract.schemas import IssueVoucherSchema

CHUNK = 2000
STALE_SECONDS = 30     # a running job whose worker is silent this long is taken over
WORK_SECONDS = 5       # a timer worker hands the job back after this long


def template_for(request, funding):
    """What every voucher of the batch shares (the validated request as sent, and who funds it)."""
    request = {k: v for k, v in request.items() if k not in ("count", "merchant_id")}
    return {"request": request, "funding": funding["funding"],
            "funding_agreement_id": funding["funding_agreement_id"], "approval_id": funding["approval_id"]}


def voucher_rows(job, count, now):
    """``count`` new vouchers for ``job``, ready for ``storage.insert_vouchers``."""
    data = load(IssueVoucherSchema, dict(job["template"]["request"]))
    value = data["value"]
    state = domain.initial_state(data["kind"], value)
    shared = {
        "merchant_id": str(job["merchant_id"]), "store_ids": data.get("store_ids"),
        "campaign_id": data.get("campaign_id"), "batch_id": str(job["id"]),
        "funding": job["template"]["funding"],
        "funding_agreement_id": job["template"].get("funding_agreement_id"), "customer_id": None, "kind": data["kind"],
        "currency": data["currency"], "face_value": value, "balance": state["balance"],
        "percent_bp": data.get("percent_bp"), "cap": data.get("cap"), "min_purchase": data.get("min_purchase"),
        "hybrid": data["hybrid"], "point_value": data["point_value"], "uses_allowed": data["uses_allowed"],
        "uses": 0, "per_customer_limit": data.get("per_customer_limit"),
        "valid_from": data.get("valid_from") or job["created_at"], "valid_until": data.get("valid_until"),
        "status": state["status"], "created_by": job["created_by"],
    }
    return [dict(shared, id=new_id(), code=code) for code in generate_codes(count)]


def work(db, events, work_seconds=WORK_SECONDS):
    """Work on queued (or abandoned) jobs for about ``work_seconds``, a chunk per transaction; a job
    not finished by then is handed back as queued, so the next tick (anywhere) goes on at once."""
    deadline = time.monotonic() + work_seconds
    while time.monotonic() < deadline:
        with db.separately():
            job = storage.claim_job(db, STALE_SECONDS)
            if job is None:
                return
            finished = issue_chunk(db, events, job, deadline)
        while not finished:
            eventlet.sleep(0)  # let the tills in
            with db.separately():
                finished = issue_chunk(db, events, job, deadline)
        if time.monotonic() >= deadline:
            return


def issue_chunk(db, events, job, deadline):
    """Issue the next chunk of ``job`` (updated in place); True when the job is done or handed back."""
    rows = voucher_rows(job, min(CHUNK, job["requested"] - job["issued"]), utcnow())
    inserted = set(storage.insert_vouchers(db, rows))
    storage.record_issue(db, [r["id"] for r in rows if r["code"] in inserted], job["created_by"], "issued in batch")
    job["issued"] += len(inserted)
    done = job["issued"] >= job["requested"]
    out_of_time = time.monotonic() >= deadline
    status = "completed" if done else ("queued" if out_of_time else "running")
    storage.job_progress(db, job["id"], job["issued"], status)
    if done:
        events.emit(VoucherBatchIssued.of(
            batch_id=job["id"], merchant_id=job["merchant_id"], count=job["issued"],
            campaign_id=job["template"]["request"].get("campaign_id"), funding=job["template"]["funding"],
            funding_agreement_id=job["template"].get("funding_agreement_id")))
    return done or out_of_time
