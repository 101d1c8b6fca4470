"""The redemption service: vouchers, the redemption panel, and the records it keeps."""
import hashlib
import json
import secrets
import time
from datetime import timedelta

import eventlet
import psycopg2
from nameko.dependency_providers import Config
from nameko.timer import timer

from plumbing.auth import ADMIN, BACK_OFFICE, FINANCE, MERCHANT_STAFF, OWNER, OWNERS, STORE_USER, TILLS, Identity
from plumbing.entrypoints import rpc
from plumbing.errors import (AppError, Conflict, Forbidden, Locked, NotFound, ValidationFailed)
from plumbing.fields import Reason, new_id, utcnow
from plumbing.hashing import SHORT_SECRETS
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from plumbing.validation import load, require_id
from services.redemption import attempts, domain, exports, jobs, storage
from services.redemption.codes import generate_code
from services.redemption.contract.codes import (ALPHABET, format_code, is_valid_code, mask_code, mask_text,
                                                normalize_code)
from services.redemption.contract.events import (RedemptionReversed, VoucherBatchIssued, VoucherCancelled,
                                                 VoucherExpired, VoucherIssued, VoucherRedeemed)
from services.redemption.contract.schemas import (DayTotalSchema, ExternalCodeSchema, IssueBatchSchema,
                                                  IssueJobSchema, IssueVoucherSchema, PhotoPresentationSchema,
                                                  PhotoRedeemSchema, PresentationSchema, QrRequestSchema,
                                                  RedeemSchema, RedemptionFilterSchema, RedemptionSchema,
                                                  TotalsFilterSchema, VoucherFilterSchema, VoucherSchema)
from services.redemption.keys import QrSigning
from services.redemption.qr_signing import looks_like_signed_payload

PRESENTED_CODE = ("code", "pin", "qr", "barcode")  # presentations that carry the code itself
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


def unused_voucher(event, voucher, **values):
    """A cancelled or expired voucher: what it had left, and whose money that was (its agreement gets it back)."""
    return event.of(voucher_id=voucher["id"], merchant_id=voucher["merchant_id"], campaign_id=voucher["campaign_id"],
                    batch_id=voucher["batch_id"], funding_agreement_id=voucher["funding_agreement_id"],
                    unused_balance=voucher["balance"], unused_value=domain.unused_value(voucher), **values)


def new_reference():
    return "RD-" + "".join(secrets.choice(ALPHABET) for _ in range(10))  # the codes' alphabet: read aloud safely


def request_fingerprint(data, store_id, code):
    """What makes two requests with one idempotency key 'the same request'."""
    keys = ("amount", "purchase_amount", "points", "customer_id", "channel", "receipt_remarks")
    canonical = {key: data.get(key) for key in keys}
    canonical.update(store_id=store_id, code=code)
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def not_found():
    return NotFound("No voucher with this code", code="voucher_not_found",
                    fields={"code": ["No voucher with this code."]})


