"""What the redemption service shows: vouchers, redemption records, issue jobs, QR payloads and
exports, each within the caller's merchant, with codes masked for those who may not see them.

``svc`` in these functions is the service's worker (its db, caller, qr).
"""
from datetime import timedelta

from plumbing.auth import (ADMIN, BACK_OFFICE, FINANCE, MERCHANT_STAFF, MONEY_READERS, OWNER, OWNERS, STORE_USER,
                           SYSTEM)
from plumbing.errors import Conflict, NotFound, ValidationFailed
from plumbing.fields import utcnow
from plumbing.validation import load, require_id
from services.redemption import domain, exports, storage
from services.redemption.contract.codes import format_code, mask_code, mask_text, normalize_code
from services.redemption.contract.schemas import (DayTotalSchema, IssueJobSchema, QrRequestSchema,
                                                  ReconciliationQuerySchema, ReconciliationTotalSchema,
                                                  RedemptionFilterSchema, RedemptionSchema, TotalsFilterSchema,
                                                  VoucherFilterSchema, VoucherSchema)

EXPORT_LIMIT = 50_000
VOUCHER = VoucherSchema()
REDEMPTION = RedemptionSchema()


def sees_codes(identity):
    """Whole voucher codes (and QR payloads, barcodes, batch exports) are for those who issue them,
    the owners. Everyone else reads the last four: a code is a bearer instrument, and support,
    finance and tills never need one after issue (a till is told back only the code it was just shown)."""
    return identity.role in OWNERS


def dump_voucher(row, now=None, masked=False):
    data = dict(row, display_code=format_code(row["code"]), has_pin=bool(row.get("pin_hash")),
                status=domain.effective_status(row, now or utcnow()), code_masked=masked)
    if masked:
        data["code"] = data["display_code"] = mask_code(row["code"])
    return VOUCHER.dump(data)


def dump_redemption(row, masked=False):
    code = row["voucher_code"]
    return REDEMPTION.dump(dict(row, voucher_code=mask_code(code) if masked else format_code(code),
                                voucher_code_masked=masked))


def not_found():
    return NotFound("No voucher with this code", code="voucher_not_found",
                    fields={"code": ["No voucher with this code."]})


# -- lookups within the caller's merchant ----------------------------------------------------------
def voucher_for(db, identity, code, merchant_id=None, lock=False):
    voucher = storage.voucher_by_code(db, code, lock=lock)
    scope = identity.merchant_scope(merchant_id) if identity.is_platform else identity.merchant_id
    # another merchant's voucher looks exactly like a voucher that does not exist
    if voucher is None or str(voucher["merchant_id"]) != scope:
        raise not_found()
    return voucher


def redemption_for(db, identity, redemption_id, merchant_id=None, lock=False):
    redemption = storage.redemption_by_id(db, redemption_id, lock=lock)
    if redemption is None or str(redemption["merchant_id"]) != identity.merchant_scope(merchant_id) or \
            (identity.role == STORE_USER and str(redemption["store_id"]) != identity.store_id):
        raise NotFound("No redemption %s" % redemption_id, code="redemption_not_found")
    return redemption


def job_for(db, identity, job_id, merchant_id=None):
    job = storage.job_by_id(db, require_id(job_id, "job_id"))
    if job is None or str(job["merchant_id"]) != identity.merchant_scope(merchant_id):
        raise NotFound("No issue job %s" % job_id, code="job_not_found")
    return job


