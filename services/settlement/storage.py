"""SQL for the ledger, batches, payout accounts and exceptions (schema ``settlement``)."""
import json

from plumbing.pagination import fetch_page
from services.settlement import domain

ENTRY_COLUMNS = ("e.id, e.seq, e.kind, e.merchant_id, e.store_id, e.source_id, e.source_reference, e.amount, "
                 "e.currency, e.funding, e.counterparty, e.agreement_id, e.funded, e.fee, e.payable, e.campaign_id, "
                 "b.id AS batch_id, b.reference AS batch_reference, e.description, e.occurred_at, e.recorded_at, "
                 "e.corrects, e.hash")
SETTLED = "e.kind IN ('redemption', 'reversal', 'correction')"  # what batches take (a payout settles one)
# the batch an entry is in: the one whose range of its merchant's chain holds it (or, for a batch closed
# before ranges, the one it names)
ENTRY_BATCH = ("LEFT JOIN LATERAL (SELECT r.id, r.reference FROM settlement_batches r WHERE r.merchant_id = e.merchant_id "
               "AND r.currency = e.currency AND r.last_seq >= e.seq AND r.first_seq < e.seq AND e.batch_id IS NULL "
               "AND " + SETTLED + " UNION ALL SELECT r.id, r.reference FROM settlement_batches r WHERE r.id = e.batch_id "
               "LIMIT 1) b ON true")
ENTRIES = "journal_entries e " + ENTRY_BATCH


def append_entry(tx, entry, postings, lead=False):
    """Append a journal entry with its postings ((account, amount) or (account, amount, store_id) when
    a posting is another store's than the entry's) to its merchant's chain; False if this source was
    recorded already. The merchant's chain head is locked until commit, so entries of one merchant
    are chained (and committed) one at a time, in ``seq`` order.

    ``lead``: the entry is sent ahead of the transaction's next statement or its commit, in that
    round trip, not in one of its own. The lock and the check for this source are one statement, so a
    second event for the same source committed while this one waited for the lock is not seen:
    the unique (kind, source_id) then refuses the commit, and the handler's retry finds it."""
    head = tx.one("WITH head AS (INSERT INTO ledger_heads (merchant_id, seq, hash) VALUES (%s, 0, %s) "
                  "ON CONFLICT (merchant_id) DO UPDATE SET seq = ledger_heads.seq RETURNING seq, hash) "
                  "SELECT head.seq, head.hash, EXISTS (SELECT 1 FROM journal_entries WHERE kind = %s "
                  "AND source_id = %s) AS recorded FROM head",
                  (entry["merchant_id"], domain.GENESIS, entry["kind"], entry["source_id"]))
    if head["recorded"]:
        return False
    entry = dict(entry, seq=head["seq"] + 1, prev_hash=head["hash"])
    entry["hash"] = domain.chain_hash(head["hash"], entry, postings)
    (tx.lead if lead else tx.execute)(
        "WITH entry AS (INSERT INTO journal_entries (id, merchant_id, store_id, kind, source_id, source_reference, "
        "source_event_id, amount, currency, funding, campaign_id, occurred_at, description, seq, prev_hash, hash, "
        "counterparty, agreement_id, funded, fee, payable, corrects) "
        "VALUES (%(id)s, %(merchant_id)s, %(store_id)s, %(kind)s, %(source_id)s, %(source_reference)s, "
        "%(source_event_id)s, %(amount)s, %(currency)s, %(funding)s, %(campaign_id)s, %(occurred_at)s, "
        "%(description)s, %(seq)s, %(prev_hash)s, %(hash)s, %(counterparty)s, %(agreement_id)s, %(funded)s, "
        "%(fee)s, %(payable)s, %(corrects)s) RETURNING id), "
        "lines AS (INSERT INTO postings (entry_id, account, amount, currency, merchant_id, store_id) "
        "SELECT entry.id, line.account, line.amount, %(currency)s, %(merchant_id)s, "
        "coalesce(line.store::uuid, %(store_id)s) FROM entry, "
        "unnest(%(accounts)s::text[], %(amounts)s::bigint[], %(stores)s::text[]) WITH ORDINALITY "
        "AS line (account, amount, store, n) ORDER BY line.n) "
        "UPDATE ledger_heads SET seq = %(seq)s, hash = %(hash)s, currencies = CASE WHEN %(currency)s = ANY(currencies) "
        "THEN currencies ELSE currencies || %(currency)s::text END WHERE merchant_id = %(merchant_id)s",
        dict(entry, accounts=[p[0] for p in postings], amounts=[p[1] for p in postings],
             stores=[str(p[2]) if len(p) > 2 and p[2] else None for p in postings]))
    return True


