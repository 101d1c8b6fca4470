"""Campaigns, customers (members) and their points."""
from gateway.http import route
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
    @route("POST", "/api/v1/campaigns",
           summary="Start a campaign: merchant-funded, or under a funding agreement the platform granted",
           tags=[TAG_CAMPAIGNS], body=CampaignCreateSchema, response=CampaignSchema, status=201)
    def create_campaign(self, request):
        self.identity
        data = self.checked_body(request, CampaignCreateSchema)
        return 201, self.campaign.create_campaign(data)

    @route("GET", "/api/v1/campaigns", summary="Campaigns", tags=[TAG_CAMPAIGNS], query=MerchantPage,
           response=page_of(CampaignSchema))
    def list_campaigns(self, request):
        self.identity
        return self.campaign.list_campaigns(self.checked_query(request, MerchantPage))

    @route("GET", "/api/v1/campaigns/<uuid:campaign_id>", summary="One campaign, with what it has spent",
           tags=[TAG_CAMPAIGNS], query=MerchantQuery, response=CampaignSchema)
    def get_campaign(self, request, campaign_id):
        self.identity
        return self.campaign.get_campaign(str(campaign_id), request.args.get("merchant_id"))

    @route("POST", "/api/v1/customers", summary="Add a customer (member)", tags=[TAG_CUSTOMERS],
           body=CustomerCreateSchema, response=CustomerSchema, status=201)
    def create_customer(self, request):
        self.identity
        data = self.checked_body(request, CustomerCreateSchema)
        return 201, self.campaign.create_customer(data)

    @route("GET", "/api/v1/customers", summary="Customers", tags=[TAG_CUSTOMERS], query=MerchantPage,
           response=page_of(CustomerSchema))
    def list_customers(self, request):
        self.identity
        return self.campaign.list_customers(self.checked_query(request, MerchantPage))

    @route("GET", "/api/v1/customers/<uuid:customer_id>", summary="One customer with their points",
           tags=[TAG_CUSTOMERS], query=MerchantQuery, response=CustomerSchema)
    def get_customer(self, request, customer_id):
        self.identity
        return self.campaign.get_customer(str(customer_id), request.args.get("merchant_id"))

    @route("POST", "/api/v1/customers/<uuid:customer_id>/points",
           summary="Adjust a customer's points by hand (owners; a reason and a once-only reference; "
                   "credits within the merchant's daily limit)", tags=[TAG_CUSTOMERS],
           query=MerchantQuery, body=PointsAdjustmentSchema, response=PointsAdjustmentResultSchema)
    def adjust_points(self, request, customer_id):
        self.identity.require(OWNER, ADMIN)  # a till hears "not yours to do" whatever it sends
        data = self.checked_body(request, PointsAdjustmentSchema)
        return self.campaign.adjust_points(str(customer_id), data, request.args.get("merchant_id"))
