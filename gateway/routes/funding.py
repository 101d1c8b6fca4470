"""Platform money and large vouchers: funding agreements, issuance approvals, per-merchant limits.

The platform side (admins, platform finance) grants agreements, approves vouchers above a
merchant's ceiling and sets the limits; owners read their own and ask for approvals.
"""
from gateway import storage
from gateway.http import route
from gateway.routes.base import Routes
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
        data = self.checked_body(request, AgreementCreateSchema)
        self._known_merchant(data["merchant_id"])
        return 201, self.campaign.create_agreement(data)

    @route("GET", "/api/v1/funding-agreements",
           summary="Funding agreements (owners: their merchant's; the platform: all, or one merchant's)",
           tags=[TAG_AGREEMENTS], query=AgreementFilterSchema, response=page_of(AgreementSchema))
    def list_agreements(self, request):
        self.identity
        return self.campaign.list_agreements(self.checked_query(request, AgreementFilterSchema))

    @route("GET", "/api/v1/funding-agreements/<uuid:agreement_id>",
           summary="One funding agreement: budget, committed, remaining, and every change",
           tags=[TAG_AGREEMENTS], response=AgreementSchema)
    def get_agreement(self, request, agreement_id):
        self.identity
        return self.campaign.get_agreement(str(agreement_id))

    def _change_agreement(self, request, agreement_id, action):
        self.identity
        data = self.checked_body(request, Reason)
        return 200, self.campaign.change_agreement_status(str(agreement_id), action, data)

    @route("POST", "/api/v1/funding-agreements/<uuid:agreement_id>/suspension",
           summary="Suspend an agreement: no new vouchers under it until resumed", tags=[TAG_AGREEMENTS],
           body=Reason, response=AgreementSchema)
    def suspend_agreement(self, request, agreement_id):
        return self._change_agreement(request, agreement_id, "suspend")

    @route("POST", "/api/v1/funding-agreements/<uuid:agreement_id>/resumption",
           summary="Resume a suspended agreement", tags=[TAG_AGREEMENTS], body=Reason,
           response=AgreementSchema)
    def resume_agreement(self, request, agreement_id):
        return self._change_agreement(request, agreement_id, "resume")

    @route("POST", "/api/v1/funding-agreements/<uuid:agreement_id>/end",
           summary="End an agreement for good (vouchers already issued keep their value)", tags=[TAG_AGREEMENTS],
           body=Reason, response=AgreementSchema)
    def end_agreement(self, request, agreement_id):
        return self._change_agreement(request, agreement_id, "end")

    # -- issuance approvals ----------------------------------------------------------------
    @route("POST", "/api/v1/issuance-approvals",
           summary="Ask the platform to approve vouchers above the merchant's value ceiling (owners)",
           tags=[TAG_APPROVALS], body=ApprovalRequestSchema, response=ApprovalSchema, status=201)
    def request_approval(self, request):
        self.identity
        data = self.checked_body(request, ApprovalRequestSchema)
        return 201, self.campaign.request_issuance_approval(data)

    @route("GET", "/api/v1/issuance-approvals",
           summary="Issuance approvals (owners: their merchant's; the platform: all, or one merchant's)",
           tags=[TAG_APPROVALS], query=ApprovalFilterSchema, response=page_of(ApprovalSchema))
    def list_approvals(self, request):
        self.identity
        return self.campaign.list_issuance_approvals(self.checked_query(request, ApprovalFilterSchema))

    @route("GET", "/api/v1/issuance-approvals/<uuid:approval_id>", summary="One issuance approval",
           tags=[TAG_APPROVALS], response=ApprovalSchema)
    def get_approval(self, request, approval_id):
        self.identity
        return self.campaign.get_issuance_approval(str(approval_id))

    def _decide(self, request, approval_id, decision):
        self.identity
        data = self.checked_body(request, DecisionSchema)
        return 200, self.campaign.decide_issuance_approval(str(approval_id), decision, data)

    @route("POST", "/api/v1/issuance-approvals/<uuid:approval_id>/approval",
           summary="Approve (platform admins and finance)", tags=[TAG_APPROVALS], body=DecisionSchema,
           response=ApprovalSchema)
    def approve(self, request, approval_id):
        return self._decide(request, approval_id, "approve")

    @route("POST", "/api/v1/issuance-approvals/<uuid:approval_id>/rejection",
           summary="Reject (platform admins and finance)", tags=[TAG_APPROVALS], body=DecisionSchema,
           response=ApprovalSchema)
    def reject(self, request, approval_id):
        return self._decide(request, approval_id, "reject")

    # -- per-merchant limits ---------------------------------------------------------------
    @route("GET", "/api/v1/merchant-limits/<uuid:merchant_id>",
           summary="A merchant's voucher value ceiling and daily limit of manual points credits",
           tags=[TAG_LIMITS], response=MerchantLimitsSchema)
    def get_merchant_limits(self, request, merchant_id):
        self.identity
        return self.campaign.get_merchant_limits(str(merchant_id))

    @route("PUT", "/api/v1/merchant-limits/<uuid:merchant_id>",
           summary="Set a merchant's limits (platform admins and finance; null: the default)",
           tags=[TAG_LIMITS], body=MerchantLimitsChangeSchema, response=MerchantLimitsSchema)
    def set_merchant_limits(self, request, merchant_id):
        self.identity.require(ADMIN, PLATFORM_FINANCE)
        data = self.checked_body(request, MerchantLimitsChangeSchema)
        self._known_merchant(str(merchant_id))
        return self.campaign.set_merchant_limits(str(merchant_id), data)
