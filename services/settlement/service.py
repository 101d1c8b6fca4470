"""The settlement service: every redemption becomes money owed, settled in batches."""
import logging
from datetime import timedelta

from nameko.dependency_providers import Config
from nameko.timer import timer

from plumbing import config as cfg
from plumbing.auth import FINANCE, MONEY_READERS, OWNER, OWNERS, PLATFORM_MONEY, SUPPORT_AGENT, Identity
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from plumbing.events import event_handler
from plumbing.fields import MerchantPage, new_id, utcnow
from plumbing.hashing import SHORT_SECRETS
from plumbing.idempotency import idempotent
from plumbing.rpc import RpcProxy
from plumbing.service import ServiceBase
from plumbing.validation import load, require_id
from services.redemption.contract.events import RedemptionReversed, VoucherRedeemed
from services.settlement import batches, domain, ledger, payouts, schedules, statements, storage
from services.settlement.contract.enums import CONFIRMED, HOLDING_KINDS, REJECTED
from services.settlement.contract.events import (PayoutAccountConfirmed, PayoutAccountRejected, PayoutAccountSet,
                                                 PayoutVerificationRequested)
from services.settlement.contract.schemas import (BalanceQuerySchema, BalancesSchema, BatchSchema, EntryFilterSchema,
                                                  EntrySchema, ExceptionFilterSchema, ExceptionSchema,
                                                  LedgerVerificationSchema, ListFilterSchema, ParkedEntrySchema,
                                                  ParkedFilterSchema, PayoutAccountOutSchema,
                                                  PayoutConfirmationSchema, PayoutHistorySchema, PayoutRejectionSchema,
                                                  PayoutSimulationSchema, PayoutVerificationRpcSchema,
                                                  PayoutVerificationSchema, ResolveExceptionSchema, ScheduleOutSchema,
                                                  ScheduleSchema, SetPayoutAccountSchema)
from services.settlement.exceptions import exception_resolved
from services.support.contract.events import TicketCreated, TicketResolved

# timers read the environment when the class is made (nameko's timer takes a number)
SCHEDULE_INTERVAL = cfg.env_float("SETTLEMENT_SCHEDULE_INTERVAL", 30)
PAYOUT_INTERVAL = cfg.env_float("SETTLEMENT_PAYOUT_INTERVAL", 2)

log = logging.getLogger(__name__)