def chain_of(tx, merchant_id, after_seq=0, limit=5000):
    """A merchant's entries by ``seq`` with their postings (``lines``), for verifying its chain."""
    return tx.all("SELECT e.*, (SELECT coalesce(array_agg(ARRAY[p.account, p.amount::text] ORDER BY p.id), "
                  "'{}') FROM postings p WHERE p.entry_id = e.id) AS lines FROM journal_entries e "
                  "WHERE e.merchant_id = %s AND e.seq > %s ORDER BY e.seq LIMIT %s", (merchant_id, after_seq, limit))


def ledger_head(tx, merchant_id):
    return tx.one("SELECT seq, hash FROM ledger_heads WHERE merchant_id = %s", (merchant_id,))


def ledger_merchants(tx):
    return [row["merchant_id"] for row in tx.all("SELECT merchant_id FROM ledger_heads ORDER BY merchant_id")]


def entry_for_source(tx, kind, source_id):
    return tx.one("SELECT " + ENTRY_COLUMNS + " FROM " + ENTRIES + " WHERE e.kind = %s AND e.source_id = %s",
                  (kind, source_id))


def postings_of(tx, entry_ids):
    rows = tx.all("SELECT entry_id, account, amount FROM postings WHERE entry_id = ANY(%s::uuid[]) "
                  "ORDER BY id", ([str(i) for i in entry_ids],))
    by_entry = {}
    for row in rows:
        by_entry.setdefault(str(row["entry_id"]), []).append(
            {"account": row["account"], "amount": row["amount"]})
    return by_entry


def list_entries(tx, merchant_id, filters, dump):
    where, params = ["e.merchant_id = %s"], [merchant_id]
    for name, column in (("redemption_id", "e.source_id"), ("store_id", "e.store_id"), ("kind", "e.kind")):
        if filters.get(name):
            where.append(column + " = %s")
            params.append(filters[name])
    if filters.get("batch"):
        where.append("b.reference = %s")
        params.append(filters["batch"])
    if filters.get("period_start"):
        where.append("e.occurred_at >= %s AND e.occurred_at < %s")
        params += [filters["period_start"], filters["period_end"]]
    if filters.get("unbatched") is not None:
        where.append(("b.id IS NULL AND " + SETTLED) if filters["unbatched"] else "b.id IS NOT NULL")
    result = fetch_page(tx, "SELECT " + ENTRY_COLUMNS + " FROM " + ENTRIES, where, params, filters, lambda row: row,
                        time_column="e.recorded_at", id_column="e.id")
    postings = postings_of(tx, [row["id"] for row in result["items"]])
    result["items"] = [dump(dict(row, postings=postings.get(str(row["id"]), []))) for row in result["items"]]
    return result


def balances(tx, merchant_id, at, store_id=None):
    """Each account's balance (sum of its postings) of entries that occurred by ``at``."""
    where, params = ["p.merchant_id = %s", "e.occurred_at <= %s"], [merchant_id, at]
    if store_id:
        where.append("p.store_id = %s")
        params.append(store_id)
    return tx.all("SELECT p.account, p.currency, sum(p.amount)::bigint AS balance, count(*) AS postings "
                  "FROM postings p JOIN journal_entries e ON e.id = p.entry_id WHERE " + " AND ".join(where)
                  + " GROUP BY p.account, p.currency ORDER BY p.account, p.currency", params)


