"""The ledger: each redemption and reversal booked as balanced postings between its funder, the
redeeming merchant and store, and the platform's fee; an event settlement has no account for is
parked for an operator (with an ``unknown_account`` exception), never dropped.

``svc``: the service's worker (its db, events, metrics and the campaign RPC proxy).
"""
from plumbing.errors import Conflict, NotFound
from plumbing.fields import new_id, utcnow
from services.redemption.contract.events import RedemptionReversed, VoucherRedeemed
from services.settlement import domain, storage
from services.settlement.contract.enums import DUPLICATE, REVERSAL_AFTER_CLOSE, UNKNOWN_ACCOUNT
from services.settlement.contract.events import EntryRecorded
from services.settlement.exceptions import raise_exception


class UnknownAccount(Exception):
    """No account can be trusted for this money (no agreement, or not this merchant's)."""


def funding_terms(svc, event):
    """The funding agreement's terms for a platform- or partner-funded redemption: kept from an
    earlier answer, else asked of the campaign service as settlement itself (and kept; a fee is
    fixed when booked, whatever the agreement says later)."""
    if event.funding not in (domain.PLATFORM, domain.PARTNER):
        return None
    if not event.funding_agreement_id:
        raise UnknownAccount("%s-funded redemption %s names no funding agreement"
                             % (event.funding, event.reference))
    terms = storage.funding_terms(svc.db, event.funding_agreement_id)
    if terms is None:
        try:
            agreement = svc.campaign.get_agreement(event.funding_agreement_id)
        except NotFound:
            raise UnknownAccount("Funding agreement %s is not known to the campaign service"
                                 % event.funding_agreement_id)
        terms = {"agreement_id": agreement["id"], "merchant_id": agreement["merchant_id"],
                 "funder_kind": agreement["funder_kind"], "funder_name": agreement.get("funder_name"),
                 "currency": agreement.get("currency"), "commission_bp": agreement.get("commission_bp") or 0}
        storage.keep_funding_terms(svc.db, terms)
    if str(terms["merchant_id"]) != event.merchant_id or terms["funder_kind"] != event.funding:
        raise UnknownAccount("Funding agreement %s is %s funding for another merchant or funder than redemption %s"
                             % (event.funding_agreement_id, terms["funder_kind"], event.reference))
    if terms.get("currency") and terms["currency"].strip() != event.currency:
        raise UnknownAccount("Funding agreement %s is in %s, redemption %s in %s"
                             % (event.funding_agreement_id, terms["currency"].strip(), event.reference,
                                event.currency))
    return terms


def book_redemption(svc, event, parked=None):
    """Book a ``VoucherRedeemed``; True if booked (False: a duplicate, or parked)."""
    try:
        booking = domain.redemption_booking(event, funding_terms(svc, event))
    except UnknownAccount as unknown:
        if parked is not None:
            raise Conflict("Still no account for it: %s" % unknown, code="account_still_unknown")
        park(svc, "redemption", event, redeemed_payload(event), str(unknown), event.amount + event.points_value,
             {"funding": event.funding, "funding_agreement_id": event.funding_agreement_id})
        return False
    entry = {
        "id": new_id(), "merchant_id": event.merchant_id, "store_id": event.store_id,
        "kind": "redemption", "source_id": event.redemption_id,
        "source_reference": event.reference, "source_event_id": None,
        "amount": booking.amount, "currency": event.currency, "funding": event.funding,
        "counterparty": booking.counterparty, "agreement_id": booking.agreement_id, "funded": booking.funded,
        "fee": booking.fee, "payable": booking.payable, "corrects": None,
        "campaign_id": event.campaign_id, "occurred_at": event.redeemed_at,
        "description": "Redemption %s" % event.reference,
    }
    if not storage.append_entry(svc.db, entry, booking.postings, lead=True):
        # a second, different event for a redemption already in the ledger
        raise_exception(svc, DUPLICATE, event.merchant_id, event.store_id, None, booking.amount, event.currency,
                        "Redemption %s (%s) was reported twice" % (event.reference, event.redemption_id),
                        {"redemption_id": event.redemption_id, "reference": event.reference})
        return False
    svc.events.emit(EntryRecorded.of(
        entry_id=entry["id"], kind="redemption", merchant_id=entry["merchant_id"],
        redemption_id=entry["source_id"], amount=booking.amount, currency=entry["currency"]))
    svc.metrics.count("vowrewards_settlement_entries_total", "Ledger entries booked", kind="redemption")
    return True


def book_reversal(svc, event, parked=None):
    """Book a ``RedemptionReversed`` as the mirror of what it reverses (a linked entry)."""
    original = storage.entry_for_source(svc.db, "redemption", event.redemption_id)
    if original is None:
        if storage.parked_entry(svc.db, "redemption", event.redemption_id):
            if parked is not None:
                raise Conflict("Book the redemption first", code="redemption_parked")
            # its redemption waits for an operator: so does the reversal
            park(svc, "reversal", event, reversed_payload(event), "its redemption %s is parked" % event.reference,
                 -(event.amount + event.points_value), exception=False)
            return False
        # the redemption's own event has not been handled yet: retry later
        raise LookupError("redemption %s is not in the ledger yet" % event.redemption_id)
    postings = storage.postings_of(svc.db, [original["id"]]).get(str(original["id"]), [])
    mirrored = domain.reversal_postings([(p["account"], p["amount"]) for p in postings])
    entry = {
        "id": new_id(), "merchant_id": event.merchant_id, "store_id": original["store_id"],
        "kind": "reversal", "source_id": event.redemption_id,
        "source_reference": event.reference, "source_event_id": None,
        "amount": -original["amount"], "currency": original["currency"].strip(),
        "funding": original["funding"], "counterparty": original["counterparty"],
        "agreement_id": original["agreement_id"], "funded": -original["funded"], "fee": -original["fee"],
        "payable": -original["payable"], "corrects": original["id"], "campaign_id": original["campaign_id"],
        "occurred_at": event.reversed_at, "description": "Reversal of %s" % event.reference,
    }
    if not storage.append_entry(svc.db, entry, mirrored, lead=True):
        return False
    svc.metrics.count("vowrewards_settlement_entries_total", "Ledger entries booked", kind="reversal")
    if original["batch_reference"]:
        raise_exception(
            svc, REVERSAL_AFTER_CLOSE, event.merchant_id, original["store_id"],
            {"id": original["batch_id"], "reference": original["batch_reference"]},
            original["amount"], entry["currency"],
            "Redemption %s was reversed after batch %s closed; the reversal will be settled in "
            "the next batch" % (event.reference, original["batch_reference"]),
            {"redemption_id": event.redemption_id, "reference": event.reference})
    return True


