"""Platform money and large vouchers: funding agreements, issuance approvals, per-merchant limits.

The platform side (admins, platform finance) grants agreements, approves vouchers above a
merchant's ceiling and sets the limits; owners read their own and ask for approvals.
"""
from marshmallow import ValidationError

from gateway import storage
from gateway.http import forward, route
from gateway.routes.base import Routes, read_field
from gateway.schemas import page_of
from plumbing.auth import ADMIN, PLATFORM_FINANCE
from plumbing.errors import NotFound
from plumbing.fields import Reason
from services.campaign.contract.schemas import (AgreementCreateSchema, AgreementFilterSchema, AgreementSchema,
                                                ApprovalFilterSchema, ApprovalRequestSchema, ApprovalSchema,
                                                DecisionSchema, MerchantLimitsChangeSchema, MerchantLimitsSchema)

TAG_AGREEMENTS = "Funding agreements"
TAG_APPROVALS = "Issuance approvals"
TAG_LIMITS = "Merchant limits"


def change_agreement(url, action, summary):
    return forward("POST", url, "campaign.change_agreement_status", constants=(action,),
                   summary=summary, tags=[TAG_AGREEMENTS], body=Reason, response=AgreementSchema)


def decide_approval(url, decision, summary):
    return forward("POST", url, "campaign.decide_issuance_approval", constants=(decision,),
                   summary=summary, tags=[TAG_APPROVALS], body=DecisionSchema, response=ApprovalSchema)


class FundingRoutes(Routes):
    def _known_merchant(self, merchant_id):
        # the gateway owns merchants: an agreement or a limit is only for one that exists
        if merchant_id and storage.merchant_by_id(self.db, merchant_id) is None:
            raise NotFound("No merchant %s" % merchant_id, code="merchant_not_found",
                           fields={"merchant_id": ["No such merchant."]})

    # -- funding agreements ----------------------------------------------------------------
    @route("POST", "/api/v1/funding-agreements",
           summary="Grant a merchant platform or partner funding, with a budget (platform admins and finance)",
           tags=[TAG_AGREEMENTS], body=AgreementCreateSchema, response=AgreementSchema, status=201)
    def create_agreement(self, request):
        self.identity.require(ADMIN, PLATFORM_FINANCE)  # before saying whether the merchant exists
        data = self.body(request)
        try:
            self._known_merchant(read_field(AgreementCreateSchema, "merchant_id", data))
        except ValidationError:
            pass  # not an id: the service refuses the body
        return 201, self.campaign.create_agreement(data)

    list_agreements = forward(
        "GET", "/api/v1/funding-agreements", "campaign.list_agreements",
        summary="Funding agreements (owners: their merchant's; the platform: all, or one merchant's)",
        tags=[TAG_AGREEMENTS], query=AgreementFilterSchema, response=page_of(AgreementSchema))

    get_agreement = forward(
        "GET", "/api/v1/funding-agreements/<uuid:agreement_id>", "campaign.get_agreement",
        summary="One funding agreement: budget, committed, remaining, and every change",
        tags=[TAG_AGREEMENTS], response=AgreementSchema)

    suspend_agreement = change_agreement("/api/v1/funding-agreements/<uuid:agreement_id>/suspension", "suspend",
                                         "Suspend an agreement: no new vouchers under it until resumed")
    resume_agreement = change_agreement("/api/v1/funding-agreements/<uuid:agreement_id>/resumption", "resume",
                                        "Resume a suspended agreement")
    end_agreement = change_agreement("/api/v1/funding-agreements/<uuid:agreement_id>/end", "end",
                                     "End an agreement for good (vouchers already issued keep their value)")

    # -- issuance approvals ----------------------------------------------------------------
    request_approval = forward(
        "POST", "/api/v1/issuance-approvals", "campaign.request_issuance_approval",
        summary="Ask the platform to approve vouchers above the merchant's value ceiling (owners)",
        tags=[TAG_APPROVALS], body=ApprovalRequestSchema, response=ApprovalSchema, status=201)

    list_approvals = forward(
        "GET", "/api/v1/issuance-approvals", "campaign.list_issuance_approvals",
        summary="Issuance approvals (owners: their merchant's; the platform: all, or one merchant's)",
        tags=[TAG_APPROVALS], query=ApprovalFilterSchema, response=page_of(ApprovalSchema))

    get_approval = forward(
        "GET", "/api/v1/issuance-approvals/<uuid:approval_id>", "campaign.get_issuance_approval",
        summary="One issuance approval", tags=[TAG_APPROVALS], response=ApprovalSchema)

    approve = decide_approval("/api/v1/issuance-approvals/<uuid:approval_id>/approval", "approve",
                              "Approve (platform admins and finance)")
    reject = decide_approval("/api/v1/issuance-approvals/<uuid:approval_id>/rejection", "reject",
                             "Reject (platform admins and finance)")

    # -- per-merchant limits ---------------------------------------------------------------
    get_merchant_limits = forward(
        "GET", "/api/v1/merchant-limits/<uuid:merchant_id>", "campaign.get_merchant_limits",
        summary="A merchant's voucher value ceiling and daily limit of manual points credits",
        tags=[TAG_LIMITS], response=MerchantLimitsSchema)

    @route("PUT", "/api/v1/merchant-limits/<uuid:merchant_id>",
           summary="Set a merchant's limits (platform admins and finance; null: the default)",
           tags=[TAG_LIMITS], body=MerchantLimitsChangeSchema, response=MerchantLimitsSchema)
    def set_merchant_limits(self, request, merchant_id):
        self.identity.require(ADMIN, PLATFORM_FINANCE)
        data = self.body(request)
        self._known_merchant(str(merchant_id))
        return self.campaign.set_merchant_limits(str(merchant_id), data)