def store_balances(tx, merchant_id, at, store_id=None):
    """Per store: what its redemptions earned the merchant (gross, funded, fees, owed) and what
    payouts settled of it."""
    where, params = ["p.merchant_id = %s", "e.occurred_at <= %s"], [merchant_id, at]
    if store_id:
        where.append("p.store_id = %s")
        params.append(store_id)
    return tx.all(
        "SELECT p.store_id, p.currency, "
        "coalesce(sum(e.amount) FILTER (WHERE e.kind IN ('redemption', 'reversal', 'correction') AND p.n = 1), 0)::bigint AS gross, "
        "coalesce(sum(e.funded) FILTER (WHERE e.kind IN ('redemption', 'reversal', 'correction') AND p.n = 1), 0)::bigint "
        "AS funded, "
        "coalesce(sum(e.fee) FILTER (WHERE e.kind IN ('redemption', 'reversal', 'correction') AND p.n = 1), 0)::bigint AS fees, "
        "coalesce(sum(e.payable) FILTER (WHERE e.kind IN ('redemption', 'reversal', 'correction') AND p.n = 1), 0)::bigint AS owed, "
        "coalesce(sum(p.amount) FILTER (WHERE e.kind = 'payout' AND p.account LIKE 'merchant_payable:%%'), 0)"
        "::bigint AS paid "
        "FROM (SELECT p.*, row_number() OVER (PARTITION BY p.entry_id, p.store_id ORDER BY p.id) AS n "
        "FROM postings p WHERE p.merchant_id = %s) p JOIN journal_entries e ON e.id = p.entry_id WHERE "
        + " AND ".join(where) + " GROUP BY p.store_id, p.currency ORDER BY p.store_id, p.currency",
        [merchant_id] + params)


# -- funding terms and parked entries -------------------------------------------------------------------
def funding_terms(tx, agreement_id):
    return tx.one("SELECT * FROM funding_terms WHERE agreement_id = %s", (agreement_id,))


def keep_funding_terms(tx, terms):
    tx.execute("INSERT INTO funding_terms (agreement_id, merchant_id, funder_kind, funder_name, currency, "
               "commission_bp) VALUES (%(agreement_id)s, %(merchant_id)s, %(funder_kind)s, %(funder_name)s, "
               "%(currency)s, %(commission_bp)s) ON CONFLICT (agreement_id) DO NOTHING", terms)


def park_entry(tx, parked):
    """Keep an event settlement cannot book; False if it is parked already."""
    return tx.execute("INSERT INTO parked_entries (id, merchant_id, kind, source_id, payload, reason, exception_id) "
                      "VALUES (%(id)s, %(merchant_id)s, %(kind)s, %(source_id)s, %(payload)s, %(reason)s, "
                      "%(exception_id)s) ON CONFLICT (kind, source_id) DO NOTHING",
                      dict(parked, payload=json.dumps(parked["payload"]))) == 1


def parked_entry(tx, kind, source_id, lock=False):
    return tx.one("SELECT * FROM parked_entries WHERE kind = %s AND source_id = %s AND status = 'parked'"
                  + (" FOR UPDATE" if lock else ""), (kind, source_id))


def parked_entry_by_id(tx, parked_id, lock=False):
    return tx.one("SELECT * FROM parked_entries WHERE id = %s" + (" FOR UPDATE" if lock else ""), (parked_id,))


def mark_parked_booked(tx, parked_id, actor):
    tx.execute("UPDATE parked_entries SET status = 'booked', booked_at = now(), booked_by = %s WHERE id = %s",
               (json.dumps(actor), parked_id))