def _redemption_fields(event):
    return {"redemption_id": event.redemption_id, "reference": event.reference, "voucher_id": event.voucher_id,
            "merchant_id": event.merchant_id, "store_id": event.store_id, "amount": event.amount,
            "currency": event.currency, "points": event.points, "points_value": event.points_value,
            "customer_id": event.customer_id, "campaign_id": event.campaign_id}


def redeemed_payload(event):
    """The event as it travelled (kept to book it later)."""
    return VoucherRedeemed.to_wire(VoucherRedeemed.of(
        points_reservation_id=event.points_reservation_id, funding=event.funding,
        funding_agreement_id=event.funding_agreement_id, channel=event.channel, method=event.method,
        processed_by=event.processed_by, redeemed_at=event.redeemed_at, **_redemption_fields(event)))


def reversed_payload(event):
    return RedemptionReversed.to_wire(RedemptionReversed.of(
        reason=event.reason, reversed_by=event.reversed_by, reversed_at=event.reversed_at,
        **_redemption_fields(event)))


def park(svc, kind, event, payload, reason, amount, details=None, exception=True):
    raised = None
    if exception:
        raised = raise_exception(
            svc, UNKNOWN_ACCOUNT, event.merchant_id, event.store_id, None, amount, event.currency,
            "Redemption %s could not be booked: %s. It is parked until an operator books it"
            % (event.reference, reason), dict(details or {}, redemption_id=event.redemption_id,
                                              reference=event.reference))
    storage.park_entry(svc.db, {
        "id": new_id(), "merchant_id": event.merchant_id, "kind": kind, "source_id": event.redemption_id,
        "payload": payload, "reason": reason, "exception_id": raised["id"] if raised else None})


def book_parked(svc, parked_id, identity):
    """An operator books a parked event again (its agreement is known now): the redemption, then
    any reversal parked behind it."""
    row = storage.parked_entry_by_id(svc.db, parked_id, lock=True)
    if row is None or not identity.can_see_merchant(str(row["merchant_id"])):
        raise NotFound("No parked entry %s" % parked_id, code="parked_entry_not_found")
    if row["status"] != "parked":
        raise Conflict("That entry is booked already", code="parked_entry_booked")
    if row["kind"] == "redemption":
        book_redemption(svc, VoucherRedeemed.from_wire(row["payload"]), parked=row)
        storage.mark_parked_booked(svc.db, row["id"], identity.actor())
        reversal = storage.parked_entry(svc.db, "reversal", row["source_id"], lock=True)
        if reversal:
            book_reversal(svc, RedemptionReversed.from_wire(reversal["payload"]), parked=reversal)
            storage.mark_parked_booked(svc.db, reversal["id"], identity.actor())
    else:
        book_reversal(svc, RedemptionReversed.from_wire(row["payload"]), parked=row)
        storage.mark_parked_booked(svc.db, row["id"], identity.actor())
    return storage.parked_entry_by_id(svc.db, parked_id)


def verify(db, merchant_id):
    """Walk a merchant's chain from its first entry: how many entries, and the first break."""
    checked, after, prev, problem = 0, 0, domain.GENESIS, None
    while problem is None:
        rows = storage.chain_of(db, merchant_id, after)
        if not rows:
            break
        for row in rows:
            row["lines"] = [(account, int(amount)) for account, amount in row["lines"]]
        problem = _verify_from(rows, after + 1, prev)
        checked += len(rows) if problem is None else problem["seq"] - after - 1
        after, prev = rows[-1]["seq"], rows[-1]["hash"]
    head = storage.ledger_head(db, merchant_id)
    if problem is None and head is not None and (head["seq"], head["hash"]) != (after, prev):
        problem = {"seq": head["seq"], "entry_id": None, "problem": "entries_missing_at_the_end"}
    return {"merchant_id": str(merchant_id), "entries_checked": checked, "valid": problem is None,
            "head": {"seq": after, "hash": prev if after else None}, "first_problem": problem,
            "verified_at": utcnow()}


def _verify_from(rows, first_seq, prev):
    expected = first_seq
    for row in rows:
        if row["seq"] != expected:
            return {"seq": expected, "entry_id": str(row["id"]), "problem": "entry_missing"}
        if row["prev_hash"] != prev:
            return {"seq": row["seq"], "entry_id": str(row["id"]), "problem": "previous_hash_mismatch"}
        if domain.chain_hash(prev, row, row["lines"]) != row["hash"]:
            return {"seq": row["seq"], "entry_id": str(row["id"]), "problem": "entry_altered"}
        prev, expected = row["hash"], expected + 1
    return None
