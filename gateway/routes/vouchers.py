"""Vouchers and the redemption panel."""
from gateway.http import route
from gateway.routes.base import IDEMPOTENCY_HEADER, Routes
from gateway.schemas import MerchantQuerySchema, page_of
from plumbing.auth import OWNER
from plumbing.validation import load
from services.redemption.schemas import (IssueVoucherSchema, PresentationSchema, RedeemSchema,
                                         RedemptionFilterSchema, RedemptionSchema, VoucherSchema)

TAG_VOUCHERS = "Vouchers"
TAG_REDEMPTIONS = "Redemptions"


class VoucherRoutes(Routes):
    @route("POST", "/api/v1/vouchers", summary="Issue a voucher", tags=[TAG_VOUCHERS],
           body=IssueVoucherSchema, response=VoucherSchema, status=201)
    def issue_voucher(self, request):
        identity = self.identity
        data = self.checked_body(request, IssueVoucherSchema())
        for store_id in data.get("store_ids") or ():
            self.check_store(identity, store_id, data.get("merchant_id"))
        return self.idempotent(request, lambda: (201, self.redemption.issue_voucher(data)))

    @route("GET", "/api/v1/vouchers/<string:code>", summary="Look up a voucher by its code",
           tags=[TAG_VOUCHERS], query=MerchantQuerySchema, response=VoucherSchema)
    def get_voucher(self, request, code):
        self.identity
        return self.redemption.get_voucher(code, request.args.get("merchant_id"))

    @route("POST", "/api/v1/redemptions/validation",
           summary="Look up and validate a presented voucher before confirming",
           tags=[TAG_REDEMPTIONS], body=PresentationSchema)
    def validate_redemption(self, request):
        identity = self.identity
        data = self.checked_body(request, PresentationSchema())
        self._check_redeeming_store(identity, data)
        return self.redemption.validate(data)

    @route("POST", "/api/v1/redemptions", summary="Confirm a redemption (send an Idempotency-Key)",
           tags=[TAG_REDEMPTIONS], body=RedeemSchema, response=RedemptionSchema, status=201)
    def redeem(self, request):
        identity = self.identity
        data = self.checked_body(request, RedeemSchema())
        self._check_redeeming_store(identity, data)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key:
            # the key is stored with the redemption itself, in the same transaction
            data["idempotency_key"] = key
            load(RedeemSchema(), data)
        return 201, self.redemption.redeem(data)

    def _check_redeeming_store(self, identity, data):
        if identity.role == OWNER and data.get("store_id"):
            self.check_store(identity, data["store_id"])

    @route("GET", "/api/v1/redemptions", summary="Redemption records, filtered",
           tags=[TAG_REDEMPTIONS], query=RedemptionFilterSchema, response=page_of(RedemptionSchema))
    def list_redemptions(self, request):
        self.identity
        return self.redemption.list_redemptions(self.checked_query(request, RedemptionFilterSchema()))