def list_parked_entries(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    return fetch_page(tx, "SELECT * FROM parked_entries", where, params, filters, dump, time_column="parked_at")


# -- batches ----------------------------------------------------------------------------------------
def lock_merchant_settlement(tx, merchant_id):
    """One batch close (or payout) at a time per merchant."""
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('settlement:' || %s))", (str(merchant_id),))


def settled_up_to(tx, merchant_id, currency):
    """The end of the merchant's last batch in ``currency`` (a seq of its chain; 0: none yet)."""
    return tx.scalar("SELECT coalesce(max(last_seq), 0) FROM settlement_batches WHERE merchant_id = %s "
                     "AND currency = %s AND last_seq IS NOT NULL", (merchant_id, currency))


def unbatched_currencies(tx, merchant_id, end):
    """The currencies with entries to settle that occurred before ``end``."""
    head = tx.one("SELECT currencies FROM ledger_heads WHERE merchant_id = %s", (merchant_id,))
    return [currency for currency in sorted(head["currencies"] if head else []) if tx.scalar(
        "SELECT 1 FROM journal_entries e WHERE e.merchant_id = %s AND e.seq > %s AND e.currency = %s "
        "AND e.batch_id IS NULL AND e.occurred_at < %s AND " + SETTLED + " LIMIT 1",
        (merchant_id, settled_up_to(tx, merchant_id, currency), currency, end))]


def take_entries(tx, batch, end):
    """Give the batch the next range of the merchant's chain in its currency: from where the last
    batch ended up to the entry before the first that occurred at or after ``end`` (or the chain's
    committed head). Ranges follow one another, so every entry is in exactly one batch, and closing
    writes no entry; an entry of the period booked after one of the next goes in the next batch.
    Nets the range per store and counterparty; returns the lines."""
    first = settled_up_to(tx, batch["merchant_id"], batch["currency"])
    # committed entries only: the head moves in the same transaction as its entry
    head = tx.scalar("SELECT seq FROM ledger_heads WHERE merchant_id = %s", (batch["merchant_id"],)) or 0
    later = tx.scalar("SELECT min(seq) FROM journal_entries e WHERE e.merchant_id = %s AND e.occurred_at >= %s "
                      "AND e.seq > %s AND e.currency = %s AND e.batch_id IS NULL AND " + SETTLED,
                      (batch["merchant_id"], end, first, batch["currency"]))
    last = min(head, later - 1) if later else head
    if last <= first:
        return []
    tx.execute("UPDATE settlement_batches SET first_seq = %s, last_seq = %s WHERE id = %s", (first, last, batch["id"]))
    return tx.all(
        "INSERT INTO batch_lines (batch_id, store_id, counterparty, agreement_id, currency, redemptions, reversals, "
        "gross, funded, fee, payable) SELECT %(id)s, store_id, counterparty, agreement_id, %(currency)s, "
        "count(*) FILTER (WHERE kind = 'redemption'), count(*) FILTER (WHERE kind = 'reversal'), "
        "sum(amount), sum(funded), sum(fee), sum(payable) FROM journal_entries e "
        "WHERE e.merchant_id = %(merchant_id)s AND e.seq > %(first)s AND e.seq <= %(last)s "
        "AND e.currency = %(currency)s AND e.batch_id IS NULL AND " + SETTLED + " "
        "GROUP BY store_id, counterparty, agreement_id ORDER BY store_id, counterparty, agreement_id "
        "RETURNING *", dict(batch, first=first, last=last))


def batch_lines(tx, batch_id):
    return tx.all("SELECT * FROM batch_lines WHERE batch_id = %s ORDER BY id", (batch_id,))