# -- vouchers --------------------------------------------------------------------------------------
def get_voucher(svc, code, merchant_id=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    voucher = voucher_for(svc.db, identity, normalize_code(code), merchant_id)
    return voucher_with_history(svc.db, identity, voucher)


def voucher_with_history(db, identity, voucher):
    masked = not sees_codes(identity)
    result = dump_voucher(voucher, masked=masked)
    result["history"] = [
        {"from_status": h["from_status"], "to_status": h["to_status"], "actor": h["actor"],
         "reason": h["reason"], "at": h["at"].isoformat()}
        for h in storage.voucher_history(db, voucher["id"])]
    result["external_codes"] = [
        {"format": e["format"], "value": mask_text(e["value"]) if masked else e["value"], "issuer": e["issuer"],
         "created_at": e["created_at"].isoformat()}
        for e in storage.external_codes_of(db, voucher["id"])]
    return result


def list_vouchers(svc, filters=None):
    identity = svc.caller.require(*BACK_OFFICE)
    merchant_id, filters = svc.scoped(identity, VoucherFilterSchema, filters)
    masked = not sees_codes(identity)
    return storage.list_vouchers(svc.db, merchant_id, filters, lambda row: dump_voucher(row, masked=masked))


def qr_payload(svc, code, options=None):
    """The signed text a voucher's QR code carries (short-lived when ``ttl`` is given): issuers only,
    like the code itself (the barcode images are drawn from this answer's ``code``)."""
    identity = svc.caller.require(*OWNERS)
    options = load(QrRequestSchema, options or {})
    voucher = voucher_for(svc.db, identity, normalize_code(code), options.get("merchant_id"))
    expires_at = utcnow() + timedelta(seconds=options["ttl"]) if options.get("ttl") else None
    return {"code": voucher["code"], "display_code": format_code(voucher["code"]),
            "payload": svc.qr.sign(voucher["code"], expires_at),
            "expires_at": expires_at.isoformat() if expires_at else None}


# -- issue jobs ------------------------------------------------------------------------------------
def get_issue_job(svc, job_id, merchant_id=None):
    identity = svc.caller.require(OWNER, FINANCE, ADMIN)
    return IssueJobSchema().dump(job_for(svc.db, identity, job_id, merchant_id))


def export_batch_codes(svc, job_id, merchant_id=None):
    """The codes of a finished batch as CSV, each with its signed QR payload."""
    identity = svc.caller.require(*OWNERS)
    job = job_for(svc.db, identity, job_id, merchant_id)
    if job["status"] != "completed":
        raise Conflict("The batch is %s (%d of %d issued)" % (job["status"], job["issued"], job["requested"]),
                       code="job_not_finished")
    rows, after = [], None
    while True:
        chunk = storage.batch_vouchers(svc.db, job["id"], after)
        if not chunk:
            break
        rows.extend(chunk)
        after = chunk[-1]["code"]
    return exports.codes_csv(rows, svc.qr.sign)


# -- redemption records ----------------------------------------------------------------------------
def get_redemption(svc, redemption_id, merchant_id=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    return dump_redemption(redemption_for(svc.db, identity, redemption_id, merchant_id),
                           masked=not sees_codes(identity))


def _record_filters(svc, identity, schema, filters):
    merchant_id, filters = svc.scoped(identity, schema, filters)
    if identity.role == STORE_USER:
        filters["store_id"] = identity.store_id
    return merchant_id, filters


def list_redemptions(svc, filters=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    merchant_id, filters = _record_filters(svc, identity, RedemptionFilterSchema, filters)
    masked = not sees_codes(identity)
    return storage.list_redemptions(svc.db, merchant_id, filters, lambda row: dump_redemption(row, masked))


def redemption_totals(svc, filters=None):
    """Totals per store and day, for the portal."""
    identity = svc.caller.require(*MERCHANT_STAFF)
    merchant_id, filters = _record_filters(svc, identity, TotalsFilterSchema, filters)
    rows = storage.totals_by_store_and_day(svc.db, merchant_id, filters)
    return {"items": DayTotalSchema(many=True).dump(
        [dict(row, currency=row["currency"].strip()) for row in rows]), "next": None}


def reconciliation_totals(svc, query):
    """Settlement's reconciliation (as settlement itself, or the finance user closing a batch):
    per store and currency, the redemptions made in [since, until) and the reversals made in it."""
    identity = svc.caller.require(SYSTEM, *MONEY_READERS)
    merchant_id, query = svc.scoped(identity, ReconciliationQuerySchema, query)
    window = (merchant_id, query["since"], query["until"])
    rows = svc.db.all(
        "SELECT store_id, currency, sum(redemptions) AS redemptions, sum(redeemed_amount) AS redeemed_amount, "
        "sum(reversals) AS reversals, sum(reversed_amount) AS reversed_amount FROM ("
        "SELECT store_id, currency, count(*) AS redemptions, sum(amount + points_value) AS redeemed_amount, "
        "0 AS reversals, 0 AS reversed_amount FROM redemptions WHERE merchant_id = %s AND created_at >= %s "
        "AND created_at < %s GROUP BY store_id, currency UNION ALL "
        "SELECT store_id, currency, 0, 0, count(*), sum(amount + points_value) FROM redemptions "
        "WHERE merchant_id = %s AND reversed_at >= %s AND reversed_at < %s GROUP BY store_id, currency"
        ") t GROUP BY store_id, currency ORDER BY store_id, currency", window + window)
    return {"items": ReconciliationTotalSchema(many=True).dump(rows), "next": None}


def export_redemptions(svc, filters=None):
    identity = svc.caller.require(OWNER, FINANCE, STORE_USER, ADMIN)
    merchant_id, filters = _record_filters(svc, identity, TotalsFilterSchema, filters)
    rows = storage.export_rows(svc.db, merchant_id, filters, EXPORT_LIMIT + 1)
    if len(rows) > EXPORT_LIMIT:
        raise ValidationFailed("More than %d redemptions: narrow the period (since/until)" % EXPORT_LIMIT,
                               code="export_too_large", fields={"since": ["Narrow the period."]})
    return exports.redemptions_csv(rows, masked=not sees_codes(identity))
