"""Settlements: the ledger, batches, the payout wallet and exceptions."""
from gateway import storage
from gateway.http import forward, route
from gateway.routes.base import Routes, read_own_field
from gateway.routes.vouchers import csv_response
from gateway.schemas import page_of
from plumbing.auth import ADMIN, OWNER, PLATFORM_FINANCE
from plumbing.errors import Conflict, NotFound, ValidationFailed
from plumbing.fields import MerchantPage, MerchantQuery
from plumbing.validation import load
from services.settlement.contract.schemas import (BalanceQuerySchema, BalancesSchema, BatchSchema, CloseBatchSchema,
                                                  EntryFilterSchema, EntrySchema, ExceptionFilterSchema,
                                                  ExceptionSchema, LedgerVerificationSchema, ListFilterSchema,
                                                  ParkedEntrySchema, ParkedFilterSchema, PayoutAccountOutSchema,
                                                  PayoutAccountSchema, PayoutConfirmationSchema, PayoutHistorySchema,
                                                  PayoutRejectionSchema, PayoutSimulationSchema, PayoutVerificationSchema,
                                                  ResolveExceptionSchema, ScheduleOutSchema, ScheduleSchema,
                                                  StatementSchema)

TAG = "Settlements"
GATEWAY_FILLS = ("contact_email", "merchant_name")  # from the merchant's record, never from a client


class SettlementRoutes(Routes):
    list_entries = forward(
        "GET", "/api/v1/settlements/entries", "settlement.list_entries",
        summary="Ledger entries (one per redemption, reversal or payout), by store, period, redemption, batch "
                "or unbatched", tags=[TAG], query=EntryFilterSchema, response=page_of(EntrySchema))

    balances = forward(
        "GET", "/api/v1/settlements/balances", "settlement.get_balances",
        summary="Each ledger account's balance and each store's, as of ?at= (default now), for ?store_id=",
        tags=[TAG], query=BalanceQuerySchema, response=BalancesSchema)

    verify_ledger = forward(
        "GET", "/api/v1/settlements/ledger/verification", "settlement.verify_ledger", merchant_id=True,
        summary="Walk the merchant's hash-chained ledger: an edited, removed or reordered entry is named",
        tags=[TAG], query=MerchantQuery, response=LedgerVerificationSchema)

    list_parked_entries = forward(
        "GET", "/api/v1/settlements/parked-entries", "settlement.list_parked_entries",
        summary="Redemptions settlement could not book (no account for them), waiting for an operator",
        tags=[TAG], query=ParkedFilterSchema, response=page_of(ParkedEntrySchema))

    book_parked_entry = forward(
        "POST", "/api/v1/settlements/parked-entries/<uuid:parked_id>/booking", "settlement.book_parked_entry",
        roles=(PLATFORM_FINANCE, ADMIN), summary="Book a parked redemption once its account is known (platform)",
        tags=[TAG], response=ParkedEntrySchema)

    get_schedule = forward(
        "GET", "/api/v1/settlements/schedule", "settlement.get_schedule", merchant_id=True,
        summary="How often the merchant's settlement periods close", tags=[TAG], query=MerchantQuery,
        response=ScheduleOutSchema)

    set_schedule = forward(
        "PUT", "/api/v1/settlements/schedule", "settlement.set_schedule",
        summary="Close periods daily, weekly or monthly, at midnight in the merchant's time zone",
        tags=[TAG], body=ScheduleSchema, response=ScheduleOutSchema)

    delete_schedule = forward(
        "DELETE", "/api/v1/settlements/schedule", "settlement.delete_schedule", merchant_id=True,
        summary="Stop closing periods on a schedule (they are closed on demand again)", tags=[TAG],
        query=MerchantQuery, status=204)

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

    get_statement = forward(
        "GET", "/api/v1/settlements/batches/<string:reference>/statement.json", "settlement.get_statement",
        merchant_id=True, summary="A batch's statement: lines per store and counterparty, totals, payouts",
        tags=[TAG], query=MerchantQuery, response=StatementSchema)

    @route("GET", "/api/v1/settlements/batches/<string:reference>/statement.csv",
           summary="A batch's statement as CSV (cells never run as spreadsheet formulas)", tags=[TAG],
           query=MerchantQuery, content_type="text/csv")
    def get_statement_csv(self, request, reference):
        merchant_id = load(MerchantQuery, request.args.to_dict(),
                           message="Some query parameters are not valid").get("merchant_id")
        text = self.settlement.get_statement_csv(reference, merchant_id)
        return csv_response(text, "%s.csv" % reference)

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

    reject_payout_account = forward(
        "POST", "/api/v1/settlements/payout-account/rejection", "settlement.reject_payout_account",
        roles=(PLATFORM_FINANCE, ADMIN),  # the service checks again
        summary="Reject the submitted payout wallet address (platform finance): the address typed again and "
                "the reason, which the merchant sees; it is never paid to, and the owner sets another",
        tags=[TAG], body=PayoutRejectionSchema, response=PayoutAccountOutSchema)

    payout_account_history = forward(
        "GET", "/api/v1/settlements/payout-account/history", "settlement.payout_account_history",
        summary="Who set the payout address, who checked it and how, who confirmed it, when",
        tags=[TAG], query=MerchantPage, response=page_of(PayoutHistorySchema))

    list_exceptions = forward(
        "GET", "/api/v1/settlements/exceptions", "settlement.list_exceptions",
        summary="Settlement exceptions", tags=[TAG], query=ExceptionFilterSchema, response=page_of(ExceptionSchema))

    resolve_exception = forward(
        "POST", "/api/v1/settlements/exceptions/<uuid:exception_id>/resolution", "settlement.resolve_exception",
        summary="Resolve an exception directly, with a note (platform finance for one that holds a payout)",
        tags=[TAG], body=ResolveExceptionSchema, response=ExceptionSchema)

    set_payout_simulation = forward(
        "PUT", "/api/v1/settlements/payout-simulation", "settlement.set_payout_simulation",
        roles=(PLATFORM_FINANCE, ADMIN),
        summary="Development payout provider: pay, fail, delay or answer twice for a merchant's payouts",
        tags=[TAG], body=PayoutSimulationSchema, response=PayoutSimulationSchema)