def ledger_totals(tx, merchant_id, start, end):
    """The ledger's side of reconciliation: per store and currency, the redemptions and reversals
    that occurred in the period (whichever batch they are in)."""
    return tx.all("SELECT store_id, currency, count(*) FILTER (WHERE kind = 'redemption') AS redemptions, "
                  "coalesce(sum(amount) FILTER (WHERE kind = 'redemption'), 0) AS redeemed_amount, "
                  "count(*) FILTER (WHERE kind = 'reversal') AS reversals, "
                  "coalesce(-sum(amount) FILTER (WHERE kind = 'reversal'), 0) AS reversed_amount "
                  "FROM journal_entries WHERE merchant_id = %s AND occurred_at >= %s AND occurred_at < %s "
                  "AND kind IN ('redemption', 'reversal') GROUP BY store_id, currency", (merchant_id, start, end))


def next_batch_number(tx, merchant_id, period):
    """Per merchant and period: a reference tells a merchant nothing about the others."""
    return tx.scalar("INSERT INTO batch_sequences (merchant_id, period, last_number) VALUES (%s, %s, 1) "
                     "ON CONFLICT (merchant_id, period) DO UPDATE SET "
                     "last_number = batch_sequences.last_number + 1 RETURNING last_number",
                     (merchant_id, period))


def insert_batch(tx, batch):
    tx.execute("INSERT INTO settlement_batches (id, reference, merchant_id, period, period_start, period_end, "
               "currency, total, entry_count, status, closed_by, closed_at, frequency, time_zone, funded, fees, "
               "payout_amount) VALUES (%(id)s, %(reference)s, %(merchant_id)s, %(period)s, %(period_start)s, "
               "%(period_end)s, %(currency)s, 0, 0, 'open', %(closed_by)s, %(closed_at)s, %(frequency)s, "
               "%(time_zone)s, 0, 0, 0)", dict(batch, closed_by=json.dumps(batch["closed_by"])))
    record_transition(tx, batch["id"], None, "open", batch["closed_by"])


def record_transition(tx, batch_id, from_status, to_status, actor, note=None):
    tx.execute("INSERT INTO batch_transitions (batch_id, from_status, to_status, actor, note) "
               "VALUES (%s, %s, %s, %s, %s)", (batch_id, from_status, to_status, json.dumps(actor), note))


def move_batch(tx, batch_id, from_statuses, to_status, actor, note=None, **columns):
    """Move a batch from one of ``from_statuses`` to ``to_status`` (recorded with who and why);
    None if it was not in one of them (someone else moved it first)."""
    before = tx.scalar("SELECT status FROM settlement_batches WHERE id = %s FOR UPDATE", (batch_id,))
    if before not in from_statuses:
        return None
    sets = "".join(", %s = %%(%s)s" % (name, name) for name in columns)
    row = tx.one("UPDATE settlement_batches SET status = %(to)s" + sets + " WHERE id = %(id)s RETURNING *",
                 dict(columns, id=batch_id, to=to_status))
    record_transition(tx, batch_id, before, to_status, actor, note)
    return row


def mark_released(tx, batch_id, actor, at):
    tx.execute("UPDATE settlement_batches SET released_by = %s, released_at = %s WHERE id = %s",
               (json.dumps(actor), at, batch_id))


def batch_transitions(tx, batch_id):
    return tx.all("SELECT from_status, to_status, actor, note, at FROM batch_transitions WHERE batch_id = %s "
                  "ORDER BY id", (batch_id,))


def batch_by_reference(tx, merchant_id, reference, lock=False):
    return tx.one("SELECT * FROM settlement_batches WHERE merchant_id = %s AND reference = %s"
                  + (" FOR UPDATE" if lock else ""), (merchant_id, reference))


def batch_by_id(tx, batch_id, lock=False):
    return tx.one("SELECT * FROM settlement_batches WHERE id = %s" + (" FOR UPDATE" if lock else ""), (batch_id,))


def batches_in(tx, statuses, limit=50):
    return tx.all("SELECT * FROM settlement_batches WHERE status = ANY(%s) ORDER BY closed_at, id LIMIT %s",
                  (list(statuses), limit))


