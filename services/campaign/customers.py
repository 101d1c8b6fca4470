"""Customers (members) of a merchant: contact details, tags, tier, email consent; finding them by
phone, email or member id; their page (points, purchases, and their vouchers and tickets asked of
the services that own them); their contact for whoever must reach them; and saved segments.
``svc``: the service's worker.
"""
import logging
import secrets

from nameko.exceptions import RemoteError

from plumbing.auth import ADMIN, BUYER_APP, MERCHANT_STAFF, OWNER, OWNERS, STORE_USER, SYSTEM
from plumbing.errors import AppError, Conflict, Forbidden, NotFound
from plumbing.fields import new_id, utcnow
from plumbing.validation import load, require_id
from services.campaign import domain, storage
from services.campaign.contract.schemas import (ContactSchema, CustomerCreateSchema, CustomerFilterSchema,
                                                CustomerSchema, CustomerUpdateSchema, PointsHistoryQuery,
                                                PointsHistorySchema, PurchaseSchema, SegmentCreateSchema,
                                                SegmentSchema)
from plumbing.fields import MerchantPage

log = logging.getLogger(__name__)
MEMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # nothing read aloud wrongly (no 0/O, 1/I)
CUSTOMER_WRITERS = (OWNER, STORE_USER, ADMIN)


def new_member_id():
    return "M" + "".join(secrets.choice(MEMBER_ALPHABET) for _ in range(9))


def dump_customer(row, **extra):
    return CustomerSchema(exclude=() if extra else ("points", "purchases", "vouchers", "tickets")).dump(
        dict(row, tags=list(row["tags"] or []), **extra))


def dump_points(account):
    return {"balance": account["balance"], "reserved": account["reserved"],
            "available": domain.available(account)}


def dump_line(row):
    return {"id": str(row["id"]) if "id" in row else None, "kind": row["kind"], "points": row["points"],
            "balance_after": row["balance_after"], "reference": row["reference"], "reason": row["reason"],
            "actor": row["actor"], "at": row["created_at"].isoformat()}


def dump_purchase(row, replayed=False):
    return PurchaseSchema().dump(dict(row, currency=row["currency"].strip(), replayed=replayed))


def customer_of(svc, identity, customer_id, merchant_id=None, lock=False):
    customer = storage.customer_by_id(svc.db, require_id(customer_id, "customer_id"), lock=lock)
    if customer is None or str(customer["merchant_id"]) != identity.merchant_scope(merchant_id):
        raise NotFound("No customer %s" % customer_id, code="customer_not_found",
                       fields={"customer_id": ["No such customer."]})
    return customer


def create(svc, data):
    identity = svc.caller.require(*CUSTOMER_WRITERS)
    data = load(CustomerCreateSchema, data)
    merchant_id = identity.merchant_scope(data.pop("merchant_id"))
    customer = dict(data, id=new_id(), merchant_id=merchant_id, member_id=data["member_id"] or new_member_id())
    if not storage.insert_customer(svc.db, customer):
        field = "external_ref" if data["external_ref"] and svc.db.scalar(
            "SELECT 1 FROM customers WHERE merchant_id = %s AND external_ref = %s",
            (merchant_id, data["external_ref"])) else "member_id"
        raise Conflict("A customer with this %s exists already" % field, code="customer_exists",
                       fields={field: ["Already taken."]})
    # a new customer has no vouchers or tickets yet: their page without asking those services
    return read(svc, customer["id"], merchant_id if identity.is_platform else None, new=True)


def update(svc, customer_id, data, merchant_id=None):
    identity = svc.caller.require(*CUSTOMER_WRITERS)
    changes = load(CustomerUpdateSchema, data)
    customer = customer_of(svc, identity, customer_id, merchant_id, lock=True)
    if changes and not storage.update_customer(svc.db, customer["id"], changes):
        raise Conflict("A customer with this external_ref exists already", code="customer_exists",
                       fields={"external_ref": ["Already taken."]})
    return read(svc, customer["id"], merchant_id)


def find(svc, filters):
    identity = svc.caller.require(*MERCHANT_STAFF)
    merchant_id, filters = svc.scoped(identity, CustomerFilterSchema, filters)
    return storage.find_customers(svc.db, merchant_id, filters, dump_customer)


