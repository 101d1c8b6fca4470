"""Campaigns, customers (members) and their points."""
from gateway.http import forward
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import ADMIN, OWNER
from plumbing.fields import MerchantPage, MerchantQuery
from services.campaign.contract.schemas import (CampaignCreateSchema, CampaignFilterSchema, CampaignSchema,
                                                CampaignUpdateSchema, CustomerCreateSchema, CustomerSchema,
                                                ForecastSchema, PointsAdjustmentResultSchema, PointsAdjustmentSchema,
                                                ReasonOptional)

TAG_CAMPAIGNS = "Campaigns"
TAG_CUSTOMERS = "Customers"


def change_state(action, summary):
    return forward("POST", "/api/v1/campaigns/<uuid:campaign_id>/" + action, "campaign.change_campaign_state",
                   constants=({"activation": "activate", "pause": "pause", "end": "end"}[action],),
                   merchant_id=True, summary=summary, tags=[TAG_CAMPAIGNS], query=MerchantQuery, body=ReasonOptional,
                   response=CampaignSchema)


class CampaignRoutes(Routes):
    create_campaign = forward(
        "POST", "/api/v1/campaigns", "campaign.create_campaign",
        summary="Create a campaign (a draft): merchant-funded, or under a funding agreement the platform granted",
        tags=[TAG_CAMPAIGNS], body=CampaignCreateSchema, response=CampaignSchema, status=201)

    list_campaigns = forward(
        "GET", "/api/v1/campaigns", "campaign.list_campaigns",
        summary="Campaigns", tags=[TAG_CAMPAIGNS], query=CampaignFilterSchema, response=page_of(CampaignSchema))

    get_campaign = forward(
        "GET", "/api/v1/campaigns/<uuid:campaign_id>", "campaign.get_campaign", merchant_id=True,
        summary="One campaign: its rules, budget committed and spent, and who changed its state",
        tags=[TAG_CAMPAIGNS], query=MerchantQuery, response=CampaignSchema)

    update_campaign = forward(
        "PATCH", "/api/v1/campaigns/<uuid:campaign_id>", "campaign.update_campaign", merchant_id=True,
        summary="Change a campaign (what is given; not once ended; reward, start, stores and time zone not "
                "while active)", tags=[TAG_CAMPAIGNS], query=MerchantQuery, body=CampaignUpdateSchema,
        response=CampaignSchema)

    activate_campaign = change_state("activation", "Activate a draft or paused campaign (scheduled when its start "
                                                   "is ahead); 409 names the state it is in")
    pause_campaign = change_state("pause", "Pause a scheduled or active campaign: its vouchers are refused at "
                                           "the till until it is activated again")
    end_campaign = change_state("end", "End a campaign for good")

    campaign_forecast = forward(
        "GET", "/api/v1/campaigns/<uuid:campaign_id>/forecast", "campaign.campaign_forecast", merchant_id=True,
        summary="When the budget runs out at the current pace (exhausted_at, or null), and the pace assumed",
        tags=[TAG_CAMPAIGNS], query=MerchantQuery, response=ForecastSchema)

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
