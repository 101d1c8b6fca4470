"""Settlements: the ledger, batches, the payout wallet and exceptions."""
from gateway import storage
from gateway.http import forward, route
from gateway.routes.base import Routes, read_own_field
from gateway.schemas import page_of
from plumbing.auth import ADMIN, OWNER, PLATFORM_FINANCE
from plumbing.errors import Conflict, NotFound, ValidationFailed
from plumbing.fields import MerchantPage, MerchantQuery
from services.settlement.contract.schemas import (BatchSchema, CloseBatchSchema, EntryFilterSchema, EntrySchema,
                                                  ExceptionSchema, ListFilterSchema, PayoutAccountOutSchema,
                                                  PayoutAccountSchema, PayoutConfirmationSchema, PayoutHistorySchema,
                                                  PayoutVerificationSchema)

TAG = "Settlements"
GATEWAY_FILLS = ("contact_email", "merchant_name")  # from the merchant's record, never from a client


class SettlementRoutes(Routes):
    list_entries = forward(
        "GET", "/api/v1/settlements/entries", "settlement.list_entries",
        summary="Ledger entries (one per redemption or reversal)", tags=[TAG], query=EntryFilterSchema,
        response=page_of(EntrySchema))

    close_batch = forward(
        "POST", "/api/v1/settlements/batches", "settlement.close_batch",
        summary="Close a settlement batch for a period", tags=[TAG], body=CloseBatchSchema, response=BatchSchema,
        status=201)

    list_batches = forward(
        "GET", "/api/v1/settlements/batches", "settlement.list_batches",
        summary="Settlement batches", tags=[TAG], query=ListFilterSchema, response=page_of(BatchSchema))

    get_batch = forward(
        "GET", "/api/v1/settlements/batches/<string:reference>", "settlement.get_batch", merchant_id=True,
        summary="One batch, e.g. SET-2026-05-004 (numbered per merchant: platform roles name it)",
        tags=[TAG], query=MerchantQuery, response=BatchSchema)

    release_batch = forward(
        "POST", "/api/v1/settlements/batches/<string:reference>/release", "settlement.release_batch",
        merchant_id=True,
        summary="Release a batch held for its payout address, once the address is confirmed and "
                "out of its cooling-off", tags=[TAG], query=MerchantQuery, response=BatchSchema)

    # -- the payout wallet -------------------------------------------------------------
    def _payee(self, merchant_id):
        """The merchant acted on, from the gateway's own records (it owns merchants)."""
        merchant_id = self.identity.merchant_scope(merchant_id)
        merchant = storage.merchant_by_id(self.db, merchant_id)
        if merchant is None:
            raise NotFound("No merchant %s" % merchant_id, code="merchant_not_found")
        return merchant

    get_payout_account = forward(
        "GET", "/api/v1/settlements/payout-account", "settlement.get_payout_account", merchant_id=True,
        summary="The payout wallet", tags=[TAG], query=MerchantQuery, response=PayoutAccountOutSchema)

    @route("PUT", "/api/v1/settlements/payout-account",
           summary="Set or change the payout wallet address (owners). It awaits the platform's "
                   "confirmation and a cooling-off period; the owners and the contact email are told",
           tags=[TAG], body=PayoutAccountSchema, response=PayoutAccountOutSchema)
    def set_payout_account(self, request):
        self.identity.require(OWNER, ADMIN)  # the service checks again; refused before anything is read
        data = self.body(request)
        sent = [name for name in GATEWAY_FILLS if name in data]
        if sent:  # as the body's schema says: no such field
            raise ValidationFailed("Some fields are not valid", fields={name: ["Unknown field."] for name in sent})
        merchant = self._payee(read_own_field(PayoutAccountSchema, "merchant_id", data))
        return self.settlement.set_payout_account(dict(
            data, merchant_id=str(merchant["id"]), contact_email=merchant["contact_email"],
            merchant_name=merchant["name"]))

    @route("POST", "/api/v1/settlements/payout-account/verification",
           summary="Email a one-time code to the merchant's registered contact email (platform finance), "
                   "for the merchant to read back", tags=[TAG], body=MerchantQuery,
           response=PayoutVerificationSchema, status=201)
    def request_payout_verification(self, request):
        self.identity.require(PLATFORM_FINANCE, ADMIN)
        # the body is the gateway's alone: the service is sent what it reads from the merchant's record
        merchant = self._payee(self.body(request, MerchantQuery)["merchant_id"])
        if not merchant["contact_email"]:
            raise Conflict("This merchant has no registered contact email: verify by phone (call_note)",
                           code="contact_email_missing")
        rpc_data = {"merchant_id": str(merchant["id"]), "contact_email": merchant["contact_email"],
                    "merchant_name": merchant["name"]}
        return 201, self.settlement.request_payout_verification(rpc_data)

    confirm_payout_account = forward(
        "POST", "/api/v1/settlements/payout-account/confirmation", "settlement.confirm_payout_account",
        roles=(PLATFORM_FINANCE, ADMIN),  # the service checks again
        summary="Confirm the payout wallet address (platform finance): the address typed again, and "
                "the emailed code the merchant read back or a note of the call", tags=[TAG],
        body=PayoutConfirmationSchema, response=PayoutAccountOutSchema)

    payout_account_history = forward(
        "GET", "/api/v1/settlements/payout-account/history", "settlement.payout_account_history",
        summary="Who set the payout address, who checked it and how, who confirmed it, when",
        tags=[TAG], query=MerchantPage, response=page_of(PayoutHistorySchema))

    list_exceptions = forward(
        "GET", "/api/v1/settlements/exceptions", "settlement.list_exceptions",
        summary="Settlement exceptions", tags=[TAG], query=ListFilterSchema, response=page_of(ExceptionSchema))