def read(svc, customer_id, merchant_id=None, new=False):
    """The customer's page: points, latest purchases, and their vouchers and tickets."""
    identity = svc.caller.require(*MERCHANT_STAFF)
    customer = customer_of(svc, identity, customer_id, merchant_id)
    customer_id = str(customer["id"])
    points = dump_points(storage.points_account(svc.db, customer_id))
    points["recent"] = [dump_line(row) for row in storage.ledger(svc.db, customer_id, 20)]
    points["expiring"] = [dict(points=lot["points"], expires_at=lot["expires_at"].isoformat())
                          for lot in storage.lots(svc.db, customer_id)]
    purchases = [dump_purchase(row) for row in svc.db.all(
        "SELECT * FROM purchases WHERE customer_id = %s ORDER BY created_at DESC, id DESC LIMIT 10", (customer_id,))]
    scope = {"merchant_id": str(customer["merchant_id"])} if identity.is_platform else {}
    filters = dict(scope, customer_id=customer_id, limit=20)
    return dump_customer(customer, points=points, purchases=purchases,
                         vouchers=[] if new else _ask(svc.redemption.list_vouchers, filters),
                         tickets=[] if new else _ask(svc.support.list_tickets, filters))


def _ask(method, filters):
    """The owning service's list for this customer, with the caller's own rights there; None (the
    answer says so) when it refuses this caller or cannot answer."""
    try:
        return method(filters)["items"]
    except (AppError, RemoteError) as exc:
        log.info("a customer page part is missing: %s", exc)
        return None


def contact(svc, customer_id, merchant_id=None):
    """Name, email, phone and email consent: for a service's own work (a notification), or the
    merchant's staff. The system may leave the merchant out; if it names one, it must be the customer's."""
    identity = svc.caller.require(SYSTEM, BUYER_APP, *MERCHANT_STAFF)
    if identity.role == BUYER_APP and identity.customer_id != require_id(customer_id, "customer_id"):
        # the gateway vouches for a buyer app's X-Customer-Id with this very call
        raise NotFound("No customer %s" % customer_id, code="customer_not_found")
    if identity.role == SYSTEM:
        customer = storage.customer_by_id(svc.db, require_id(customer_id, "customer_id"))
        if customer is None or (merchant_id and str(customer["merchant_id"]) != require_id(merchant_id, "merchant_id")):
            raise NotFound("No customer %s" % customer_id, code="customer_not_found")
    else:
        customer = customer_of(svc, identity, customer_id, merchant_id)
    return ContactSchema().dump(dict(customer, customer_id=customer["id"]))


def points_history(svc, customer_id, query):
    identity = svc.caller.require(*MERCHANT_STAFF, BUYER_APP)
    query = load(PointsHistoryQuery, query or {})
    if identity.role == BUYER_APP and identity.customer_id != require_id(customer_id, "customer_id"):
        raise Forbidden("A buyer app reads its own customer's points only", code="customer_forbidden")
    customer = customer_of(svc, identity, customer_id, query["merchant_id"])
    items, next_cursor = storage.points_history(svc.db, customer["id"], query["cursor"], query["limit"])
    return PointsHistorySchema().dump(dict(
        dump_points(storage.points_account(svc.db, customer["id"])), items=[dump_line(row) for row in items],
        next=next_cursor, expiring=[dict(points=lot["points"], expires_at=lot["expires_at"].isoformat())
                                    for lot in storage.lots(svc.db, customer["id"])]))


# -- segments -------------------------------------------------------------------------------------
def dump_segment(svc, row):
    return SegmentSchema().dump(dict(row, size=storage.segment_size(svc.db, row["merchant_id"], row["rules"],
                                                                     utcnow())))


def create_segment(svc, data):
    identity = svc.caller.require(*OWNERS)
    data = load(SegmentCreateSchema, data)
    segment = {"id": new_id(), "merchant_id": identity.merchant_scope(data["merchant_id"]), "name": data["name"],
               "rules": {k: v for k, v in data["rules"].items() if v is not None}, "created_by": identity.actor()}
    storage.insert_segment(svc.db, segment)
    return get_segment(svc, segment["id"], segment["merchant_id"] if identity.is_platform else None)


def get_segment(svc, segment_id, merchant_id=None):
    identity = svc.caller.require(*MERCHANT_STAFF)
    segment = storage.segment_by_id(svc.db, require_id(segment_id, "segment_id"))
    if segment is None or str(segment["merchant_id"]) != identity.merchant_scope(merchant_id):
        raise NotFound("No segment %s" % segment_id, code="segment_not_found")
    return dump_segment(svc, segment)


def list_segments(svc, filters):
    identity = svc.caller.require(*MERCHANT_STAFF)
    merchant_id, filters = svc.scoped(identity, MerchantPage, filters)
    return storage.list_rows(svc.db, "segments", merchant_id, filters, lambda row: dump_segment(svc, row))