HELD = ("EXISTS (SELECT 1 FROM settlement_exceptions x WHERE x.batch_id = b.id AND x.status = 'open' "
        "AND x.kind = ANY(%(holding)s))")
PAYABLE = "(a.status = 'confirmed' AND a.cooling_off_until <= now())"


def batches_to_release(tx, holding, limit=50):
    """Closed or failed batches nothing holds any more (no open exception, nothing to pay or a payable
    address): the ones still waiting never crowd out the rest."""
    return tx.all("SELECT b.* FROM settlement_batches b LEFT JOIN payout_accounts a ON a.merchant_id = b.merchant_id "
                  "WHERE b.status IN ('closed', 'failed') AND NOT " + HELD + " AND (b.payout_amount <= 0 OR "
                  + PAYABLE + ") ORDER BY b.closed_at, b.id LIMIT %(limit)s", {"holding": list(holding), "limit": limit})


def batches_to_pay(tx, holding, limit=20):
    """Batches waiting for their payout that nothing holds: a payout to follow up, a payable address, or
    an address not yet found unpayable (the payout round raises ``payout_blocked`` once for it)."""
    return tx.all("SELECT b.* FROM settlement_batches b LEFT JOIN payout_accounts a ON a.merchant_id = b.merchant_id "
                  "WHERE b.status = 'payout_pending' AND NOT " + HELD + " AND (" + PAYABLE + " OR EXISTS "
                  "(SELECT 1 FROM payouts p WHERE p.batch_id = b.id AND p.status <> 'failed') OR NOT EXISTS "
                  "(SELECT 1 FROM settlement_exceptions x WHERE x.batch_id = b.id AND x.kind = 'payout_blocked')) "
                  "ORDER BY b.closed_at, b.id LIMIT %(limit)s", {"holding": list(holding), "limit": limit})


def open_exceptions_of_batch(tx, batch_id):
    return tx.all("SELECT * FROM settlement_exceptions WHERE batch_id = %s AND status = 'open' ORDER BY raised_at",
                  (batch_id,))


# -- schedules ----------------------------------------------------------------------------------------
def schedule(tx, merchant_id):
    return tx.one("SELECT * FROM settlement_schedules WHERE merchant_id = %s", (merchant_id,))


def set_schedule(tx, merchant_id, frequency, time_zone, next_close_at, actor):
    return tx.one("INSERT INTO settlement_schedules (merchant_id, frequency, time_zone, next_close_at, updated_by) "
                  "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (merchant_id) DO UPDATE SET frequency = EXCLUDED.frequency, "
                  "time_zone = EXCLUDED.time_zone, next_close_at = EXCLUDED.next_close_at, "
                  "updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING *",
                  (merchant_id, frequency, time_zone, next_close_at, json.dumps(actor)))


def delete_schedule(tx, merchant_id):
    """The schedule removed (None: there was none)."""
    return tx.one("DELETE FROM settlement_schedules WHERE merchant_id = %s RETURNING *", (merchant_id,))


def due_schedules(tx, now, limit=20):
    """Schedules whose period has ended, locked (another worker skips them)."""
    return tx.all("SELECT * FROM settlement_schedules WHERE next_close_at <= %s ORDER BY next_close_at "
                  "LIMIT %s FOR UPDATE SKIP LOCKED", (now, limit))


def advance_schedule(tx, merchant_id, next_close_at):
    tx.execute("UPDATE settlement_schedules SET next_close_at = %s WHERE merchant_id = %s",
               (next_close_at, merchant_id))


# -- payouts ------------------------------------------------------------------------------------------
def live_payout(tx, batch_id, lock=False):
    return tx.one("SELECT * FROM payouts WHERE batch_id = %s AND status <> 'failed'"
                  + (" FOR UPDATE" if lock else ""), (batch_id,))


def payouts_of(tx, batch_id):
    return tx.all("SELECT * FROM payouts WHERE batch_id = %s ORDER BY attempt", (batch_id,))


