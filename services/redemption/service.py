"""The redemption service: vouchers and the redemptions that spend them."""
import hashlib
import json
import secrets
from datetime import datetime, timezone

import psycopg2

from plumbing.auth import ADMIN, FINANCE, OWNER, STORE_USER, SUPPORT_AGENT
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, Forbidden, Locked, NotFound, ValidationFailed
from plumbing.fields import new_id
from plumbing.service import ServiceBase
from plumbing.validation import load
from services.redemption import domain, storage
from services.redemption.pins import hash_pin
from services.redemption.codes import format_code, generate_code, normalize_code
from services.redemption.schemas import (IssueVoucherSchema, PresentationSchema, RedeemSchema,
                                         RedemptionFilterSchema, RedemptionSchema, VoucherSchema)

REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def utcnow():
    return datetime.now(timezone.utc)


def dump_voucher(row, now=None):
    data = dict(row, display_code=format_code(row["code"]), has_pin=bool(row.get("pin_hash")),
                status=domain.effective_status(row, now or utcnow()))
    return VoucherSchema().dump(data)


def dump_redemption(row):
    return RedemptionSchema().dump(dict(row, voucher_code=format_code(row["voucher_code"])))


def new_reference():
    return "RD-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))


def request_fingerprint(data, store_id, code):
    """What makes two requests with one idempotency key 'the same request'."""
    keys = ("amount", "purchase_amount", "points", "customer_id", "channel", "receipt_remarks")
    canonical = {key: data.get(key) for key in keys}
    canonical.update(store_id=store_id, code=code)
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class RedemptionService(ServiceBase):
    name = "redemption"

    # -- vouchers --------------------------------------------------------------
    @rpc
    def issue_voucher(self, data):
        identity = self.caller.require(OWNER, ADMIN)
        data = load(IssueVoucherSchema(), data)
        merchant_id = identity.merchant_scope(data.pop("merchant_id"))
        now = utcnow()
        voucher = self._new_voucher(data, merchant_id, identity, now)
        storage.insert_voucher(self.db, voucher)
        storage.record_status_change(self.db, voucher["id"], None, voucher["status"],
                                     identity.actor(), "issued")
        self.events.emit("voucher_issued", {
            "voucher_id": voucher["id"], "merchant_id": merchant_id, "kind": voucher["kind"],
            "currency": voucher["currency"], "value": voucher["face_value"],
            "campaign_id": voucher["campaign_id"], "customer_id": voucher["customer_id"],
            "funding": voucher["funding"], "issued_at": now.isoformat()})
        self.metrics.count("vowrewards_vouchers_issued_total", "Vouchers issued", kind=voucher["kind"])
        return dump_voucher(voucher, now)

    def _new_voucher(self, data, merchant_id, identity, now):
        pin = data.pop("pin", None)
        kind = data["kind"]
        value = data.pop("value")
        state = domain.initial_state(kind, value)
        return dict(
            data, id=new_id(), code=generate_code(), merchant_id=merchant_id, batch_id=None,
            funding="merchant", face_value=value, balance=state["balance"], uses=state["uses"],
            status=state["status"], valid_from=data.get("valid_from") or now,
            pin_hash=None if pin is None else hash_pin(pin), created_by=identity.actor(), created_at=now)

    @rpc
    def get_voucher(self, code, merchant_id=None):
        identity = self.caller.require(OWNER, STORE_USER, SUPPORT_AGENT, FINANCE, ADMIN)
        voucher = self._voucher_for(identity, normalize_code(code), merchant_id)
        result = dump_voucher(voucher)
        result["history"] = [
            {"from_status": h["from_status"], "to_status": h["to_status"], "actor": h["actor"],
             "reason": h["reason"], "at": h["at"].isoformat()}
            for h in storage.voucher_history(self.db, voucher["id"])]
        return result

    def _voucher_for(self, identity, code, merchant_id=None, lock=False):
        voucher = storage.voucher_by_code(self.db, code, lock=lock)
        scope = identity.merchant_scope(merchant_id) if identity.is_admin else identity.merchant_id
        # another merchant's voucher looks exactly like a voucher that does not exist
        if voucher is None or str(voucher["merchant_id"]) != scope:
            raise NotFound("No voucher with this code", code="voucher_not_found",
                           fields={"code": ["No voucher with this code."]})
        return voucher

    # -- the redemption panel ----------------------------------------------------
    @rpc
    def validate(self, presentation):
        """Look up a presented voucher and say what it can be redeemed for, or why not."""
        identity = self.caller.require(STORE_USER, OWNER)
        data = load(PresentationSchema(), presentation)
        store_id = self._store_for(identity, data)
        code, method = self._resolve(data)
        voucher = self._voucher_for(identity, code)
        now = utcnow()
        result = {"voucher": dump_voucher(voucher, now), "method": method, "store_id": store_id}
        try:
            result["redeemable"] = domain.redeemable_summary(voucher, now, store_id)
            if data.get("purchase_amount") is not None and voucher["kind"] != domain.STORED_VALUE:
                result["redeemable"]["discount"] = domain.discount_for(voucher, data["purchase_amount"])
            result["ok"] = True
        except (Conflict, Forbidden, Locked) as refusal:
            result.update(ok=False, reason={"code": refusal.code, "message": refusal.message})
        return result

    @rpc
    def redeem(self, request):
        """Confirm a redemption: the voucher row is locked, so money moves once."""
        identity = self.caller.require(STORE_USER, OWNER)
        data = load(RedeemSchema(), request)
        store_id = self._store_for(identity, data)
        code, method = self._resolve(data)
        now = utcnow()
        voucher = self._voucher_for(identity, code, lock=True)
        key = data.get("idempotency_key")
        fingerprint = request_fingerprint(data, store_id, code) if key else None
        if key:
            prior = storage.redemption_by_key(self.db, identity.merchant_id, key)
            if prior is not None:
                if prior["request_hash"] != fingerprint:
                    raise ValidationFailed(
                        "This Idempotency-Key was used for a different request",
                        code="idempotency_key_reused", fields={"idempotency_key": ["Already used."]})
                return dump_redemption(prior)
        plan = domain.plan_redemption(voucher, now, store_id, amount=data.get("amount"),
                                      purchase_amount=data.get("purchase_amount"),
                                      points=data.get("points"))
        storage.apply_plan(self.db, voucher["id"], plan)
        if plan.status != voucher["status"]:
            storage.record_status_change(self.db, voucher["id"], voucher["status"], plan.status,
                                         identity.actor(), "redemption")
        redemption = {
            "id": new_id(), "reference": new_reference(), "voucher_id": voucher["id"],
            "merchant_id": identity.merchant_id, "store_id": store_id, "user_id": identity.user_id,
            "processed_by": {"user_id": identity.user_id, "username": identity.username,
                             "role": identity.role},
            "channel": data["channel"], "method": method, "customer_id": data.get("customer_id"),
            "amount": plan.amount, "points": plan.points, "points_value": plan.points_value,
            "purchase_amount": data.get("purchase_amount"), "currency": voucher["currency"].strip(),
            "receipt_remarks": data.get("receipt_remarks"), "points_reservation_id": None,
            "idempotency_key": key, "request_hash": fingerprint, "created_at": now,
        }
        try:
            storage.insert_redemption(self.db, redemption)
        except psycopg2.errors.UniqueViolation:
            raise ValidationFailed("This Idempotency-Key was used for a different voucher",
                                   code="idempotency_key_reused",
                                   fields={"idempotency_key": ["Already used."]})
        self.events.emit("voucher_redeemed", {
            "redemption_id": redemption["id"], "reference": redemption["reference"],
            "voucher_id": str(voucher["id"]), "merchant_id": redemption["merchant_id"],
            "store_id": store_id, "amount": plan.amount, "currency": redemption["currency"],
            "points": plan.points, "points_value": plan.points_value,
            "campaign_id": str(voucher["campaign_id"]) if voucher["campaign_id"] else None,
            "funding": voucher["funding"], "customer_id": redemption["customer_id"],
            "channel": redemption["channel"], "processed_by": redemption["processed_by"],
            "redeemed_at": now.isoformat()})
        self.metrics.count("vowrewards_redemptions_total", "Redemptions confirmed",
                           channel=data["channel"])
        return dump_redemption(dict(redemption, voucher_code=voucher["code"], status="completed",
                                    voucher_status=plan.status, voucher_balance=plan.balance))

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

    def _resolve(self, data):
        """The voucher code a presentation names, and how it was presented."""
        if data.get("code"):
            return normalize_code(data["code"]), "code"
        raise ValidationFailed("This way of presenting a voucher is not supported",
                               code="presentation_unsupported")

    # -- records -----------------------------------------------------------------
    @rpc
    def list_redemptions(self, filters=None):
        identity = self.caller.require(OWNER, STORE_USER, FINANCE, SUPPORT_AGENT, ADMIN)
        filters = load(RedemptionFilterSchema(), filters or {})
        merchant_id = identity.merchant_scope(filters.pop("merchant_id"))
        if identity.role == STORE_USER:
            filters["store_id"] = identity.store_id
        return storage.list_redemptions(self.db, merchant_id, filters, dump_redemption)
