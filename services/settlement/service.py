"""The settlement service: every redemption becomes money owed, settled in batches."""
from datetime import datetime, timezone

from plumbing.auth import ADMIN, FINANCE, OWNER, SUPPORT_AGENT
from plumbing.entrypoints import rpc
from plumbing.errors import Conflict, Forbidden, NotFound, ValidationFailed
from plumbing.events import event_handler
from plumbing.fields import new_id
from plumbing.service import ServiceBase
from plumbing.validation import load
from services.settlement import domain, storage
from services.settlement.schemas import (BatchSchema, CloseBatchSchema, EntryFilterSchema, EntrySchema,
                                         ExceptionSchema, ListFilterSchema, PayoutAccountOutSchema,
                                         PayoutAccountSchema)

READERS = (OWNER, FINANCE, ADMIN)


def utcnow():
    return datetime.now(timezone.utc)


class SettlementService(ServiceBase):
    name = "settlement"

    # -- the ledger ----------------------------------------------------------------
    @event_handler("redemption", "voucher_redeemed")
    def record_redemption(self, event):
        postings, total = domain.redemption_postings(event)
        entry = {
            "id": new_id(), "merchant_id": event["merchant_id"], "store_id": event.get("store_id"),
            "kind": "redemption", "source_id": event["redemption_id"],
            "source_reference": event.get("reference"), "source_event_id": None,
            "amount": total, "currency": event["currency"], "funding": event.get("funding"),
            "campaign_id": event.get("campaign_id"), "occurred_at": event["redeemed_at"],
            "description": "Redemption %s" % (event.get("reference") or event["redemption_id"]),
        }
        if not storage.insert_entry(self.db, entry, postings):
            # a second, different event for a redemption already in the ledger
            self._raise_exception(domain.DUPLICATE, event["merchant_id"], event.get("store_id"),
                                  None, total, event["currency"],
                                  "Redemption %s was reported twice" % event["redemption_id"],
                                  {"redemption_id": event["redemption_id"]})
            return
        self.events.emit("entry_recorded", {
            "entry_id": entry["id"], "kind": "redemption", "merchant_id": entry["merchant_id"],
            "redemption_id": entry["source_id"], "amount": total, "currency": entry["currency"]})

    @event_handler("redemption", "redemption_reversed")
    def record_reversal(self, event):
        original = storage.entry_for_source(self.db, "redemption", event["redemption_id"])
        if original is None:
            # the redemption's own event has not been handled yet: retry later
            raise LookupError("redemption %s is not in the ledger yet" % event["redemption_id"])
        postings = storage.postings_of(self.db, [original["id"]]).get(str(original["id"]), [])
        mirrored = domain.reversal_postings([(p["account"], p["amount"]) for p in postings])
        entry = {
            "id": new_id(), "merchant_id": event["merchant_id"], "store_id": event.get("store_id"),
            "kind": "reversal", "source_id": event["redemption_id"],
            "source_reference": event.get("reference"), "source_event_id": None,
            "amount": -original["amount"], "currency": original["currency"],
            "funding": original["funding"], "campaign_id": original["campaign_id"],
            "occurred_at": event["reversed_at"],
            "description": "Reversal of %s" % (event.get("reference") or event["redemption_id"]),
        }
        if not storage.insert_entry(self.db, entry, mirrored):
            return
        if original["batch_reference"]:
            self._raise_exception(
                domain.REVERSAL_AFTER_CLOSE, event["merchant_id"], event.get("store_id"),
                {"id": original["batch_id"], "reference": original["batch_reference"]},
                original["amount"], original["currency"],
                "Redemption %s was reversed after batch %s closed; the reversal will be settled in "
                "the next batch" % (event.get("reference") or event["redemption_id"],
                                    original["batch_reference"]),
                {"redemption_id": event["redemption_id"]})

    @rpc
    def list_entries(self, filters=None):
        identity = self.caller.require(*READERS)
        merchant_id, filters = self.scoped(identity, EntryFilterSchema, filters)
        return storage.list_entries(self.db, merchant_id, filters, EntrySchema().dump)

    # -- batches -------------------------------------------------------------------
    @rpc
    def close_batch(self, data):
        """Close the merchant's unbatched entries of a period into a batch (SET-YYYY-MM-NNN)."""
        identity = self.caller.require(FINANCE, ADMIN)
        data = load(CloseBatchSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        now = utcnow()
        start, end = domain.parse_period(data["period"], now)
        storage.lock_merchant_settlement(self.db, merchant_id)
        totals = storage.unbatched_totals(self.db, merchant_id, start, end)
        if data.get("currency"):
            totals = [t for t in totals if t["currency"].strip() == data["currency"]]
        if not totals:
            raise Conflict("Nothing to settle for %s in %s" % ("this merchant", data["period"]),
                           code="nothing_to_settle")
        if len(totals) > 1:
            raise ValidationFailed("Entries in several currencies: say which to settle",
                                   code="currency_required",
                                   fields={"currency": ["One of %s." % ", ".join(
                                       t["currency"].strip() for t in totals)]})
        account = storage.payout_account(self.db, merchant_id)
        problem = domain.payout_problem(account)
        batch = {
            "id": new_id(), "merchant_id": merchant_id, "period": data["period"],
            "period_start": start, "period_end": end, "currency": totals[0]["currency"].strip(),
            "total": int(totals[0]["total"]), "entry_count": totals[0]["entries"],
            "status": "exception" if problem else "payout_pending",
            "closed_by": identity.actor(), "closed_at": now,
        }
        batch["reference"] = domain.batch_reference(data["period"],
                                                    storage.next_batch_number(self.db, data["period"]))
        storage.insert_batch(self.db, batch)
        storage.assign_entries(self.db, batch, totals[0]["entry_ids"])
        self.events.emit("batch_closed", {
            "batch_id": batch["id"], "reference": batch["reference"], "merchant_id": merchant_id,
            "period": batch["period"], "total": batch["total"], "currency": batch["currency"],
            "entry_count": batch["entry_count"], "status": batch["status"]})
        exception = None
        if problem:
            exception = self._raise_exception(
                domain.PAYOUT_ACCOUNT_UNCONFIRMED, merchant_id, None, batch, batch["total"],
                batch["currency"], "%s: batch %s cannot be paid out" % (problem, batch["reference"]),
                {"period": batch["period"]})
        result = BatchSchema().dump(batch)
        result["exception"] = exception
        return result

    def _raise_exception(self, kind, merchant_id, store_id, batch, amount, currency, message,
                         details=None):
        exception = {
            "id": new_id(), "kind": kind, "merchant_id": merchant_id, "store_id": store_id,
            "batch_id": batch["id"] if batch else None,
            "batch_reference": batch["reference"] if batch else None,
            "amount": amount, "currency": currency, "message": message, "details": details or {},
        }
        storage.insert_exception(self.db, exception)
        self.events.emit("exception_raised", {
            "exception_id": exception["id"], "kind": kind, "merchant_id": merchant_id,
            "store_id": store_id, "batch_id": exception["batch_id"],
            "batch_reference": exception["batch_reference"], "amount": amount, "currency": currency,
            "message": message})
        self.metrics.count("vowrewards_settlement_exceptions_total", "Settlement exceptions raised",
                           kind=kind)
        return {"id": exception["id"], "kind": kind, "message": message}

    @rpc
    def list_batches(self, filters=None):
        identity = self.caller.require(*READERS)
        merchant_id, filters = self.scoped(identity, ListFilterSchema, filters)
        return storage.list_batches(self.db, merchant_id, filters, BatchSchema().dump)

    @rpc
    def get_batch(self, reference):
        identity = self.caller.require(*READERS + (SUPPORT_AGENT,))
        batch = storage.batch_by_reference(self.db, reference)
        if batch is None or not identity.can_see_merchant(str(batch["merchant_id"])):
            raise NotFound("No batch %s" % reference, code="batch_not_found")
        result = BatchSchema().dump(batch)
        exception = storage.open_exception_for_batch(self.db, batch["id"])
        result["exception"] = ExceptionSchema().dump(exception) if exception else None
        return result

    # -- payout accounts -------------------------------------------------------------
    @rpc
    def set_payout_account(self, data):
        """The owner sets the wallet address payouts go to; it waits for confirmation."""
        identity = self.caller.require(OWNER, ADMIN)
        data = load(PayoutAccountSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        account = storage.upsert_payout_account(self.db, merchant_id, data["wallet_address"],
                                                identity.actor())
        self.events.emit("payout_account_set", {"merchant_id": merchant_id, "status": "unconfirmed"})
        return PayoutAccountOutSchema().dump(account)

    @rpc
    def confirm_payout_account(self, data):
        """A second person (finance or admin) confirms the address by typing it again."""
        identity = self.caller.require(FINANCE, ADMIN)
        data = load(PayoutAccountSchema, data)
        merchant_id = identity.merchant_scope(data["merchant_id"])
        account = storage.payout_account(self.db, merchant_id, lock=True)
        if account is None:
            raise NotFound("No payout wallet address is set up yet", code="payout_account_missing")
        if account["set_by"].get("user_id") == identity.user_id:
            raise Forbidden("Someone other than who entered the address must confirm it",
                            code="four_eyes_required")
        if account["wallet_address"] != data["wallet_address"]:
            raise ValidationFailed("That is not the address on file", code="wallet_address_mismatch",
                                   fields={"wallet_address": ["Does not match the address on file."]})
        account = storage.confirm_payout_account(self.db, merchant_id, identity.actor())
        self.events.emit("payout_account_confirmed", {"merchant_id": merchant_id})
        return PayoutAccountOutSchema().dump(account)

    @rpc
    def get_payout_account(self, merchant_id=None):
        identity = self.caller.require(*READERS)
        merchant_id = identity.merchant_scope(merchant_id)
        account = storage.payout_account(self.db, merchant_id)
        if account is None:
            raise NotFound("No payout wallet address is set up yet", code="payout_account_missing")
        return PayoutAccountOutSchema().dump(account)

    # -- exceptions ------------------------------------------------------------------
    @rpc
    def list_exceptions(self, filters=None):
        identity = self.caller.require(*READERS + (SUPPORT_AGENT,))
        merchant_id, filters = self.scoped(identity, ListFilterSchema, filters)
        return storage.list_exceptions(self.db, merchant_id, filters, ExceptionSchema().dump)

    @event_handler("support", "ticket_created")
    def link_exception_ticket(self, event):
        exception_id = (event.get("refs") or {}).get("exception_id")
        if exception_id:
            storage.set_exception_ticket(self.db, exception_id, event["reference"])

    @event_handler("support", "ticket_resolved")
    def resolve_exception_from_ticket(self, event):
        """Resolving the support ticket resolves the settlement exception it was opened for."""
        exception_id = (event.get("refs") or {}).get("exception_id")
        if not exception_id:
            return
        resolution = {"ticket": event["reference"], "action": event.get("action"),
                      "resolution": event.get("resolution"), "resolved_by": event.get("resolved_by")}
        if storage.resolve_exception(self.db, exception_id, resolution):
            exception = storage.exception_by_id(self.db, exception_id)
            self.events.emit("exception_resolved", {
                "exception_id": exception_id, "kind": exception["kind"],
                "merchant_id": str(exception["merchant_id"]),
                "batch_reference": exception["batch_reference"], "ticket_reference": event["reference"]})