def insert_payout(tx, payout):
    tx.execute("INSERT INTO payouts (id, batch_id, merchant_id, attempt, idempotency_key, amount, currency, "
               "wallet_address, status, provider) SELECT %(id)s, %(batch_id)s, %(merchant_id)s, "
               "coalesce(max(attempt), 0) + 1, %(batch_id)s || ':' || (coalesce(max(attempt), 0) + 1), %(amount)s, "
               "%(currency)s, %(wallet_address)s, 'requested', %(provider)s FROM payouts WHERE batch_id = %(batch_id)s",
               payout)
    return tx.one("SELECT * FROM payouts WHERE id = %s", (payout["id"],))


def record_payout_answer(tx, payout_id, status, provider_reference, answer):
    return tx.one("UPDATE payouts SET status = %s, provider_reference = coalesce(provider_reference, %s), "
                  "answers = answers + 1, last_answer = %s, answered_at = now() WHERE id = %s RETURNING *",
                  (status, provider_reference, json.dumps(answer), payout_id))


def list_batches(tx, merchant_id, filters, dump):
    """One merchant's batches (``merchant_id`` None: every merchant's)."""
    where, params = (["merchant_id = %s"], [merchant_id]) if merchant_id else ([], [])
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    return fetch_page(tx, "SELECT * FROM settlement_batches", where, params, filters, dump, time_column="closed_at")


def payout_account(tx, merchant_id, lock=False):
    return tx.one("SELECT * FROM payout_accounts WHERE merchant_id = %s" + (" FOR UPDATE" if lock else ""),
                  (merchant_id,))


def upsert_payout_account(tx, merchant_id, wallet_address, actor, now, cooling_off_until):
    return tx.one("INSERT INTO payout_accounts (merchant_id, wallet_address, status, set_by, updated_at, "
                  "cooling_off_until) VALUES (%s, %s, 'unconfirmed', %s, %s, %s) ON CONFLICT (merchant_id) "
                  "DO UPDATE SET wallet_address = EXCLUDED.wallet_address, status = 'unconfirmed', "
                  "set_by = EXCLUDED.set_by, updated_at = EXCLUDED.updated_at, "
                  "cooling_off_until = EXCLUDED.cooling_off_until, confirmed_by = NULL, confirmed_at = NULL, "
                  "confirmation = NULL, rejected_by = NULL, rejected_at = NULL, rejection_reason = NULL RETURNING *",
                  (merchant_id, wallet_address, json.dumps(actor), now, cooling_off_until))


def confirm_payout_account(tx, merchant_id, actor, confirmation, now):
    return tx.one("UPDATE payout_accounts SET status = 'confirmed', confirmed_by = %s, confirmed_at = %s, "
                  "confirmation = %s WHERE merchant_id = %s RETURNING *",
                  (json.dumps(actor), now, json.dumps(confirmation), merchant_id))


def reject_payout_account(tx, merchant_id, actor, reason, now):
    return tx.one("UPDATE payout_accounts SET status = 'rejected', rejected_by = %s, rejected_at = %s, "
                  "rejection_reason = %s WHERE merchant_id = %s AND status = 'unconfirmed' RETURNING *",
                  (json.dumps(actor), now, reason, merchant_id))


def record_payout_history(tx, merchant_id, action, wallet_address, actor, details, now):
    tx.execute("INSERT INTO payout_account_history (id, merchant_id, action, wallet_address, actor, details, at) "
               "VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s)",
               (merchant_id, action, wallet_address, json.dumps(actor), json.dumps(details or {}), now))


def list_payout_history(tx, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT * FROM payout_account_history", ["merchant_id = %s"], [merchant_id],
                      filters, dump, time_column="at")


