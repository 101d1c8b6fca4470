"""Purchases (the portal's Transactions): recorded once per receipt and store, they move the
customer's visits, spend and tier, earn points under the campaigns' earning rules, and feed the
campaigns' pre-aggregated analytics. ``svc``: the service's worker.
"""
import hashlib
import json

from plumbing.auth import ADMIN, BUYER_APP, MERCHANT_STAFF, OWNER, POS, STORE_USER, Identity
from plumbing.errors import Forbidden, NotFound, ValidationFailed
from plumbing.fields import new_id, utcnow
from plumbing.validation import load
from services.campaign import analytics, domain, storage
from services.campaign.contract.events import PointsEarned, PurchaseRecorded
from services.campaign.contract.schemas import PurchaseCreateSchema, PurchaseFilterSchema
from services.campaign.customers import customer_of, dump_purchase

RECORDERS = (OWNER, STORE_USER, POS, BUYER_APP, ADMIN)
STORE_BOUND = (STORE_USER, POS)


def store_for(identity, data):
    """A store user's or POS client's own store (naming another is refused); others name one."""
    if identity.role in STORE_BOUND:
        if not identity.store_id:
            raise Forbidden("Your user is not bound to a store", code="store_required")
        if data["store_id"] and data["store_id"] != identity.store_id:
            raise Forbidden("You record purchases of your own store only", code="store_forbidden")
        return identity.store_id
    if not data["store_id"]:
        raise ValidationFailed("Say which store sold it", code="store_required",
                               fields={"store_id": ["Required for this role."]})
    return data["store_id"]


def request_hash(data):
    """What makes a replay the same purchase: everything the till sent but the store and receipt."""
    return hashlib.sha256(json.dumps({k: data[k] for k in (
        "customer_id", "amount", "currency", "items", "redemption_reference")}, sort_keys=True).encode()).hexdigest()


def record(svc, data):
    identity = svc.caller.require(*RECORDERS)
    data = load(PurchaseCreateSchema, data)
    merchant_id = identity.merchant_scope(data.pop("merchant_id"))
    if identity.role == BUYER_APP:
        if data["customer_id"] and data["customer_id"] != identity.customer_id:
            raise Forbidden("A buyer app records its own customer's purchases only", code="customer_forbidden")
        data["customer_id"] = identity.customer_id
    store_id = store_for(identity, data)
    customer = None
    if data["customer_id"]:
        customer = storage.customer_by_id(svc.db, data["customer_id"], lock=True)
        if customer is None or str(customer["merchant_id"]) != merchant_id:
            raise NotFound("No customer %s" % data["customer_id"], code="customer_not_found",
                           fields={"customer_id": ["No such customer."]})
    now = utcnow()
    purchase = dict(data, id=new_id(), merchant_id=merchant_id, store_id=store_id, request_hash=request_hash(data),
                    recorded_by=identity.actor(), created_at=now)
    if not storage.insert_purchase(svc.db, purchase):
        # the same receipt again (a till's retry, a replayed sync): counted once
        prior = storage.purchase_by_receipt(svc.db, merchant_id, store_id, data["receipt_id"])
        domain.check_purchase_replay(prior, purchase["request_hash"])
        return dump_purchase(prior, replayed=True)
    earned, campaign_ids = 0, []
    if customer is not None:
        tier = storage.record_visit(svc.db, customer["id"], data["amount"], now, domain.TIER_DAYS, domain.tier_for)
        earned, campaign_ids = earn(svc, customer, purchase, tier, now)
    analytics.count_purchase(svc.db, purchase, now)
    svc.events.emit(PurchaseRecorded.of(
        purchase_id=purchase["id"], merchant_id=merchant_id, store_id=store_id, customer_id=data["customer_id"],
        amount=data["amount"], currency=data["currency"], receipt_id=data["receipt_id"],
        redemption_reference=data["redemption_reference"]))
    return dump_purchase(storage.purchase_by_id(svc.db, purchase["id"]))


def earn(svc, customer, purchase, tier, now):
    """Points the running points campaigns give this purchase, credited once (by the purchase's id)."""
    points, campaign_ids = 0, []
    for campaign in storage.points_campaigns(svc.db, purchase["merchant_id"], purchase["currency"]):
        if not domain.runs_now(campaign, now, purchase["store_id"]):
            continue
        audience = campaign["audience"]
        if audience:
            rules = audience.get("rules") or (storage.segment_by_id(svc.db, audience["segment_id"]) or {}).get("rules")
            if not storage.in_segment(svc.db, customer["id"], rules, now):
                continue
        gained = domain.points_for(purchase["amount"], campaign["reward"], tier)
        if gained:
            points += gained
            campaign_ids.append(str(campaign["id"]))
    if points:
        storage.points_account(svc.db, customer["id"], lock=True)
        storage.change_points(svc.db, customer["id"], "earn", points, "purchase:%s" % purchase["id"],
                              Identity.system(svc.name).actor(), "receipt %s" % purchase["receipt_id"])
        storage.set_points_earned(svc.db, purchase["id"], points)
        svc.events.emit(PointsEarned.of(
            customer_id=customer["id"], merchant_id=purchase["merchant_id"], purchase_id=purchase["id"],
            store_id=purchase["store_id"], points=points, campaign_ids=campaign_ids))
    return points, campaign_ids


def list_(svc, filters):
    identity = svc.caller.require(*MERCHANT_STAFF)
    merchant_id, filters = svc.scoped(identity, PurchaseFilterSchema, filters)
    if identity.role == STORE_USER:
        filters["store_id"] = identity.store_id
    return storage.list_purchases(svc.db, merchant_id, filters, dump_purchase)


def of_customer(svc, customer_id, filters):
    identity = svc.caller.require(*MERCHANT_STAFF)
    customer = customer_of(svc, identity, customer_id, (filters or {}).get("merchant_id"))
    return list_(svc, dict(filters or {}, customer_id=str(customer["id"])))