class SettlementService(ServiceBase):
    name = "settlement"
    config = Config()
    campaign = RpcProxy("campaign")      # funding agreements' terms (commission), asked as settlement
    redemption = RpcProxy("redemption")  # its own totals, for reconciliation

    # -- the ledger (services/settlement/ledger.py) -----------------------------------------
    @event_handler(VoucherRedeemed, batch=True)  # one merchant's entries serialise on its chain head
    def record_redemption(self, event):
        ledger.book_redemption(self, event)

    @event_handler(RedemptionReversed)
    def record_reversal(self, event):
        ledger.book_reversal(self, event)

    @rpc
    def list_entries(self, filters=None):
        identity = self.caller.require(*MONEY_READERS)
        merchant_id, filters = self.scoped(identity, EntryFilterSchema, filters)
        if filters.get("period"):
            schedule = storage.schedule(self.db, merchant_id)
            _, filters["period_start"], filters["period_end"] = domain.period_bounds(
                filters["period"], schedule["time_zone"] if schedule else "UTC")
        return storage.list_entries(self.db, merchant_id, filters, EntrySchema().dump)

    @rpc
    def get_balances(self, query=None):
        """Each account's balance and each store's, as of ``at`` (default now)."""
        identity = self.caller.require(*MONEY_READERS)
        merchant_id, query = self.scoped(identity, BalanceQuerySchema, query)
        at = query["at"] or utcnow()
        return BalancesSchema().dump({
            "merchant_id": merchant_id, "at": at, "store_id": query["store_id"],
            "accounts": storage.balances(self.db, merchant_id, at, query["store_id"]),
            "stores": storage.store_balances(self.db, merchant_id, at, query["store_id"])})

    @rpc
    def verify_ledger(self, merchant_id=None):
        """Walk the merchant's hash chain: an edited, removed or reordered entry is found."""
        identity = self.caller.require(*MONEY_READERS)
        merchant_id = identity.merchant_scope(merchant_id)
        result = ledger.verify(self.db, merchant_id)
        if not result["valid"]:
            self.metrics.count("vowrewards_settlement_ledger_breaks_total", "Ledger chains found broken")
        return LedgerVerificationSchema().dump(result)

    @rpc
    def list_parked_entries(self, filters=None):
        """Events settlement could not book (no account for them), waiting for an operator."""
        identity = self.caller.require(*MONEY_READERS)
        merchant_id, filters = self.scoped(identity, ParkedFilterSchema, filters)
        return storage.list_parked_entries(self.db, merchant_id, filters, ParkedEntrySchema().dump)

    @rpc
    def book_parked_entry(self, parked_id):
        """The platform books a parked event once its account exists (e.g. the agreement is known)."""
        identity = self.caller.require(*PLATFORM_MONEY)
        row = ledger.book_parked(self, require_id(parked_id, "parked_id"), identity)
        return ParkedEntrySchema().dump(row)

    # -- periods and batches (services/settlement/batches.py) ----------------------------------
    @rpc
    @idempotent
    def close_batch(self, data):
        """Close the merchant's unbatched entries up to a period's end into a batch (SET-YYYY-MM-NNN)."""
        return batches.close(self, data)

    @rpc
    def list_batches(self, filters=None):
        """A merchant's batches; platform finance and admins, naming no merchant, see every merchant's."""
        identity = self.caller.require(*MONEY_READERS)
        merchant_id, filters = self._across(identity, ListFilterSchema, filters)
        return storage.list_batches(self.db, merchant_id, filters, BatchSchema(exclude=("lines", "transitions")).dump)

    def _across(self, identity, schema, filters):
        """The merchant a list is of, or None: every merchant, for the platform's money roles."""
        if identity.role in PLATFORM_MONEY and not (filters or {}).get("merchant_id"):
            loaded = load(schema, filters or {})
            loaded.pop("merchant_id")
            return None, loaded
        return self.scoped(identity, schema, filters)

    def _batch(self, identity, reference, merchant_id):
        merchant_id = identity.merchant_scope(merchant_id)
        batch = storage.batch_by_reference(self.db, merchant_id, reference)
        if batch is None:
            raise NotFound("No batch %s" % reference, code="batch_not_found")
        return batch

    @rpc
    def get_batch(self, reference, merchant_id=None):
        """One batch of a merchant with its lines and transitions (references are numbered per
        merchant: platform roles name it)."""
        identity = self.caller.require(*MONEY_READERS + (SUPPORT_AGENT,))
        return batches.dump(self, self._batch(identity, reference, merchant_id))

    @rpc
    def get_statement(self, reference, merchant_id=None):
        """The batch's statement: lines per store and counterparty, totals, payouts, exceptions."""
        identity = self.caller.require(*MONEY_READERS)
        batch = self._batch(identity, reference, merchant_id)
        return statements.statement(self, batch)

    @rpc
    def get_statement_csv(self, reference, merchant_id=None):
        identity = self.caller.require(*MONEY_READERS)
        batch = self._batch(identity, reference, merchant_id)
        return statements.statement_csv(statements.statement(self, batch))

    @rpc
    @idempotent
    def release_batch(self, reference, merchant_id=None):
        """A batch held for its payout address becomes payable once the address is confirmed by
        the platform and out of its cooling-off; until then this is refused, saying why."""
        return batches.release(self, reference, merchant_id)

    @rpc
    def get_schedule(self, merchant_id=None):
        identity = self.caller.require(*MONEY_READERS)
        merchant_id = identity.merchant_scope(merchant_id)
        schedule = storage.schedule(self.db, merchant_id)
        if schedule is None:
            raise NotFound("No settlement schedule: periods are closed on demand", code="schedule_missing")
        return ScheduleOutSchema().dump(schedule)

    @rpc
    def set_schedule(self, data):
        """How often the merchant's periods close (daily, weekly, monthly) and in which time zone;
        the timer closes each period as it ends."""
        identity = self.caller.require(FINANCE, OWNER, *PLATFORM_MONEY)
        data = load(ScheduleSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        domain.zone(data["time_zone"])
        next_close_at = domain.next_period_end(data["frequency"], utcnow(), data["time_zone"])
        return ScheduleOutSchema().dump(storage.set_schedule(
            self.db, merchant_id, data["frequency"], data["time_zone"], next_close_at, identity.actor()))

    @rpc
    def delete_schedule(self, merchant_id=None):
        """Stop closing the merchant's periods on a schedule: from now on they are closed on demand."""
        identity = self.caller.require(FINANCE, OWNER, *PLATFORM_MONEY)
        merchant_id = identity.merchant_scope(merchant_id)
        removed = storage.delete_schedule(self.db, merchant_id)
        if removed is None:
            raise NotFound("No settlement schedule: periods are closed on demand", code="schedule_missing")
        log.info("settlement schedule of merchant %s (%s, %s) removed by %s %s", merchant_id, removed["frequency"],
                 removed["time_zone"], identity.role, identity.user_id)
        return None

    @timer(interval=SCHEDULE_INTERVAL)
    def close_ended_periods(self):
        """Close every scheduled period that has ended (each currency), then schedule the next."""
        schedules.close_due(self)

    @timer(interval=PAYOUT_INTERVAL)
    def move_batches_on(self):
        """Finish closings, release what nothing holds any more, and pay what is due."""
        batches.advance_held(self)
        payouts.pay_due(self)

    @rpc
    def set_payout_simulation(self, data):
        """Tell the development payout provider how to answer this merchant's payouts."""
        identity = self.caller.require(*PLATFORM_MONEY)
        data = load(PayoutSimulationSchema, data)
        if self.config.get("PAYOUT_PROVIDER", "devpay") != "devpay":
            raise Conflict("Payouts go to a real provider here", code="payout_simulation_unavailable")
        return payouts.set_simulation(self.db, identity.merchant_scope(data["merchant_id"]), data, identity.actor())

    # -- payout accounts -------------------------------------------------------------
    # Where a merchant is paid changes only by its owner (or an admin naming it), and is confirmed
    # only by the platform: the owner can create finance users, so nobody of the merchant confirms.
    def _account_out(self, account, now=None):
        result = PayoutAccountOutSchema().dump(dict(account, payable_from=domain.payable_from(account)))
        result["payable"] = domain.payout_problem(account, now or utcnow()) is None
        return result

    def _history(self, merchant_id, action, account, identity, details, now):
        storage.record_payout_history(self.db, merchant_id, action, account["wallet_address"],
                                      identity.actor(), details, now)

    @rpc
    def set_payout_account(self, data):
        """The owner sets or changes the wallet address payouts go to. It waits for the platform's
        confirmation, and payouts to it wait out a cooling-off period; the owners are told."""
        identity = self.caller.require(*OWNERS)
        data = load(SetPayoutAccountSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        now = utcnow()
        current = storage.payout_account(self.db, merchant_id, lock=True)
        if current is not None and current["wallet_address"] == data["wallet_address"] and \
                current["status"] != REJECTED:
            return self._account_out(current, now)  # the same address again changes nothing
        # (a rejected one submitted again goes back to the platform, as any new address does)
        hours = float(self.config.get("PAYOUT_COOLING_OFF_HOURS", 72))
        account = storage.upsert_payout_account(self.db, merchant_id, data["wallet_address"], identity.actor(),
                                                now, now + timedelta(hours=hours))
        storage.supersede_verifications(self.db, merchant_id, now)
        previous = current["wallet_address"] if current else None
        self._history(merchant_id, "set", account, identity, {
            "previous_address": previous, "cooling_off_until": account["cooling_off_until"].isoformat()}, now)
        self.events.emit(PayoutAccountSet.of(
            merchant_id=merchant_id, status=account["status"],
            wallet_address=domain.mask_address(account["wallet_address"]),
            previous_address=domain.mask_address(previous) if previous else None, set_by=identity.actor(),
            set_at=now, cooling_off_until=account["cooling_off_until"], contact_email=data["contact_email"],
            merchant_name=data["merchant_name"]))
        return self._account_out(account, now)

    @rpc
    @idempotent
    def request_payout_verification(self, data):
        """Platform finance has a one-time code emailed to the merchant's registered contact (the
        gateway names it from its records); the merchant reads it back to confirm the address."""
        identity = self.caller.require(*PLATFORM_MONEY)
        data = load(PayoutVerificationRpcSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        account = self._unconfirmed_account(merchant_id)
        now = utcnow()
        code = domain.new_verification_code()
        storage.supersede_verifications(self.db, merchant_id, now)
        verification = {
            "id": new_id(), "merchant_id": merchant_id, "wallet_address": account["wallet_address"],
            "code_hash": SHORT_SECRETS.hash(code), "sent_to": data["contact_email"],
            "requested_by": identity.actor(), "requested_at": now,
            "expires_at": now + timedelta(minutes=float(self.config.get("PAYOUT_CODE_MINUTES", 30))),
            "max_attempts": int(self.config.get("PAYOUT_CODE_TRIES", 5)),
        }
        storage.insert_verification(self.db, verification)
        sent_to = domain.mask_email(data["contact_email"])
        self._history(merchant_id, "verification_requested", account, identity, {
            "verification_id": verification["id"], "method": "email_code", "sent_to": sent_to,
            "expires_at": verification["expires_at"].isoformat()}, now)
        # the code travels only to the notification service, which emails it; never to the caller
        self.events.emit(PayoutVerificationRequested.of(
            verification_id=verification["id"], merchant_id=merchant_id, merchant_name=data["merchant_name"],
            contact_email=data["contact_email"], code=domain.spoken(code), expires_at=verification["expires_at"],
            wallet_address=account["wallet_address"]))
        return PayoutVerificationSchema().dump(dict(verification, sent_to=sent_to))

    @rpc(sensitive_arguments=("data.code",))
    def confirm_payout_account(self, data):
        """Platform finance confirms the address, typed again, with the evidence of an out-of-band
        check: the code the merchant read back (email_code) or a note of the call (call_note)."""
        identity = self.caller.require(*PLATFORM_MONEY)
        data = load(PayoutConfirmationSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        account = self._unconfirmed_account(merchant_id)
        if account["set_by"].get("user_id") == identity.user_id:
            raise Forbidden("Someone other than who entered the address must confirm it",
                            code="four_eyes_required")
        if account["wallet_address"] != data["wallet_address"]:
            raise ValidationFailed("That is not the address on file", code="wallet_address_mismatch",
                                   fields={"wallet_address": ["Does not match the address on file."]})
        now = utcnow()
        if data["method"] == "email_code":
            verification = self._checked_code(merchant_id, account, identity, data["code"], now)
            confirmation = {"method": "email_code", "verification_id": str(verification["id"]),
                            "sent_to": domain.mask_email(verification["sent_to"])}
        else:
            confirmation = {"method": "call_note", "call_note": data["call_note"]}
        account = storage.confirm_payout_account(self.db, merchant_id, identity.actor(), confirmation, now)
        self._history(merchant_id, "confirmed", account, identity, confirmation, now)
        self.events.emit(PayoutAccountConfirmed.of(
            merchant_id=merchant_id, wallet_address=domain.mask_address(account["wallet_address"]),
            method=data["method"], confirmed_by=identity.actor(), confirmed_at=now,
            payable_from=domain.payable_from(account)))
        return self._account_out(account, now)

    @rpc
    def reject_payout_account(self, data):
        """Platform finance rejects the submitted address (typed again) with a reason the merchant sees:
        it is never paid to, and the merchant sets another, which waits for the platform as any does."""
        identity = self.caller.require(*PLATFORM_MONEY)
        data = load(PayoutRejectionSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        account = self._unconfirmed_account(merchant_id)
        if account["wallet_address"] != data["wallet_address"]:
            raise ValidationFailed("That is not the address on file", code="wallet_address_mismatch",
                                   fields={"wallet_address": ["Does not match the address on file."]})
        now = utcnow()
        account = storage.reject_payout_account(self.db, merchant_id, identity.actor(), data["reason"], now)
        storage.supersede_verifications(self.db, merchant_id, now)  # a code sent for it confirms nothing now
        self._history(merchant_id, "rejected", account, identity, {"reason": data["reason"]}, now)
        self.events.emit(PayoutAccountRejected.of(  # the owners hear of it
            merchant_id=merchant_id, wallet_address=domain.mask_address(account["wallet_address"]),
            reason=data["reason"], rejected_by=identity.actor(), rejected_at=now))
        return self._account_out(account, now)

    def _unconfirmed_account(self, merchant_id):
        account = storage.payout_account(self.db, merchant_id, lock=True)
        if account is None:
            raise NotFound("No payout wallet address is set up yet", code="payout_account_missing")
        if account["status"] == CONFIRMED:
            raise Conflict("The payout wallet address is already confirmed", code="payout_account_confirmed")
        if account["status"] == REJECTED:
            raise Conflict("The payout wallet address was rejected (%s): the merchant must set another"
                           % account["rejection_reason"], code="payout_account_rejected")
        return account

    def _checked_code(self, merchant_id, account, identity, code, now):
        """The pending verification, if ``code`` is its code. A refusal is recorded (and a wrong
        try counted) although the request fails: kept with ``despite_failure``."""
        verification = storage.pending_verification(self.db, merchant_id)
        refusal = domain.verification_refusal(verification, account, now)
        if refusal is None and SHORT_SECRETS.matches(verification["code_hash"], domain.normalise_code(code)):
            storage.finish_verification(self.db, verification["id"], "used", now)
            return verification
        if refusal is not None:
            reason, error = refusal
            if verification is None:
                raise error

            def record(tx):
                storage.finish_verification(tx, verification["id"], reason, now)
                self._failed_try(tx, merchant_id, account, identity, verification, {"reason": reason}, now)
        else:
            # the row is locked: this is the try it will count
            error = domain.wrong_code(verification["attempts"] + 1, verification["max_attempts"])

            def record(tx):
                attempts, max_attempts = storage.count_wrong_code(tx, verification["id"], now)
                self._failed_try(tx, merchant_id, account, identity, verification, {
                    "reason": "wrong_code", "attempts": attempts, "max_attempts": max_attempts}, now)
        self.db.despite_failure(record)
        raise error

    def _failed_try(self, tx, merchant_id, account, identity, verification, details, now):
        storage.record_payout_history(tx, merchant_id, "verification_failed", account["wallet_address"],
                                      identity.actor(), dict(details, verification_id=str(verification["id"])), now)

    @rpc
    def get_payout_account(self, merchant_id=None):
        identity = self.caller.require(*MONEY_READERS)
        merchant_id = identity.merchant_scope(merchant_id)
        account = storage.payout_account(self.db, merchant_id)
        if account is None:
            raise NotFound("No payout wallet address is set up yet", code="payout_account_missing")
        return self._account_out(account)

    @rpc
    def payout_account_history(self, filters=None):
        """Who set the address, who checked it with the merchant and how, who confirmed it, when."""
        identity = self.caller.require(*MONEY_READERS)
        merchant_id, filters = self.scoped(identity, MerchantPage, filters)
        return storage.list_payout_history(self.db, merchant_id, filters, PayoutHistorySchema().dump)

    # -- exceptions ------------------------------------------------------------------
    @rpc
    def list_exceptions(self, filters=None):
        identity = self.caller.require(*MONEY_READERS + (SUPPORT_AGENT,))
        merchant_id, filters = self._across(identity, ExceptionFilterSchema, filters)
        return storage.list_exceptions(self.db, merchant_id, filters, ExceptionSchema().dump)

    @rpc
    def resolve_exception(self, exception_id, data):
        """Finance resolves an exception directly, with a note (its ticket is told). Only the platform
        resolves what holds money (a merchant's finance would be paying itself)."""
        identity = self.caller.require(FINANCE, *PLATFORM_MONEY)
        data = load(ResolveExceptionSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        exception = storage.exception_by_id(self.db, require_id(exception_id, "exception_id"), lock=True)
        if exception is None or str(exception["merchant_id"]) != merchant_id:
            raise NotFound("No exception %s" % exception_id, code="exception_not_found")
        if exception["kind"] in HOLDING_KINDS and not identity.is_platform:
            raise Forbidden("Platform finance resolves an exception that holds a payout", code="platform_required")
        if not storage.resolve_exception(self.db, exception["id"], {
                "action": "resolved_by_finance", "note": data["note"], "resolved_by": identity.actor()}):
            raise Conflict("That exception is resolved already", code="exception_resolved")
        self.events.emit(exception_resolved(exception, ticket_reference=exception["ticket_reference"]))
        self._after_resolution(exception, identity)
        return ExceptionSchema().dump(storage.exception_by_id(self.db, exception["id"]))

    def _after_resolution(self, exception, identity):
        if exception["batch_id"]:
            batch = storage.batch_by_id(self.db, exception["batch_id"])
            batches.advance(self, batch, identity)

    @event_handler(TicketCreated, when=lambda event: event.refs.get("exception_id"))
    def link_exception_ticket(self, event):
        storage.set_exception_ticket(self.db, event.refs["exception_id"], event.reference)

    @event_handler(TicketResolved, when=lambda event: event.refs.get("exception_id"))
    def resolve_exception_from_ticket(self, event):
        """Resolving the support ticket resolves the settlement exception it was opened for (and a
        batch it held moves on, if nothing else holds it)."""
        exception_id = event.refs["exception_id"]
        resolution = {"ticket": event.reference, "action": event.action, "resolution": event.resolution,
                      "resolved_by": event.resolved_by}
        if storage.resolve_exception(self.db, exception_id, resolution):
            exception = storage.exception_by_id(self.db, exception_id)
            self.events.emit(exception_resolved(exception, ticket_reference=event.reference))
            self._after_resolution(exception, Identity.system(self.name))