def insert_verification(tx, verification):
    tx.execute("INSERT INTO payout_verifications (id, merchant_id, wallet_address, code_hash, sent_to, "
               "requested_by, requested_at, expires_at, max_attempts) VALUES (%(id)s, %(merchant_id)s, "
               "%(wallet_address)s, %(code_hash)s, %(sent_to)s, %(requested_by)s, %(requested_at)s, "
               "%(expires_at)s, %(max_attempts)s)",
               dict(verification, requested_by=json.dumps(verification["requested_by"])))


def pending_verification(tx, merchant_id):
    """The merchant's one pending code, locked: tries on it are counted one at a time."""
    return tx.one("SELECT * FROM payout_verifications WHERE merchant_id = %s AND status = 'pending' "
                  "FOR UPDATE", (merchant_id,))


def supersede_verifications(tx, merchant_id, now):
    return tx.execute("UPDATE payout_verifications SET status = 'superseded', finished_at = %s "
                      "WHERE merchant_id = %s AND status = 'pending'", (now, merchant_id))


def count_wrong_code(tx, verification_id, now):
    """One more wrong try; the code is used up at its last. Returns (attempts, max_attempts)."""
    row = tx.one("UPDATE payout_verifications SET attempts = attempts + 1, "
                 "status = CASE WHEN attempts + 1 >= max_attempts THEN 'exhausted' ELSE status END, "
                 "finished_at = CASE WHEN attempts + 1 >= max_attempts THEN %s ELSE finished_at END "
                 "WHERE id = %s RETURNING attempts, max_attempts", (now, verification_id))
    return row["attempts"], row["max_attempts"]


def finish_verification(tx, verification_id, status, now):
    tx.execute("UPDATE payout_verifications SET status = %s, finished_at = %s WHERE id = %s",
               (status, now, verification_id))


def insert_exception(tx, exception):
    tx.execute("INSERT INTO settlement_exceptions (id, kind, merchant_id, store_id, batch_id, batch_reference, "
               "amount, currency, message, details) VALUES (%(id)s, %(kind)s, %(merchant_id)s, %(store_id)s, "
               "%(batch_id)s, %(batch_reference)s, %(amount)s, %(currency)s, %(message)s, %(details)s)",
               dict(exception, details=json.dumps(exception.get("details") or {})))


def exception_by_id(tx, exception_id, lock=False):
    return tx.one("SELECT * FROM settlement_exceptions WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (exception_id,))


def open_exception_for_batch(tx, batch_id):
    """The batch's exception to show: an open one first, else the latest."""
    return tx.one("SELECT * FROM settlement_exceptions WHERE batch_id = %s "
                  "ORDER BY status = 'open' DESC, raised_at DESC LIMIT 1", (batch_id,))


def exception_for_batch(tx, batch_id, kind):
    return tx.one("SELECT * FROM settlement_exceptions WHERE batch_id = %s AND kind = %s "
                  "ORDER BY raised_at DESC LIMIT 1", (batch_id, kind))


def exceptions_of_batch(tx, batch_id):
    return tx.all("SELECT * FROM settlement_exceptions WHERE batch_id = %s ORDER BY raised_at", (batch_id,))


def set_exception_ticket(tx, exception_id, ticket_reference):
    return tx.execute("UPDATE settlement_exceptions SET ticket_reference = %s WHERE id = %s",
                      (ticket_reference, exception_id))


def resolve_exception(tx, exception_id, resolution):
    return tx.execute("UPDATE settlement_exceptions SET status = 'resolved', resolved_at = now(), "
                      "resolution = %s WHERE id = %s AND status = 'open'",
                      (json.dumps(resolution), exception_id))


def list_exceptions(tx, merchant_id, filters, dump):
    where, params = (["merchant_id = %s"], [merchant_id]) if merchant_id else ([], [])
    for name in ("status", "kind"):
        if filters.get(name):
            where.append(name + " = %s")
            params.append(filters[name])
    return fetch_page(tx, "SELECT * FROM settlement_exceptions", where, params, filters, dump,
                      time_column="raised_at")
