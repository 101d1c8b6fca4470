"""Settlements: the ledger, batches, the payout wallet and exceptions."""
from gateway import storage
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from plumbing.auth import ADMIN, OWNER, PLATFORM_FINANCE
from plumbing.errors import Conflict, NotFound
from plumbing.fields import MerchantPage, MerchantQuery
from services.settlement.contract.schemas import (BatchSchema, CloseBatchSchema, EntryFilterSchema, EntrySchema,
                                                  ExceptionSchema, ListFilterSchema, PayoutAccountOutSchema,
                                                  PayoutAccountSchema, PayoutConfirmationSchema, PayoutHistorySchema,
                                                  PayoutVerificationSchema)

TAG = "Settlements"


class SettlementRoutes(Routes):
    @route("GET", "/api/v1/settlements/entries", summary="Ledger entries (one per redemption or reversal)",
           tags=[TAG], query=EntryFilterSchema, response=page_of(EntrySchema))
    def list_entries(self, request):
        self.identity
        return self.settlement.list_entries(self.checked_query(request, EntryFilterSchema))

    @route("POST", "/api/v1/settlements/batches", summary="Close a settlement batch for a period",
           tags=[TAG], body=CloseBatchSchema, response=BatchSchema, status=201)
    def close_batch(self, request):
        self.identity
        data = self.checked_body(request, CloseBatchSchema)
        return 201, self.settlement.close_batch(data)

    @route("GET", "/api/v1/settlements/batches", summary="Settlement batches", tags=[TAG],
           query=ListFilterSchema, response=page_of(BatchSchema))
    def list_batches(self, request):
        self.identity
        return self.settlement.list_batches(self.checked_query(request, ListFilterSchema))

    @route("GET", "/api/v1/settlements/batches/<string:reference>",
           summary="One batch, e.g. SET-2026-05-004 (numbered per merchant: platform roles name it)",
           tags=[TAG], query=MerchantQuery, response=BatchSchema)
    def get_batch(self, request, reference):
        self.identity
        query = self.checked_query(request, MerchantQuery)
        return self.settlement.get_batch(reference, query.get("merchant_id"))

    @route("POST", "/api/v1/settlements/batches/<string:reference>/release",
           summary="Release a batch held for its payout address, once the address is confirmed and "
                   "out of its cooling-off", tags=[TAG], query=MerchantQuery, response=BatchSchema)
    def release_batch(self, request, reference):
        self.identity
        query = self.checked_query(request, MerchantQuery)
        return self.settlement.release_batch(reference, query.get("merchant_id"))

    # -- the payout wallet -------------------------------------------------------------
    def _payee(self, merchant_id):
        """The merchant acted on, from the gateway's own records (it owns merchants)."""
        merchant_id = self.identity.merchant_scope(merchant_id)
        merchant = storage.merchant_by_id(self.db, merchant_id)
        if merchant is None:
            raise NotFound("No merchant %s" % merchant_id, code="merchant_not_found")
        return merchant

    @route("GET", "/api/v1/settlements/payout-account", summary="The payout wallet", tags=[TAG],
           query=MerchantQuery, response=PayoutAccountOutSchema)
    def get_payout_account(self, request):
        self.identity
        return self.settlement.get_payout_account(self.checked_query(request, MerchantQuery).get("merchant_id"))

    @route("PUT", "/api/v1/settlements/payout-account",
           summary="Set or change the payout wallet address (owners). It awaits the platform's "
                   "confirmation and a cooling-off period; the owners and the contact email are told",
           tags=[TAG], body=PayoutAccountSchema, response=PayoutAccountOutSchema)
    def set_payout_account(self, request):
        self.identity.require(OWNER, ADMIN)  # the service checks again; refused before anything is read
        data = self.checked_body(request, PayoutAccountSchema)
        merchant = self._payee(data.get("merchant_id"))
        # the contact comes from the merchant's record, never from the client (the schema refuses it)
        return self.settlement.set_payout_account(dict(
            data, merchant_id=str(merchant["id"]), contact_email=merchant["contact_email"],
            merchant_name=merchant["name"]))

    @route("POST", "/api/v1/settlements/payout-account/verification",
           summary="Email a one-time code to the merchant's registered contact email (platform finance), "
                   "for the merchant to read back", tags=[TAG], body=MerchantQuery,
           response=PayoutVerificationSchema, status=201)
    def request_payout_verification(self, request):
        self.identity.require(PLATFORM_FINANCE, ADMIN)
        data = self.checked_body(request, MerchantQuery)
        merchant = self._payee(data.get("merchant_id"))
        if not merchant["contact_email"]:
            raise Conflict("This merchant has no registered contact email: verify by phone (call_note)",
                           code="contact_email_missing")
        rpc_data = {"merchant_id": str(merchant["id"]), "contact_email": merchant["contact_email"],
                    "merchant_name": merchant["name"]}
        return 201, self.settlement.request_payout_verification(rpc_data)

    @route("POST", "/api/v1/settlements/payout-account/confirmation",
           summary="Confirm the payout wallet address (platform finance): the address typed again, and "
                   "the emailed code the merchant read back or a note of the call", tags=[TAG],
           body=PayoutConfirmationSchema, response=PayoutAccountOutSchema)
    def confirm_payout_account(self, request):
        self.identity.require(PLATFORM_FINANCE, ADMIN)  # the service checks again
        return self.settlement.confirm_payout_account(self.checked_body(request, PayoutConfirmationSchema))

    @route("GET", "/api/v1/settlements/payout-account/history",
           summary="Who set the payout address, who checked it and how, who confirmed it, when",
           tags=[TAG], query=MerchantPage, response=page_of(PayoutHistorySchema))
    def payout_account_history(self, request):
        self.identity
        return self.settlement.payout_account_history(self.checked_query(request, MerchantPage))

    @route("GET", "/api/v1/settlements/exceptions", summary="Settlement exceptions", tags=[TAG],
           query=ListFilterSchema, response=page_of(ExceptionSchema))
    def list_exceptions(self, request):
        self.identity
        return self.settlement.list_exceptions(self.checked_query(request, ListFilterSchema))
