"""Payouts: a batch in ``payout_pending`` is paid through a payout provider, once.

The provider interface is ``send(request) -> [answers]`` and ``status(key) -> [answers]``, each
answer ``{"status": accepted|paid|failed, "reference", "message"}``; a provider may answer the same
transfer more than once. Our side of the idempotency: a batch's payout key is ``<batch id>:<attempt>``
and a new attempt (a new key) is made only after the provider said the last one *failed*; the payout
row (with its key) is written before the provider is called, and a provider dedupes by key, so a
retry after a crash pays nothing twice. Nothing is sent while an exception holds the batch, nor to an
address that is not confirmed (or still cooling off): that raises ``payout_blocked``.

``DevPay`` is the development provider: a simulator that really runs in the service, keeps its own
books (``devpay_transfers``, written in a transaction of its own, as a remote provider would), and
can be told per merchant to pay, fail, delay or answer twice (``set_payout_simulation``).
"""
import json
import secrets
from datetime import timedelta

from plumbing.auth import Identity
from plumbing.fields import new_id, utcnow
from services.settlement import domain, storage
from services.settlement.contract.enums import (FAILED, HOLDING_KINDS, PAID, PAYOUT_BLOCKED, PAYOUT_FAILED,
                                                PAYOUT_PENDING)
from services.settlement.exceptions import raise_exception

ACCEPTED = "accepted"


class PayoutProvider:
    name = None

    def send(self, request):
        """Pay ``request`` (key, merchant_id, batch_reference, amount, currency, wallet_address)."""
        raise NotImplementedError

    def status(self, key):
        raise NotImplementedError


class DevPay(PayoutProvider):
    """The development payout provider (see the module's docstring)."""
    name = "devpay"

    def __init__(self, db):
        self.db = db

    def send(self, request):
        with self.db.separately() as tx:
            # a key seen before gets the transfer it made, never a second one (two requests with one
            # key at once: the second waits for the first's row, then answers from it)
            created = tx.scalar(
                "INSERT INTO devpay_transfers (idempotency_key, reference, amount, currency, wallet_address, status, "
                "settles_at) VALUES (%s, %s, %s, %s, %s, 'accepted', now()) ON CONFLICT (idempotency_key) DO NOTHING "
                "RETURNING idempotency_key", (request["key"], "DEVPAY-" + secrets.token_hex(5).upper(),
                                              request["amount"], request["currency"], request["wallet_address"]))
            answers = 1
            if created:
                behaviour = self._behaviour(tx, request["merchant_id"])
                mode = behaviour["mode"] if behaviour else "pay"
                status = {"pay": "paid", "answer_twice": "paid", "fail": "failed", "delay": ACCEPTED}[mode]
                delay = behaviour["delay_seconds"] if mode == "delay" else 0
                tx.execute("UPDATE devpay_transfers SET status = %s, message = %s, settles_at = %s "
                           "WHERE idempotency_key = %s",
                           (status, "Simulated failure: the receiving wallet refused the transfer"
                            if status == "failed" else None, utcnow() + timedelta(seconds=delay), request["key"]))
                answers = 2 if mode == "answer_twice" else 1
            transfer = tx.one("SELECT * FROM devpay_transfers WHERE idempotency_key = %s FOR UPDATE",
                              (request["key"],))
        return [self._answer(transfer)] * answers

    def status(self, key):
        with self.db.separately() as tx:
            tx.execute("UPDATE devpay_transfers SET status = 'paid' WHERE idempotency_key = %s "
                       "AND status = 'accepted' AND settles_at <= now()", (key,))
            transfer = tx.one("SELECT * FROM devpay_transfers WHERE idempotency_key = %s", (key,))
        return [self._answer(transfer)] if transfer else []

    @staticmethod
    def _behaviour(tx, merchant_id):
        """The merchant's simulated behaviour; a counted one is used up one transfer at a time."""
        behaviour = tx.one("SELECT * FROM devpay_behaviour WHERE merchant_id = %s FOR UPDATE", (merchant_id,))
        if behaviour is None or behaviour["remaining"] == 0:
            return None
        if behaviour["remaining"] is not None:
            tx.execute("UPDATE devpay_behaviour SET remaining = remaining - 1 WHERE merchant_id = %s", (merchant_id,))
        return behaviour

    @staticmethod
    def _answer(transfer):
        return {"status": transfer["status"], "reference": transfer["reference"], "message": transfer["message"]}


def set_simulation(db, merchant_id, data, actor):
    db.execute("INSERT INTO devpay_behaviour (merchant_id, mode, remaining, delay_seconds, set_by) "
               "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (merchant_id) DO UPDATE SET mode = EXCLUDED.mode, "
               "remaining = EXCLUDED.remaining, delay_seconds = EXCLUDED.delay_seconds, set_by = EXCLUDED.set_by, "
               "set_at = now()", (merchant_id, data["mode"], data["times"], data["delay_seconds"], json.dumps(actor)))
    return dict(data, merchant_id=merchant_id)


PROVIDERS = {"devpay": DevPay}


def provider_for(svc):
    name = svc.config.get("PAYOUT_PROVIDER", "devpay")
    return PROVIDERS[name](svc.db)


def pay_due(svc, limit=20):
    """The payout timer's round: every batch waiting for its payout, one at a time."""
    for batch in storage.batches_to_pay(svc.db, HOLDING_KINDS, limit):
        pay(svc, batch["id"])


