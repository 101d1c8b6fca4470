"""Settlements: the ledger, batches, the payout wallet and exceptions."""
from gateway.http import route
from gateway.routes.base import Routes
from gateway.schemas import page_of
from services.settlement.schemas import (BatchSchema, CloseBatchSchema, EntryFilterSchema, EntrySchema,
                                         ExceptionSchema, ListFilterSchema, PayoutAccountOutSchema,
                                         PayoutAccountSchema)

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
        return self.idempotent(request, lambda: (201, self.settlement.close_batch(data)))

    @route("GET", "/api/v1/settlements/batches", summary="Settlement batches", tags=[TAG],
           query=ListFilterSchema, response=page_of(BatchSchema))
    def list_batches(self, request):
        self.identity
        return self.settlement.list_batches(self.checked_query(request, ListFilterSchema))

    @route("GET", "/api/v1/settlements/batches/<string:reference>", summary="One batch, e.g. SET-2026-05-004",
           tags=[TAG], response=BatchSchema)
    def get_batch(self, request, reference):
        self.identity
        return self.settlement.get_batch(reference)

    @route("GET", "/api/v1/settlements/payout-account", summary="The payout wallet", tags=[TAG],
           response=PayoutAccountOutSchema)
    def get_payout_account(self, request):
        self.identity
        return self.settlement.get_payout_account(request.args.get("merchant_id"))

    @route("PUT", "/api/v1/settlements/payout-account",
           summary="Set the payout wallet address (it then awaits confirmation)", tags=[TAG],
           body=PayoutAccountSchema, response=PayoutAccountOutSchema)
    def set_payout_account(self, request):
        self.identity
        return self.settlement.set_payout_account(self.checked_body(request, PayoutAccountSchema))

    @route("POST", "/api/v1/settlements/payout-account/confirmation",
           summary="Confirm the payout wallet address (a second person types it again)", tags=[TAG],
           body=PayoutAccountSchema, response=PayoutAccountOutSchema)
    def confirm_payout_account(self, request):
        self.identity
        return self.settlement.confirm_payout_account(self.checked_body(request, PayoutAccountSchema))

    @route("GET", "/api/v1/settlements/exceptions", summary="Settlement exceptions", tags=[TAG],
           query=ListFilterSchema, response=page_of(ExceptionSchema))
    def list_exceptions(self, request):
        self.identity
        return self.settlement.list_exceptions(self.checked_query(request, ListFilterSchema))
