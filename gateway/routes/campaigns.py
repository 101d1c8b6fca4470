"""Campaigns: their rules, lifecycle, issuance jobs, analytics and forecast."""
from gateway.http import forward, route
from gateway.routes.base import read_own_field
from gateway.routes.customers import CustomerRoutes
from gateway.schemas import page_of
from plumbing.fields import MerchantQuery
from services.campaign.contract.schemas import (AnalyticsQuery, AnalyticsSchema, CampaignCreateSchema,
                                                CampaignFilterSchema, CampaignSchema, CampaignUpdateSchema,
                                                ForecastSchema, IssuanceJobSchema, IssuanceRequestSchema,
                                                ReasonOptional, StoreAnalyticsQuery, StoreAnalyticsSchema)

TAG_CAMPAIGNS = "Campaigns"
TAG_ANALYTICS = "Analytics"


def change_state(action, summary):
    return forward("POST", "/api/v1/campaigns/<uuid:campaign_id>/" + action, "campaign.change_campaign_state",
                   constants=({"activation": "activate", "pause": "pause", "end": "end"}[action],),
                   merchant_id=True, summary=summary, tags=[TAG_CAMPAIGNS], query=MerchantQuery, body=ReasonOptional,
                   response=CampaignSchema)


class CampaignRoutes(CustomerRoutes):
    """Campaigns; customers, purchases and segments come with them (``gateway.routes.customers``)."""

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

    campaign_analytics = forward(
        "GET", "/api/v1/campaigns/<uuid:campaign_id>/analytics", "campaign.campaign_analytics",
        summary="Issued, redeemed, redemption rate, discount cost, redeemers' and others' purchases, revenue and "
                "repeat_purchase_rate, budget used, forecast, per store and per day",
        tags=[TAG_CAMPAIGNS], query=AnalyticsQuery, response=AnalyticsSchema)

    start_issuance = forward(
        "POST", "/api/v1/campaigns/<uuid:campaign_id>/issuance", "campaign.start_issuance", merchant_id=True,
        summary="Issue the campaign's voucher to one customer, a segment (or its audience) or as anonymous codes: "
                "a job to poll; never past the budget or a customer's limit", tags=[TAG_CAMPAIGNS],
        query=MerchantQuery, body=IssuanceRequestSchema, response=IssuanceJobSchema, status=202)

    get_issuance = forward(
        "GET", "/api/v1/campaigns/<uuid:campaign_id>/issuance/<uuid:job_id>", "campaign.get_issuance",
        merchant_id=True, summary="An issuance job's progress", tags=[TAG_CAMPAIGNS], query=MerchantQuery,
        response=IssuanceJobSchema)

    @route("GET", "/api/v1/analytics",
           summary="A store's figures across the merchant's campaigns over a date range (no store_id: the whole "
                   "merchant's; a store user: their own store's): issued, redeemed, redemption rate, discount cost, "
                   "purchases and revenue of redeemers and others, repeat_purchase_rate per customer over the "
                   "range, per day", tags=[TAG_ANALYTICS], query=StoreAnalyticsQuery, response=StoreAnalyticsSchema)
    def store_analytics(self, request):
        query = request.args.to_dict()
        # the gateway owns stores: another merchant's is not found, whoever asks
        self.check_store(self.identity, read_own_field(StoreAnalyticsQuery, "store_id", query),
                         read_own_field(StoreAnalyticsQuery, "merchant_id", query))
        return self.campaign.store_analytics(query)