def pay(svc, batch_id, provider=None):
    """Send (or follow up) the batch's payout. Each step is committed before the next is asked of
    the provider, so a crash between them is picked up where it stopped."""
    provider = provider or provider_for(svc)
    system = Identity.system("settlement")
    with svc.db.separately() as tx:
        batch = storage.batch_by_id(tx, batch_id, lock=True)
        if batch is None or batch["status"] != PAYOUT_PENDING:
            return None
        if any(e["kind"] in HOLDING_KINDS for e in storage.open_exceptions_of_batch(tx, batch_id)):
            return None  # payouts wait while an exception on the batch is open
        payout = storage.live_payout(tx, batch_id, lock=True)
        if payout is None:
            account = storage.payout_account(tx, batch["merchant_id"])
            problem = domain.payout_problem(account, utcnow())
            if problem:
                if storage.exception_for_batch(tx, batch_id, PAYOUT_BLOCKED) is not None:
                    return None  # told once; it waits for the address (the timer looks again)
                raise_exception(svc, PAYOUT_BLOCKED, str(batch["merchant_id"]), None, batch,
                                batch["payout_amount"], batch["currency"].strip(),
                                "%s: the payout of batch %s is blocked" % (problem, batch["reference"]),
                                {"period": batch["period"]})
                return None
            payout = storage.insert_payout(tx, {
                "id": new_id(), "batch_id": batch_id, "merchant_id": batch["merchant_id"],
                "amount": batch["payout_amount"], "currency": batch["currency"].strip(),
                "wallet_address": account["wallet_address"], "provider": provider.name})
            first = True
        else:
            first = False
    if first:
        answers = provider.send({"key": payout["idempotency_key"], "merchant_id": str(batch["merchant_id"]),
                                 "batch_reference": batch["reference"], "amount": payout["amount"],
                                 "currency": payout["currency"], "wallet_address": payout["wallet_address"]})
    elif payout["status"] == ACCEPTED or payout["status"] == "requested":
        # asked before (and perhaps answered, then lost): asking again with the same key pays nothing twice
        answers = (provider.status(payout["idempotency_key"]) if payout["status"] == ACCEPTED else
                   provider.send({"key": payout["idempotency_key"], "merchant_id": str(batch["merchant_id"]),
                                  "batch_reference": batch["reference"], "amount": payout["amount"],
                                  "currency": payout["currency"], "wallet_address": payout["wallet_address"]}))
    else:
        answers = []
    for answer in answers:
        record_answer(svc, payout["id"], answer, system)
    return storage.batch_by_id(svc.db, batch_id)


def record_answer(svc, payout_id, answer, identity):
    """What the provider said about a payout; the same answer twice changes nothing the second time."""
    with svc.db.separately() as tx:
        # the batch first, then its payout: the order pay() locks them in
        batch_id = tx.scalar("SELECT batch_id FROM payouts WHERE id = %s", (payout_id,))
        batch = storage.batch_by_id(tx, batch_id, lock=True)
        payout = tx.one("SELECT * FROM payouts WHERE id = %s FOR UPDATE", (payout_id,))
        if payout["status"] in (PAID, FAILED):
            tx.execute("UPDATE payouts SET answers = answers + 1, last_answer = %s WHERE id = %s",
                       (json.dumps(answer), payout_id))
            return payout
        if answer["status"] == ACCEPTED:
            return storage.record_payout_answer(tx, payout_id, ACCEPTED, answer["reference"], answer)
        payout = storage.record_payout_answer(tx, payout_id, answer["status"], answer["reference"], answer)
        if answer["status"] == PAID:
            _book_payout(tx, batch, payout)
            storage.move_batch(tx, batch["id"], (PAYOUT_PENDING,), PAID, identity.actor(),
                               note="Paid by %s, reference %s" % (payout["provider"], payout["provider_reference"]),
                               provider_reference=payout["provider_reference"], paid_at=utcnow())
            svc.metrics.count("vowrewards_settlement_payouts_total", "Payouts answered", outcome="paid")
        else:
            storage.move_batch(tx, batch["id"], (PAYOUT_PENDING,), FAILED, identity.actor(),
                               note=answer.get("message"))
            raise_exception(svc, PAYOUT_FAILED, str(batch["merchant_id"]), None, batch, payout["amount"],
                            payout["currency"].strip(), "The payout of batch %s failed at %s: %s"
                            % (batch["reference"], payout["provider"], answer.get("message") or "no reason given"),
                            {"payout_id": str(payout_id), "idempotency_key": payout["idempotency_key"],
                             "provider_reference": answer.get("reference")})
            svc.metrics.count("vowrewards_settlement_payouts_total", "Payouts answered", outcome="failed")
        return payout


def _book_payout(tx, batch, payout):
    """Paying clears what each store was owed (one ledger entry, linked to its batch)."""
    by_store = {}
    for line in storage.batch_lines(tx, batch["id"]):
        by_store[line["store_id"]] = by_store.get(line["store_id"], 0) + line["payable"]
    postings = domain.payout_postings(str(batch["merchant_id"]), sorted(by_store.items(), key=lambda i: str(i[0])))
    storage.append_entry(tx, {
        "id": new_id(), "merchant_id": str(batch["merchant_id"]), "store_id": None, "kind": "payout",
        "source_id": str(batch["id"]), "source_reference": batch["reference"], "source_event_id": None,
        "amount": -payout["amount"], "currency": payout["currency"].strip(), "funding": None,
        "counterparty": "platform", "agreement_id": None, "funded": 0, "fee": 0, "payable": -payout["amount"],
        "corrects": None, "campaign_id": None, "occurred_at": utcnow(),
        "description": "Payout of %s (%s)" % (batch["reference"], payout["provider_reference"])}, postings)
