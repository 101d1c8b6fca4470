"""Customers (members) and their points, purchases (the portal's Transactions) and segments."""
from gateway.http import forward
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import ADMIN, OWNER
from plumbing.fields import MerchantPage, MerchantQuery
from services.campaign.contract.schemas import (ContactSchema, CustomerCreateSchema, CustomerFilterSchema,
                                                CustomerSchema, CustomerUpdateSchema, PointsAdjustmentResultSchema,
                                                PointsAdjustmentSchema, PointsHistoryQuery, PointsHistorySchema,
                                                PurchaseCreateSchema, PurchaseFilterSchema, PurchaseSchema,
                                                SegmentCreateSchema, SegmentSchema)

TAG_CUSTOMERS = "Customers"
TAG_PURCHASES = "Purchases"
TAG_SEGMENTS = "Segments"


class CustomerRoutes(Routes):
    create_customer = forward(
        "POST", "/api/v1/customers", "campaign.create_customer",
        summary="Add a customer (member): contact details, tags, email consent", tags=[TAG_CUSTOMERS],
        body=CustomerCreateSchema, response=CustomerSchema, status=201)

    list_customers = forward(
        "GET", "/api/v1/customers", "campaign.list_customers",
        summary="Customers, or find them by phone, email, member id, tag or tier", tags=[TAG_CUSTOMERS],
        query=CustomerFilterSchema, response=page_of(CustomerSchema))

    get_customer = forward(
        "GET", "/api/v1/customers/<uuid:customer_id>", "campaign.get_customer", merchant_id=True,
        summary="A customer's page: points, purchases, vouchers and tickets", tags=[TAG_CUSTOMERS],
        query=MerchantQuery, response=CustomerSchema)

    update_customer = forward(
        "PATCH", "/api/v1/customers/<uuid:customer_id>", "campaign.update_customer", merchant_id=True,
        summary="Change a customer's contact details, tags or email consent", tags=[TAG_CUSTOMERS],
        query=MerchantQuery, body=CustomerUpdateSchema, response=CustomerSchema)

    get_customer_contact = forward(
        "GET", "/api/v1/customers/<uuid:customer_id>/contact", "campaign.get_customer_contact", merchant_id=True,
        summary="How to reach a customer, and whether they agreed to email", tags=[TAG_CUSTOMERS],
        query=MerchantQuery, response=ContactSchema)

    points_history = forward(
        "GET", "/api/v1/customers/<uuid:customer_id>/points", "campaign.points_history",
        summary="A customer's points: balance, reserved, what expires when, and the ledger", tags=[TAG_CUSTOMERS],
        query=PointsHistoryQuery, response=PointsHistorySchema)

    adjust_points = forward(
        "POST", "/api/v1/customers/<uuid:customer_id>/points", "campaign.adjust_points", merchant_id=True,
        roles=(OWNER, ADMIN),  # a till hears "not yours to do" whatever it sends
        summary="Adjust a customer's points by hand (owners; a reason and a once-only reference; "
                "credits within the merchant's daily limit)", tags=[TAG_CUSTOMERS],
        query=MerchantQuery, body=PointsAdjustmentSchema, response=PointsAdjustmentResultSchema)

    customer_purchases = forward(
        "GET", "/api/v1/customers/<uuid:customer_id>/purchases", "campaign.customer_purchases",
        summary="A customer's purchases", tags=[TAG_CUSTOMERS], query=MerchantPage, response=page_of(PurchaseSchema))

    record_purchase = forward(
        "POST", "/api/v1/purchases", "campaign.record_purchase",
        summary="Record a purchase (a till, POS client, app or owner): once per receipt and store; earns points "
                "under the running campaigns' rules", tags=[TAG_PURCHASES], body=PurchaseCreateSchema,
        response=PurchaseSchema, status=201)

    list_purchases = forward(
        "GET", "/api/v1/purchases", "campaign.list_purchases",
        summary="Purchases (a store user: their store's)", tags=[TAG_PURCHASES], query=PurchaseFilterSchema,
        response=page_of(PurchaseSchema))

    create_segment = forward(
        "POST", "/api/v1/segments", "campaign.create_segment",
        summary="Save a segment: customers by tier, tags, visits, spend, days since last purchase",
        tags=[TAG_SEGMENTS], body=SegmentCreateSchema, response=SegmentSchema, status=201)

    list_segments = forward(
        "GET", "/api/v1/segments", "campaign.list_segments",
        summary="Segments, with how many customers are in each now", tags=[TAG_SEGMENTS], query=MerchantPage,
        response=page_of(SegmentSchema))

    get_segment = forward(
        "GET", "/api/v1/segments/<uuid:segment_id>", "campaign.get_segment", merchant_id=True,
        summary="One segment and its size", tags=[TAG_SEGMENTS], query=MerchantQuery, response=SegmentSchema)
