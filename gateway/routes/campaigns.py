"""Campaigns, customers (members) and their points."""
from gateway.http import forward
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import ADMIN, OWNER
from plumbing.fields import MerchantPage, MerchantQuery
from services.campaign.contract.schemas import (CampaignCreateSchema, CampaignSchema, CustomerCreateSchema,
                                                CustomerSchema, PointsAdjustmentResultSchema,
                                                PointsAdjustmentSchema)

TAG_CAMPAIGNS = "Campaigns"
TAG_CUSTOMERS = "Customers"


class CampaignRoutes(Routes):
    create_campaign = forward(
        "POST", "/api/v1/campaigns", "campaign.create_campaign",
        summary="Start a campaign: merchant-funded, or under a funding agreement the platform granted",
        tags=[TAG_CAMPAIGNS], body=CampaignCreateSchema, response=CampaignSchema, status=201)

    list_campaigns = forward(
        "GET", "/api/v1/campaigns", "campaign.list_campaigns",
        summary="Campaigns", tags=[TAG_CAMPAIGNS], query=MerchantPage, response=page_of(CampaignSchema))

    get_campaign = forward(
        "GET", "/api/v1/campaigns/<uuid:campaign_id>", "campaign.get_campaign", merchant_id=True,
        summary="One campaign, with what it has spent", tags=[TAG_CAMPAIGNS], query=MerchantQuery,
        response=CampaignSchema)

    create_customer = forward(
        "POST", "/api/v1/customers", "campaign.create_customer",
        summary="Add a customer (member)", tags=[TAG_CUSTOMERS], body=CustomerCreateSchema, response=CustomerSchema,
        status=201)

    list_customers = forward(
        "GET", "/api/v1/customers", "campaign.list_customers",
        summary="Customers", tags=[TAG_CUSTOMERS], query=MerchantPage, response=page_of(CustomerSchema))

    get_customer = forward(
        "GET", "/api/v1/customers/<uuid:customer_id>", "campaign.get_customer", merchant_id=True,
        summary="One customer with their points", tags=[TAG_CUSTOMERS], query=MerchantQuery, response=CustomerSchema)

    adjust_points = forward(
        "POST", "/api/v1/customers/<uuid:customer_id>/points", "campaign.adjust_points", merchant_id=True,
        roles=(OWNER, ADMIN),  # a till hears "not yours to do" whatever it sends
        summary="Adjust a customer's points by hand (owners; a reason and a once-only reference; "
                "credits within the merchant's daily limit)", tags=[TAG_CUSTOMERS],
        query=MerchantQuery, body=PointsAdjustmentSchema, response=PointsAdjustmentResultSchema)