class RedemptionService(ServiceBase):
    name = "redemption"
    qr = QrSigning()
    campaign = RpcProxy("campaign")
    config = Config()

    # -- issuing -----------------------------------------------------------------------
    @rpc
    def issue_voucher(self, data):
        identity = self.caller.require(*OWNERS)
        data = load(IssueVoucherSchema, data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        voucher_id = new_id()
        funding = self._authorize_issue(data, merchant_id, voucher_id)
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
        self._insert_with_unique_code(voucher)
        storage.record_status_change(self.db, voucher["id"], None, voucher["status"], identity.actor(), "issued")
        self.events.emit(VoucherIssued.of(
            voucher_id=voucher["id"], merchant_id=merchant_id, kind=voucher["kind"], currency=voucher["currency"],
            value=voucher["face_value"], campaign_id=voucher["campaign_id"], customer_id=voucher["customer_id"],
            funding=voucher["funding"], funding_agreement_id=voucher["funding_agreement_id"],
            approval_id=funding["approval_id"], issued_at=now))
        self.metrics.count("vowrewards_vouchers_issued_total", "Vouchers issued", kind=voucher["kind"])
        return dump_voucher(voucher, now)

    def _insert_with_unique_code(self, voucher):
        # 75 random bits make a collision all but impossible; the constraint decides anyway
        for _ in range(5):
            voucher["code"] = generate_code()
            self.db.execute("SAVEPOINT issue")
            try:
                storage.insert_voucher(self.db, voucher)
                return
            except psycopg2.errors.UniqueViolation:
                self.db.execute("ROLLBACK TO SAVEPOINT issue")
        raise Conflict("Could not find a free voucher code; try again", code="code_space_exhausted")

    def _authorize_issue(self, data, merchant_id, reference, count=1):
        """Who funds these vouchers, asked of the campaign service (off the till's path).

        It checks the campaign, commits the vouchers' value against the funding agreement that
        pays for them (never past its budget), and uses up a platform approval for vouchers above
        the merchant's ceiling; the vouchers then carry the agreement. Should this issue fail
        after that, the commitment stays: an agreement is under-used, never overdrawn.
        """
        return self.campaign.authorize_issuance({
            "reference": reference, "merchant_id": merchant_id, "campaign_id": data.get("campaign_id"),
            "approval_id": data.get("approval_id"), "kind": data["kind"], "currency": data["currency"],
            "value": data.get("value"), "cap": data.get("cap"), "uses_allowed": data["uses_allowed"],
            "count": count})

    @rpc
    def issue_batch(self, data):
        """Queue a batch of vouchers; answers at once with a job to poll."""
        identity = self.caller.require(*OWNERS)
        loaded = load(IssueBatchSchema, data)
        merchant_id = identity.merchant_scope(loaded["merchant_id"])
        job_id = new_id()
        funding = self._authorize_issue(loaded, merchant_id, job_id, count=loaded["count"])
        job = {"id": job_id, "merchant_id": merchant_id, "requested": loaded["count"],
               "template": jobs.template_for(data, funding), "created_by": identity.actor()}
        storage.insert_job(self.db, job)
        return IssueJobSchema().dump(storage.job_by_id(self.db, job["id"]))

    @rpc
    def get_issue_job(self, job_id, merchant_id=None):
        identity = self.caller.require(OWNER, FINANCE, ADMIN)
        return IssueJobSchema().dump(self._job_for(identity, job_id, merchant_id))

    def _job_for(self, identity, job_id, merchant_id=None):
        job = storage.job_by_id(self.db, require_id(job_id, "job_id"))
        if job is None or str(job["merchant_id"]) != identity.merchant_scope(merchant_id):
            raise NotFound("No issue job %s" % job_id, code="job_not_found")
        return job

    @rpc
    def export_batch_codes(self, job_id, merchant_id=None):
        """The codes of a finished batch as CSV, each with its signed QR payload."""
        identity = self.caller.require(*OWNERS)
        job = self._job_for(identity, job_id, merchant_id)
        if job["status"] != "completed":
            raise Conflict("The batch is %s (%d of %d issued)" % (job["status"], job["issued"], job["requested"]),
                           code="job_not_finished")
        rows, after = [], None
        while True:
            chunk = storage.batch_vouchers(self.db, job["id"], after)
            if not chunk:
                break
            rows.extend(chunk)
            after = chunk[-1]["code"]
        return exports.codes_csv(rows, self.qr.sign)

    @timer(interval=1)
    def work_on_issue_jobs(self):
        deadline = time.monotonic() + jobs.WORK_SECONDS
        while time.monotonic() < deadline:
            job = storage.claim_job(self.db, jobs.STALE_SECONDS)
            if job is None:
                return
            issued = job["issued"]
            while issued < job["requested"]:
                rows = jobs.voucher_rows(job, min(jobs.CHUNK, job["requested"] - issued), utcnow())
                inserted = set(storage.insert_vouchers(self.db, rows))
                storage.record_issue(self.db, [r["id"] for r in rows if r["code"] in inserted],
                                     job["created_by"], "issued in batch")
                issued += len(inserted)
                done = issued >= job["requested"]
                out_of_time = time.monotonic() >= deadline
                # handed back as queued when out of time, so the next tick (anywhere) goes on at once
                status = "completed" if done else ("queued" if out_of_time else "running")
                storage.job_progress(self.db, job["id"], issued, status)
                if done:
                    self.events.emit(VoucherBatchIssued.of(
                        batch_id=job["id"], merchant_id=job["merchant_id"], count=issued,
                        campaign_id=job["template"]["request"].get("campaign_id"),
                        funding=job["template"]["funding"],
                        funding_agreement_id=job["template"].get("funding_agreement_id")))
                self.db.commit()  # each chunk is durable on its own
                eventlet.sleep(0)  # let the tills in
                if out_of_time:
                    return

    @timer(interval=60)
    def expire_vouchers(self):
        """Vouchers past their end become expired, with a history line saying so."""
        rows = storage.expire_due_vouchers(self.db)
        storage.record_expiries(self.db, rows, Identity.system(self.name).actor())
        for row in rows:
            self.events.emit(unused_voucher(VoucherExpired, row))

    # -- looking vouchers up -------------------------------------------------------------
    @rpc
    def get_voucher(self, code, merchant_id=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        voucher = self._voucher_for(identity, normalize_code(code), merchant_id)
        masked = not sees_codes(identity)
        result = dump_voucher(voucher, masked=masked)
        result["history"] = [
            {"from_status": h["from_status"], "to_status": h["to_status"], "actor": h["actor"],
             "reason": h["reason"], "at": h["at"].isoformat()}
            for h in storage.voucher_history(self.db, voucher["id"])]
        result["external_codes"] = [
            {"format": e["format"], "value": mask_text(e["value"]) if masked else e["value"], "issuer": e["issuer"],
             "created_at": e["created_at"].isoformat()}
            for e in storage.external_codes_of(self.db, voucher["id"])]
        return result

    @rpc
    def list_vouchers(self, filters=None):
        identity = self.caller.require(*BACK_OFFICE)
        merchant_id, filters = self.scoped(identity, VoucherFilterSchema, filters)
        masked = not sees_codes(identity)
        return storage.list_vouchers(self.db, merchant_id, filters, lambda row: dump_voucher(row, masked=masked))

    def _voucher_for(self, identity, code, merchant_id=None, lock=False):
        voucher = storage.voucher_by_code(self.db, code, lock=lock)
        scope = identity.merchant_scope(merchant_id) if identity.is_platform else identity.merchant_id
        # another merchant's voucher looks exactly like a voucher that does not exist
        if voucher is None or str(voucher["merchant_id"]) != scope:
            raise not_found()
        return voucher

    @rpc
    def qr_payload(self, code, options=None):
        """The signed text a voucher's QR code carries (short-lived when ``ttl`` is given): issuers only,
        like the code itself (the barcode images are drawn from this answer's ``code``)."""
        identity = self.caller.require(*OWNERS)
        options = load(QrRequestSchema, options or {})
        voucher = self._voucher_for(identity, normalize_code(code), options.get("merchant_id"))
        expires_at = utcnow() + timedelta(seconds=options["ttl"]) if options.get("ttl") else None
        return {"code": voucher["code"], "display_code": format_code(voucher["code"]),
                "payload": self.qr.sign(voucher["code"], expires_at),
                "expires_at": expires_at.isoformat() if expires_at else None}

    @rpc
    def add_external_code(self, code, data, merchant_id=None):
        """Register a partner's code (e.g. their own QR) as another way to present a voucher."""
        identity = self.caller.require(*OWNERS)
        data = load(ExternalCodeSchema, data)
        voucher = self._voucher_for(identity, normalize_code(code), merchant_id)
        if is_valid_code(data["value"]) or looks_like_signed_payload(data["value"]):
            raise ValidationFailed("That is a VowRewards code already", code="external_code_invalid",
                                   fields={"value": ["Use a partner's code, not one of ours."]})
        inserted = storage.insert_external_code(self.db, dict(
            data, id=new_id(), voucher_id=voucher["id"], merchant_id=str(voucher["merchant_id"]),
            created_by=identity.actor()))
        if not inserted:
            raise Conflict("That partner code is registered already", code="external_code_taken",
                           fields={"value": ["Already registered."]})
        return self.get_voucher(voucher["code"], merchant_id)

    @rpc
    def cancel_voucher(self, code, data, merchant_id=None):
        identity = self.caller.require(*OWNERS)
        data = load(Reason, data)
        voucher = self._voucher_for(identity, normalize_code(code), merchant_id, lock=True)
        if voucher["status"] in (domain.REDEEMED, domain.CANCELLED):
            raise Conflict("This voucher is %s" % voucher["status"], code="voucher_%s" % voucher["status"])
        storage.set_voucher_status(self.db, voucher["id"], domain.CANCELLED)
        storage.record_status_change(self.db, voucher["id"], voucher["status"], domain.CANCELLED,
                                     identity.actor(), data["reason"])
        self.events.emit(unused_voucher(VoucherCancelled, voucher, reason=data["reason"]))
        return self.get_voucher(voucher["code"], merchant_id)

    # -- the redemption panel --------------------------------------------------------------
    @staticmethod
    def _load_presentation(schema, photo_schema, presentation, image_texts):
        """Texts read from a photo come only as the RPC's own ``image_texts`` argument (the
        gateway's upload path sets it); inside a presentation they are an unknown field."""
        if image_texts is None:
            return load(schema, presentation)
        return load(photo_schema, dict(presentation or {}, image_texts=image_texts))

    def _present(self, identity, data, store_id, now, lock=False, key=None):
        """The voucher a presentation names, checked for its PIN; failures are counted.

        Unknown codes, forged QRs and wrong PINs count against the user, the store
        and the voucher; the count is committed even though the request is refused.
        Every text of a photo that names no voucher is a guess and counts, even
        when another text of it names one. A user or store that is locked (or must
        wait) hears that first.
        """
        voucher, guesses = None, 1
        try:
            code, method, misses = self._resolve(identity, data)
            if code is None:
                guesses = max(misses, 1)
                raise not_found()
            if misses:
                self._count_failures(identity, store_id, now, misses)
            voucher = storage.voucher_at_till(self.db, code, identity.user_id, store_id, key, lock)
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
                self.db.rollback()
                attempts.check_allowed(self.db, identity, store_id, now)  # locked: say so, count nothing
                attempts.record_failure(self.db, self.events, identity, store_id, now, voucher, failures=guesses)
                self.db.commit()
                self.metrics.count("vowrewards_redemption_failed_attempts_total", "Failed code/PIN attempts",
                                   amount=guesses, reason=error.code)
            raise

    def _count_failures(self, identity, store_id, now, failures):
        """Count guesses that came beside a real code, whatever happens to this request next."""
        attempts.check_allowed(self.db, identity, store_id, now)  # locked: say so, count nothing
        attempts.record_failure(self.db, self.events, identity, store_id, now, None, failures=failures)
        self.db.commit()
        self.metrics.count("vowrewards_redemption_failed_attempts_total", "Failed code/PIN attempts",
                           amount=failures, reason="voucher_not_found")

    def _resolve(self, identity, data):
        """``(code, method, misses)``: the voucher code a presentation names (None: none), how it
        was presented, and how many texts of a photo named no voucher."""
        if data.get("code"):
            return normalize_code(data["code"]), "pin" if data.get("pin") else "code", 0
        if data.get("qr_payload"):
            return self.qr.verify(data["qr_payload"]), "qr", 0
        texts = list(dict.fromkeys(text.strip() for text in data.get("image_texts") or [data["scanned_text"]]))
        if len(texts) == 1:
            code, method = self._code_for_text(identity, texts[0])
            return code, "image" if data.get("image_texts") else method, 0 if code else 1
        # several codes in one photo: each must name a voucher of this merchant, or it was a guess
        found, misses = None, 0
        for text in texts:
            code = self._known_code(identity, text)
            if code is None:
                misses += 1
            elif found is None:
                found = code
        return found, "image", misses

    def _code_for_text(self, identity, text):
        """What one scanned text names: our signed QR, our code, or a partner's registered code."""
        if looks_like_signed_payload(text):
            return self.qr.verify(text), "qr"
        if is_valid_code(text):
            return normalize_code(text), "barcode"
        return storage.voucher_code_for_external(self.db, identity.merchant_id, text), "external_qr"

    def _known_code(self, identity, text):
        """The code of this merchant's voucher that ``text`` names, or None (forged and expired QRs too)."""
        try:
            code, _ = self._code_for_text(identity, text)
        except AppError:
            return None
        if code is None:
            return None
        voucher = storage.voucher_by_code(self.db, code)
        return code if voucher is not None and str(voucher["merchant_id"]) == identity.merchant_id else None

    def _store_for(self, identity, data):
        if identity.role == STORE_USER:
            if data.get("store_id") and data["store_id"] != identity.store_id:
                raise Forbidden("You redeem for your own store only", code="store_forbidden")
            if not identity.store_id:
                raise Forbidden("Your user is not bound to a store", code="store_required")
            return identity.store_id
        if not data.get("store_id"):
            raise ValidationFailed("Say which store is redeeming", code="store_required",
                                   fields={"store_id": ["Required for owners."]})
        return data["store_id"]

    @rpc
    def validate(self, presentation, image_texts=None):
        """Look up a presented voucher and say what it can be redeemed for, or why not.

        ``image_texts``: what the gateway read from an uploaded photo, instead of a code.
        """
        identity = self.caller.require(*TILLS)
        data = self._load_presentation(PresentationSchema, PhotoPresentationSchema, presentation, image_texts)
        store_id = self._store_for(identity, data)
        now = utcnow()
        voucher, method = self._present(identity, data, store_id, now)
        result = {"voucher": dump_voucher(voucher, now, masked=not self._told_code(identity, method)),
                  "method": method, "store_id": store_id}
        try:
            result["redeemable"] = domain.redeemable_summary(voucher, now, store_id)
            if data.get("purchase_amount") is not None and voucher["kind"] != domain.STORED_VALUE:
                result["redeemable"]["discount"] = domain.discount_for(voucher, data["purchase_amount"])
            self._check_customer(voucher, data)
            if any(data.get(field) for field in ("amount", "points", "purchase_amount")):
                # what confirming exactly this would do, or precisely why it would be refused
                plan = domain.plan_redemption(voucher, now, store_id, amount=data.get("amount"),
                                              purchase_amount=data.get("purchase_amount"), points=data.get("points"))
                result["would_redeem"] = {"amount": plan.amount, "points": plan.points,
                                          "points_value": plan.points_value, "balance_after": plan.balance}
            result["ok"], result["reason"] = True, None
        except (Conflict, Forbidden, Locked, ValidationFailed) as refusal:
            result.update(ok=False, reason={"code": refusal.code, "message": refusal.message})
        return result

    def _check_customer(self, voucher, data, lock=False):
        """A voucher bound to a customer, or limited per customer, needs to know who is redeeming."""
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
            # two tills must not both let the same customer past the limit
            self.db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("limit:%s:%s" % (scope_id, customer_id),))
        if storage.customer_redemptions(self.db, scope_column, scope_id, customer_id) >= limit:
            raise Conflict("This customer has reached the limit of %d for this offer" % limit, code="limit_reached")
        return customer_id

    def _told_code(self, identity, method):
        """Whether an answer at the till may show the whole code: to issuers, and to a till that
        was just shown the code itself (typed, scanned or our QR; not a partner's code or a photo)."""
        return sees_codes(identity) or method in PRESENTED_CODE

    @rpc
    def redeem(self, request, image_texts=None):
        """Confirm a redemption: the voucher row is locked, so money moves once.

        ``image_texts``: what the gateway read from an uploaded photo, instead of a code.
        The answer shows the code as the till presented it; the record read later is masked."""
        identity = self.caller.require(*TILLS)
        answer = self._redeem(request, image_texts)
        if not self._told_code(identity, answer["method"]):
            answer = dict(answer, voucher_code=mask_code(answer["voucher_code"]), voucher_code_masked=True)
        return answer

    def _redeem(self, request, image_texts=None):
        identity = self.caller.require(*TILLS)
        data = self._load_presentation(RedeemSchema, PhotoRedeemSchema, request, image_texts)
        store_id = self._store_for(identity, data)
        now = utcnow()
        key = data.get("idempotency_key")
        voucher, method = self._present(identity, data, store_id, now, lock=True, key=key)
        fingerprint = request_fingerprint(data, store_id, voucher["code"]) if key else None
        if voucher["prior"] is not None:
            return self._first_answer(voucher["prior"], fingerprint)
        try:
            customer_id = self._check_customer(voucher, data, lock=True)
            plan = domain.plan_redemption(voucher, now, store_id, amount=data.get("amount"),
                                          purchase_amount=data.get("purchase_amount"), points=data.get("points"))
        except AppError:
            # a copy of this request that we waited for (on the row lock) may have just redeemed it:
            # the lookup above used the snapshot from before the wait, this one is fresh
            prior = storage.prior_redemption(self.db, identity.merchant_id, key) if key else None
            if prior is None:
                raise
            return self._first_answer(prior, fingerprint)
        redemption_id = new_id()
        reservation = None
        if plan.points:
            if not customer_id:
                raise ValidationFailed("Say whose points pay: customer_id", code="customer_required",
                                       fields={"customer_id": ["Required to spend points."]})
            reservation = self.campaign.reserve_points({"customer_id": customer_id, "points": plan.points,
                                                        "reference": redemption_id})
        try:
            redemption = self._record_redemption(identity, voucher, plan, data, store_id, method, now,
                                                 redemption_id, customer_id, reservation, key, fingerprint)
        except Exception:
            if reservation:
                self.campaign.release_points(reservation["reservation_id"])  # no points lost
            raise
        if reservation and redemption["id"] != redemption_id:
            self.campaign.release_points(reservation["reservation_id"])  # a concurrent copy already paid
        return redemption

    def _record_redemption(self, identity, voucher, plan, data, store_id, method, now, redemption_id,
                           customer_id, reservation, key, fingerprint):
        redemption = {
            "id": redemption_id, "reference": new_reference(), "voucher_id": voucher["id"],
            "merchant_id": identity.merchant_id, "store_id": store_id, "user_id": identity.user_id,
            "processed_by": {"user_id": identity.user_id, "username": identity.username, "role": identity.role},
            "channel": data["channel"], "method": method, "customer_id": customer_id,
            "amount": plan.amount, "points": plan.points, "points_value": plan.points_value,
            "purchase_amount": data.get("purchase_amount"), "currency": voucher["currency"].strip(),
            "receipt_remarks": data.get("receipt_remarks"),
            "points_reservation_id": reservation["reservation_id"] if reservation else None,
            "idempotency_key": key, "request_hash": fingerprint, "created_at": now,
        }
        try:
            storage.record_redemption(self.db, voucher, plan, identity.actor(), redemption)
        except psycopg2.errors.UniqueViolation:
            # the key was used, just now, by a concurrent request: answer as it was answered
            self.db.execute("ROLLBACK TO SAVEPOINT redemption")
            return self._first_answer(storage.prior_redemption(self.db, identity.merchant_id, key), fingerprint)
        self.events.emit(VoucherRedeemed.of(
            redemption_id=redemption_id, reference=redemption["reference"], voucher_id=voucher["id"],
            merchant_id=redemption["merchant_id"], store_id=store_id, amount=plan.amount,
            currency=redemption["currency"], points=plan.points, points_value=plan.points_value,
            points_reservation_id=redemption["points_reservation_id"], campaign_id=voucher["campaign_id"],
            funding=voucher["funding"], funding_agreement_id=voucher["funding_agreement_id"],
            customer_id=customer_id, channel=redemption["channel"], method=method,
            processed_by=redemption["processed_by"], redeemed_at=now))
        self.metrics.count("vowrewards_redemptions_total", "Redemptions confirmed", channel=data["channel"],
                           method=method)
        return dump_redemption(dict(redemption, voucher_code=voucher["code"], status="completed",
                                    voucher_status=plan.status, voucher_balance=plan.balance))

    def _first_answer(self, prior, fingerprint):
        """A retried request gets the first answer; a different request under its key is refused."""
        if prior["request_hash"] != fingerprint:
            raise ValidationFailed("This Idempotency-Key was used for a different request",
                                   code="idempotency_key_reused", fields={"idempotency_key": ["Already used."]})
        return dump_redemption(storage.redemption_by_id(self.db, prior["id"]))

    @rpc
    def reverse(self, redemption_id, data, merchant_id=None):
        """Undo a redemption within the policy window: the voucher gets its value or use back.

        Owners reverse their own merchant's; a platform admin names the merchant it acts for,
        and the record and the voucher's history say the admin did it."""
        identity = self.caller.require(*OWNERS)
        data = load(Reason, data)
        redemption = self._redemption_for(identity, redemption_id, merchant_id, lock=True)
        voucher = storage.voucher_by_id(self.db, redemption["voucher_id"], lock=True)
        window = timedelta(hours=float(self.config.get("REVERSAL_WINDOW_HOURS", 72)))
        now = utcnow()
        plan = domain.plan_reversal(redemption, voucher, now, window)
        storage.apply_plan(self.db, voucher["id"], plan)
        actor = identity.actor()
        reason = "reversal of %s: %s" % (redemption["reference"], data["reason"])
        if identity.is_platform:
            actor["acting_for_merchant"] = str(redemption["merchant_id"])
            reason += " (by platform %s %s)" % (identity.role, identity.username)
        # always a history line, even when the status stays (a partial reversal): who undid what, and why
        storage.record_status_change(self.db, voucher["id"], voucher["status"], plan.status, actor, reason)
        storage.mark_reversed(self.db, redemption["id"], actor, data["reason"])
        self.events.emit(RedemptionReversed.of(
            redemption_id=redemption["id"], reference=redemption["reference"], voucher_id=voucher["id"],
            merchant_id=redemption["merchant_id"], store_id=redemption["store_id"], amount=redemption["amount"],
            currency=redemption["currency"].strip(), points=redemption["points"],
            points_value=redemption["points_value"], customer_id=redemption["customer_id"],
            campaign_id=voucher["campaign_id"], reason=data["reason"], reversed_by=actor, reversed_at=now))
        return dump_redemption(storage.redemption_by_id(self.db, redemption["id"]))

    def _redemption_for(self, identity, redemption_id, merchant_id=None, lock=False):
        redemption = storage.redemption_by_id(self.db, redemption_id, lock=lock)
        if redemption is None or str(redemption["merchant_id"]) != identity.merchant_scope(merchant_id) or \
                (identity.role == STORE_USER and str(redemption["store_id"]) != identity.store_id):
            raise NotFound("No redemption %s" % redemption_id, code="redemption_not_found")
        return redemption

    # -- records -----------------------------------------------------------------------------
    @rpc
    def get_redemption(self, redemption_id, merchant_id=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        return dump_redemption(self._redemption_for(identity, redemption_id, merchant_id),
                               masked=not sees_codes(identity))

    def _record_filters(self, identity, schema, filters):
        merchant_id, filters = self.scoped(identity, schema, filters)
        if identity.role == STORE_USER:
            filters["store_id"] = identity.store_id
        return merchant_id, filters

    @rpc
    def list_redemptions(self, filters=None):
        identity = self.caller.require(*MERCHANT_STAFF)
        merchant_id, filters = self._record_filters(identity, RedemptionFilterSchema, filters)
        masked = not sees_codes(identity)
        return storage.list_redemptions(self.db, merchant_id, filters, lambda row: dump_redemption(row, masked))

    @rpc
    def redemption_totals(self, filters=None):
        """Totals per store and day, for the portal."""
        identity = self.caller.require(*MERCHANT_STAFF)
        merchant_id, filters = self._record_filters(identity, TotalsFilterSchema, filters)
        rows = storage.totals_by_store_and_day(self.db, merchant_id, filters)
        return {"items": DayTotalSchema(many=True).dump(
            [dict(row, currency=row["currency"].strip()) for row in rows]), "next": None}

    @rpc
    def export_redemptions(self, filters=None):
        identity = self.caller.require(OWNER, FINANCE, STORE_USER, ADMIN)
        merchant_id, filters = self._record_filters(identity, TotalsFilterSchema, filters)
        rows = storage.export_rows(self.db, merchant_id, filters, EXPORT_LIMIT + 1)
        if len(rows) > EXPORT_LIMIT:
            raise ValidationFailed("More than %d redemptions: narrow the period (since/until)" % EXPORT_LIMIT,
                                   code="export_too_large", fields={"since": ["Narrow the period."]})
        return exports.redemptions_csv(rows, masked=not sees_codes(identity))
