"""SQL for the ledger, batches, payout accounts and exceptions (schema ``settlement``)."""
import json

from plumbing.pagination import fetch_page

ENTRY_COLUMNS = ("e.id, e.kind, e.merchant_id, e.store_id, e.source_id, e.source_reference, e.amount, "
                 "e.currency, e.funding, e.campaign_id, e.batch_id, b.reference AS batch_reference, "
                 "e.description, e.occurred_at, e.recorded_at")


def insert_entry(tx, entry, postings):
    """Insert a journal entry with its postings (one statement); False if this source was recorded."""
    return tx.scalar(
        "WITH entry AS (INSERT INTO journal_entries (id, merchant_id, store_id, kind, source_id, source_reference, "
        "source_event_id, amount, currency, funding, campaign_id, occurred_at, description) "
        "VALUES (%(id)s, %(merchant_id)s, %(store_id)s, %(kind)s, %(source_id)s, %(source_reference)s, "
        "%(source_event_id)s, %(amount)s, %(currency)s, %(funding)s, %(campaign_id)s, %(occurred_at)s, "
        "%(description)s) ON CONFLICT (kind, source_id) DO NOTHING RETURNING id), "
        "lines AS (INSERT INTO postings (entry_id, account, amount, currency) "
        "SELECT entry.id, line.account, line.amount, %(currency)s FROM entry, "
        "unnest(%(accounts)s::text[], %(amounts)s::bigint[]) AS line (account, amount)) "
        "SELECT count(*) FROM entry",
        dict(entry, accounts=[account for account, _ in postings],
             amounts=[amount for _, amount in postings])) == 1


def entry_for_source(tx, kind, source_id):
    return tx.one("SELECT " + ENTRY_COLUMNS + " FROM journal_entries e LEFT JOIN settlement_batches b "
                  "ON b.id = e.batch_id WHERE e.kind = %s AND e.source_id = %s", (kind, source_id))


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
    if filters.get("redemption_id"):
        where.append("e.source_id = %s")
        params.append(filters["redemption_id"])
    if filters.get("store_id"):
        where.append("e.store_id = %s")
        params.append(filters["store_id"])
    if filters.get("unbatched") is not None:
        where.append("e.batch_id IS NULL" if filters["unbatched"] else "e.batch_id IS NOT NULL")
    result = fetch_page(tx, "SELECT " + ENTRY_COLUMNS + " FROM journal_entries e LEFT JOIN settlement_batches b "
                        "ON b.id = e.batch_id", where, params, filters, lambda row: row,
                        time_column="e.recorded_at", id_column="e.id")
    postings = postings_of(tx, [row["id"] for row in result["items"]])
    result["items"] = [dump(dict(row, postings=postings.get(str(row["id"]), []))) for row in result["items"]]
    return result


def lock_merchant_settlement(tx, merchant_id):
    """One batch close at a time per merchant."""
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('settlement:' || %s))", (str(merchant_id),))


def unbatched_totals(tx, merchant_id, start, end):
    """Per currency: the total, how many entries and which ones (the batch takes exactly those)."""
    return tx.all("SELECT currency, sum(amount) AS total, count(*) AS entries, "
                  "array_agg(id::text) AS entry_ids FROM journal_entries "
                  "WHERE merchant_id = %s AND batch_id IS NULL AND occurred_at >= %s AND occurred_at < %s "
                  "GROUP BY currency ORDER BY currency", (merchant_id, start, end))


def next_batch_number(tx, merchant_id, period):
    """Per merchant and period: a reference tells a merchant nothing about the others."""
    return tx.scalar("INSERT INTO batch_sequences (merchant_id, period, last_number) VALUES (%s, %s, 1) "
                     "ON CONFLICT (merchant_id, period) DO UPDATE SET "
                     "last_number = batch_sequences.last_number + 1 RETURNING last_number",
                     (merchant_id, period))


def insert_batch(tx, batch):
    tx.execute("INSERT INTO settlement_batches (id, reference, merchant_id, period, period_start, "
               "period_end, currency, total, entry_count, status, closed_by, closed_at) VALUES "
               "(%(id)s, %(reference)s, %(merchant_id)s, %(period)s, %(period_start)s, %(period_end)s, "
               "%(currency)s, %(total)s, %(entry_count)s, %(status)s, %(closed_by)s, %(closed_at)s)",
               dict(batch, closed_by=json.dumps(batch["closed_by"])))


def assign_entries(tx, batch, entry_ids):
    # by id, not by period: an entry the redemption handler commits after the total was summed
    # (it does not take the batch lock) would otherwise be batched without being paid
    return tx.execute("UPDATE journal_entries SET batch_id = %s WHERE id = ANY(%s::uuid[]) AND batch_id IS NULL",
                      (batch["id"], entry_ids))


def batch_by_reference(tx, merchant_id, reference, lock=False):
    return tx.one("SELECT * FROM settlement_batches WHERE merchant_id = %s AND reference = %s"
                  + (" FOR UPDATE" if lock else ""), (merchant_id, reference))


def release_batch(tx, batch_id, actor, now):
    return tx.one("UPDATE settlement_batches SET status = 'payout_pending', released_by = %s, released_at = %s "
                  "WHERE id = %s AND status = 'exception' RETURNING *", (json.dumps(actor), now, batch_id))


def list_batches(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
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
                  "confirmation = NULL RETURNING *",
                  (merchant_id, wallet_address, json.dumps(actor), now, cooling_off_until))


def confirm_payout_account(tx, merchant_id, actor, confirmation, now):
    return tx.one("UPDATE payout_accounts SET status = 'confirmed', confirmed_by = %s, confirmed_at = %s, "
                  "confirmation = %s WHERE merchant_id = %s RETURNING *",
                  (json.dumps(actor), now, json.dumps(confirmation), merchant_id))


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
    return tx.one("SELECT * FROM settlement_exceptions WHERE batch_id = %s ORDER BY raised_at DESC LIMIT 1",
                  (batch_id,))


def exception_for_batch(tx, batch_id, kind):
    return tx.one("SELECT * FROM settlement_exceptions WHERE batch_id = %s AND kind = %s "
                  "ORDER BY raised_at DESC LIMIT 1", (batch_id, kind))


def set_exception_ticket(tx, exception_id, ticket_reference):
    return tx.execute("UPDATE settlement_exceptions SET ticket_reference = %s WHERE id = %s",
                      (ticket_reference, exception_id))


def resolve_exception(tx, exception_id, resolution):
    return tx.execute("UPDATE settlement_exceptions SET status = 'resolved', resolved_at = now(), "
                      "resolution = %s WHERE id = %s AND status = 'open'",
                      (json.dumps(resolution), exception_id))


def list_exceptions(tx, merchant_id, filters, dump):
    where, params = ["merchant_id = %s"], [merchant_id]
    if filters.get("status"):
        where.append("status = %s")
        params.append(filters["status"])
    return fetch_page(tx, "SELECT * FROM settlement_exceptions", where, params, filters, dump,
                      time_column="raised_at")
