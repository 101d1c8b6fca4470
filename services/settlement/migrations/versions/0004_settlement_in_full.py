"""Settlement in full: who is owed what per entry (funder, fee, payable), a hash chain per merchant
ledger, entries that are never edited, parked entries for unknown accounts, cached funding terms,
batches netted in lines with their transitions, per-merchant schedules, payouts and the development
payout provider's own records.

Revision ID: 0004
Revises: 0003
"""
import hashlib
import json
import uuid
from datetime import timezone

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _chain_existing(bind):
    """Entries booked before the chain existed get their place in it (same rule as domain.chain_hash,
    frozen here so a later change of the rule cannot change what this migration did)."""
    heads = {}
    rows = bind.exec_driver_sql(
        "SELECT e.*, (SELECT coalesce(json_agg(json_build_array(p.account, p.amount) ORDER BY p.id), '[]') "
        "FROM postings p WHERE p.entry_id = e.id) AS lines FROM journal_entries e "
        "ORDER BY e.merchant_id, e.recorded_at, e.id").mappings().all()
    for row in rows:
        merchant = str(row["merchant_id"])
        seq, prev = heads.get(merchant, (0, GENESIS))
        seq += 1
        body = _canonical(dict(row, seq=seq), row["lines"])
        digest = hashlib.sha256((prev + body).encode()).hexdigest()
        bind.exec_driver_sql("UPDATE journal_entries SET seq = %(seq)s, prev_hash = %(prev)s, hash = %(hash)s "
                             "WHERE id = %(id)s", {"seq": seq, "prev": prev, "hash": digest, "id": row["id"]})
        heads[merchant] = (seq, digest)
    for row in rows:
        correction = _correction(row)
        if correction is None:
            continue
        entry, lines = correction
        merchant = str(row["merchant_id"])
        seq, prev = heads[merchant]
        seq += 1
        digest = hashlib.sha256((prev + _canonical(dict(entry, seq=seq), lines)).encode()).hexdigest()
        bind.exec_driver_sql(
            "INSERT INTO journal_entries (id, merchant_id, store_id, kind, source_id, source_reference, amount, currency, "
            "funding, counterparty, funded, fee, payable, corrects, campaign_id, occurred_at, description, seq, "
            "prev_hash, hash) VALUES (%(id)s, %(merchant_id)s, %(store_id)s, %(kind)s, %(source_id)s, "
            "%(source_reference)s, %(amount)s, %(currency)s, %(funding)s, %(counterparty)s, 0, 0, %(payable)s, "
            "%(corrects)s, %(campaign_id)s, %(occurred_at)s, %(description)s, %(seq)s, %(prev)s, %(hash)s)",
            dict(entry, seq=seq, prev=prev, hash=digest))
        for account, amount in lines:
            bind.exec_driver_sql("INSERT INTO postings (entry_id, account, amount, currency, merchant_id, store_id) "
                                 "VALUES (%(e)s, %(a)s, %(n)s, %(c)s, %(m)s, %(s)s)",
                                 {"e": entry["id"], "a": account, "n": amount, "c": entry["currency"],
                                  "m": merchant, "s": entry["store_id"]})
        heads[merchant] = (seq, digest)
    for merchant, (seq, digest) in heads.items():
        bind.exec_driver_sql("INSERT INTO ledger_heads (merchant_id, seq, hash, currencies) VALUES (%(m)s, %(s)s, "
                             "%(h)s, ARRAY(SELECT DISTINCT currency::text FROM journal_entries "
                             "WHERE merchant_id = %(m)s))", {"m": merchant, "s": seq, "h": digest})


def _correction(row):
    """The old booking owed the merchant for its own vouchers too: an unsettled merchant-funded entry
    gets a linked correction that takes back what it said the merchant was owed (nobody owes it)."""
    funding = row["funding"] or "merchant"
    payable_lines = [(account, amount) for account, amount in row["lines"] if account.startswith("merchant_payable:")]
    if funding != "merchant" or row["batch_id"] is not None or not payable_lines or not row["amount"]:
        return None
    owed = -sum(amount for _, amount in payable_lines)
    if not owed:
        return None
    entry = {"id": str(uuid.uuid4()), "merchant_id": str(row["merchant_id"]), "store_id": row["store_id"],
             "kind": "correction", "source_id": str(row["id"]), "source_reference": row["source_reference"],
             "amount": 0, "currency": row["currency"].strip(), "funding": "merchant", "counterparty": "merchant",
             "agreement_id": None, "funded": 0, "fee": 0, "payable": -owed, "corrects": str(row["id"]),
             "campaign_id": row["campaign_id"], "occurred_at": row["occurred_at"],
             "description": "Correction of %s: a merchant's own voucher is owed by nobody" % row["description"]}
    lines = [(payable_lines[0][0], owed), ("merchant_funding:%s" % row["merchant_id"], -owed)]
    return entry, lines


def _text(value):
    if value is None:
        return None
    if hasattr(value, "astimezone"):
        return value.astimezone(timezone.utc).isoformat()
    return str(value).strip() if isinstance(value, str) else str(value)


def _canonical(entry, lines):
    fields = ("seq", "merchant_id", "store_id", "kind", "source_id", "source_reference", "amount", "currency",
              "funding", "counterparty", "agreement_id", "funded", "fee", "payable", "campaign_id",
              "occurred_at", "description", "corrects")
    return json.dumps({"entry": {name: _text(entry.get(name)) for name in fields},
                       "postings": [[account, int(amount)] for account, amount in lines]},
                      sort_keys=True, separators=(",", ":"))


def upgrade():
    op.execute("""
    ALTER TABLE journal_entries
        ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text,
        ADD COLUMN counterparty text, ADD COLUMN agreement_id uuid,
        ADD COLUMN funded bigint NOT NULL DEFAULT 0, ADD COLUMN fee bigint NOT NULL DEFAULT 0,
        ADD COLUMN payable bigint NOT NULL DEFAULT 0,
        ADD COLUMN corrects uuid REFERENCES journal_entries (id);
    -- what the old booking paid: every voucher's amount and points, whoever funded it
    UPDATE journal_entries SET counterparty = coalesce(nullif(funding, ''), 'merchant'), payable = amount,
        funded = CASE WHEN coalesce(funding, 'merchant') = 'merchant' THEN 0 ELSE amount END;
    ALTER TABLE journal_entries ALTER COLUMN counterparty SET NOT NULL,
        DROP CONSTRAINT journal_entries_kind_check,
        ADD CONSTRAINT journal_entries_kind_check
            CHECK (kind IN ('redemption', 'reversal', 'payout', 'adjustment', 'correction'));

    CREATE TABLE ledger_heads (
        merchant_id uuid PRIMARY KEY,
        seq bigint NOT NULL,
        hash text NOT NULL,
        currencies text[] NOT NULL DEFAULT '{}'  -- every currency of its ledger (a batch per currency)
    );

    -- (the balance check would queue an event per row updated here, and amounts do not change)
    ALTER TABLE postings ADD COLUMN merchant_id uuid, ADD COLUMN store_id uuid, DISABLE TRIGGER postings_balance;
    UPDATE postings p SET merchant_id = e.merchant_id, store_id = e.store_id
        FROM journal_entries e WHERE e.id = p.entry_id;
    ALTER TABLE postings ALTER COLUMN merchant_id SET NOT NULL, ENABLE TRIGGER postings_balance;
    CREATE INDEX postings_merchant_account_idx ON postings (merchant_id, account);
    """)
    _chain_existing(op.get_bind())
    op.execute("""
    ALTER TABLE journal_entries ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL, ADD CONSTRAINT journal_entries_merchant_seq_key UNIQUE (merchant_id, seq);
    CREATE INDEX journal_entries_occurred_idx ON journal_entries (merchant_id, occurred_at);

    -- never edited, never deleted: a correction is a new entry linked to what it corrects. A batch
    -- takes a range of its merchant's chain (first_seq, last_seq] in one currency, so closing writes
    -- no entry at all (batch_id stays only for batches closed before this revision)
    DROP INDEX journal_entries_unbatched_idx;
    CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is never edited or deleted (book a correction)', TG_TABLE_NAME;
    END $$;
    CREATE TRIGGER journal_entries_never_edited
        BEFORE UPDATE OF id, merchant_id, store_id, kind, source_id, source_reference, source_event_id, amount,
            currency, funding, campaign_id, occurred_at, recorded_at, description, seq, prev_hash, hash,
            counterparty, agreement_id, funded, fee, payable, corrects
        ON journal_entries FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    CREATE TRIGGER journal_entries_batched_once BEFORE UPDATE OF batch_id ON journal_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    CREATE TRIGGER journal_entries_never_deleted BEFORE DELETE ON journal_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
    CREATE TRIGGER postings_never_edited BEFORE UPDATE OR DELETE ON postings
        FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

    -- what a funding agreement says, as the campaign service answered (asked once, then kept)
    CREATE TABLE funding_terms (
        agreement_id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        funder_kind text NOT NULL,
        funder_name text,
        currency char(3),
        commission_bp integer NOT NULL CHECK (commission_bp BETWEEN 0 AND 10000),
        fetched_at timestamptz NOT NULL DEFAULT now()
    );

    -- an event settlement cannot book (no account for it): kept for an operator, never dropped
    CREATE TABLE parked_entries (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        kind text NOT NULL CHECK (kind IN ('redemption', 'reversal')),
        source_id uuid NOT NULL,
        payload jsonb NOT NULL,
        reason text NOT NULL,
        status text NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'booked')),
        exception_id uuid,
        parked_at timestamptz NOT NULL DEFAULT now(),
        booked_at timestamptz,
        booked_by jsonb,
        UNIQUE (kind, source_id)
    );

    ALTER TABLE settlement_batches DROP CONSTRAINT settlement_batches_status_check;
    UPDATE settlement_batches SET status = 'closed' WHERE status = 'exception';
    ALTER TABLE settlement_batches
        ADD CONSTRAINT settlement_batches_status_check
            CHECK (status IN ('open', 'closing', 'closed', 'payout_pending', 'paid', 'failed')),
        ADD COLUMN frequency text NOT NULL DEFAULT 'monthly',
        ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC',
        ADD COLUMN funded bigint NOT NULL DEFAULT 0,
        ADD COLUMN fees bigint NOT NULL DEFAULT 0,
        ADD COLUMN payout_amount bigint,
        ADD COLUMN reconciliation jsonb,
        ADD COLUMN provider_reference text,
        ADD COLUMN paid_at timestamptz,
        ADD COLUMN first_seq bigint,  -- the batch holds its merchant's entries in its currency with
        ADD COLUMN last_seq bigint;   -- first_seq < seq <= last_seq (none of an older batch's batch_id)
    CREATE INDEX settlement_batches_range_idx ON settlement_batches (merchant_id, currency, last_seq)
        WHERE last_seq IS NOT NULL;
    -- the timers' rounds: batches still on their way
    CREATE INDEX settlement_batches_moving_idx ON settlement_batches (closed_at, id)
        WHERE status IN ('closing', 'closed', 'payout_pending', 'failed');
    -- batches closed under the old rule paid the merchant for its own vouchers too: what remains to
    -- pay of them is what a platform or partner funded
    UPDATE settlement_batches b SET payout_amount = (SELECT coalesce(sum(e.amount), 0) FROM journal_entries e
        WHERE e.batch_id = b.id AND coalesce(nullif(e.funding, ''), 'merchant') <> 'merchant');
    ALTER TABLE settlement_batches ALTER COLUMN payout_amount SET NOT NULL;

    CREATE TABLE batch_transitions (
        id bigserial PRIMARY KEY,
        batch_id uuid NOT NULL REFERENCES settlement_batches (id),
        from_status text,
        to_status text NOT NULL,
        actor jsonb NOT NULL,
        note text,
        at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX batch_transitions_batch_idx ON batch_transitions (batch_id, id);
    INSERT INTO batch_transitions (batch_id, from_status, to_status, actor, at)
        SELECT id, NULL, status, closed_by, closed_at FROM settlement_batches;

    -- a batch netted per store and counterparty (who owes the merchant: nobody, the platform, a partner)
    CREATE TABLE batch_lines (
        id bigserial PRIMARY KEY,
        batch_id uuid NOT NULL REFERENCES settlement_batches (id),
        store_id uuid,
        counterparty text NOT NULL,
        agreement_id uuid,
        currency char(3) NOT NULL,
        redemptions integer NOT NULL,
        reversals integer NOT NULL,
        gross bigint NOT NULL,
        funded bigint NOT NULL,
        fee bigint NOT NULL,
        payable bigint NOT NULL
    );
    CREATE INDEX batch_lines_batch_idx ON batch_lines (batch_id, id);

    CREATE TABLE settlement_schedules (
        merchant_id uuid PRIMARY KEY,
        frequency text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
        time_zone text NOT NULL,
        next_close_at timestamptz NOT NULL,
        updated_by jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX settlement_schedules_due_idx ON settlement_schedules (next_close_at);

    CREATE TABLE payouts (
        id uuid PRIMARY KEY,
        batch_id uuid NOT NULL REFERENCES settlement_batches (id),
        merchant_id uuid NOT NULL,
        attempt integer NOT NULL,
        idempotency_key text NOT NULL UNIQUE,
        amount bigint NOT NULL CHECK (amount > 0),
        currency char(3) NOT NULL,
        wallet_address text NOT NULL,
        status text NOT NULL CHECK (status IN ('requested', 'accepted', 'paid', 'failed')),
        provider text NOT NULL,
        provider_reference text,
        answers integer NOT NULL DEFAULT 0,
        last_answer jsonb,
        requested_at timestamptz NOT NULL DEFAULT now(),
        answered_at timestamptz,
        UNIQUE (batch_id, attempt)
    );
    -- at most one payout of a batch that has not definitely failed: nothing is paid twice
    CREATE UNIQUE INDEX payouts_one_live_per_batch ON payouts (batch_id) WHERE status <> 'failed';

    -- the development payout provider's own books (a simulator that really runs; see payouts.py)
    CREATE TABLE devpay_transfers (
        idempotency_key text PRIMARY KEY,
        reference text NOT NULL UNIQUE,
        amount bigint NOT NULL,
        currency char(3) NOT NULL,
        wallet_address text NOT NULL,
        status text NOT NULL CHECK (status IN ('accepted', 'paid', 'failed')),
        message text,
        created_at timestamptz NOT NULL DEFAULT now(),
        settles_at timestamptz NOT NULL
    );
    CREATE TABLE devpay_behaviour (
        merchant_id uuid PRIMARY KEY,
        mode text NOT NULL CHECK (mode IN ('pay', 'fail', 'delay', 'answer_twice')),
        remaining integer,
        delay_seconds double precision NOT NULL DEFAULT 0,
        set_by jsonb NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now()
    );

    ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_kind_check,
        ADD CONSTRAINT settlement_exceptions_kind_check CHECK (kind IN (
            'payout_account_unconfirmed', 'reconciliation_mismatch', 'reversal_after_close', 'payout_failed',
            'duplicate', 'payout_blocked', 'unknown_account'));
    CREATE INDEX settlement_exceptions_batch_idx ON settlement_exceptions (batch_id) WHERE batch_id IS NOT NULL;
    """)


def _refuse_to_destroy_money_records(bind):
    """The previous schema has no place for some records this one keeps, and dropping them would change
    what merchants are owed or hide money already sent. A finance operator wants neither, so the
    downgrade refuses, saying what is in the way; the way back is the backup taken before the upgrade
    (deploy/k8s/README.md, "Roll back"), not losing money records:

    * correction entries take back what the old booking said a merchant was owed for its own vouchers;
      revision 0003 knows no 'correction' kind and no link to what it corrects, and without them the
      ledger would owe those merchants again (and the old code would pay it in the next batch);
    * payouts carry the provider's reference of money sent and the key that stops a batch being paid
      twice; without them a batch in flight could be paid again after an upgrade;
    * parked entries are redemptions nobody has booked yet: dropping them drops what is owed for them.
    """
    found = {what: bind.exec_driver_sql(sql).scalar() for what, sql in (
        ("correction entries", "SELECT count(*) FROM journal_entries WHERE kind = 'correction'"),
        ("payouts", "SELECT count(*) FROM payouts"),
        ("parked entries not yet booked", "SELECT count(*) FROM parked_entries WHERE status = 'parked'"))}
    in_the_way = ["%d %s" % (count, what) for what, count in found.items() if count]
    if in_the_way:
        raise RuntimeError(
            "settlement 0004 is not downgraded: the ledger holds %s, money records revision 0003 cannot keep "
            "(dropping them would change what merchants are owed or hide money already paid). Nothing was "
            "changed. To go back, restore the database backup taken before the upgrade."
            % ", ".join(in_the_way))


def downgrade():
    _refuse_to_destroy_money_records(op.get_bind())
    op.execute("""
    -- a batch's range becomes its entries' batch_id again
    DROP TRIGGER journal_entries_batched_once ON journal_entries;
    UPDATE journal_entries e SET batch_id = b.id FROM settlement_batches b
        WHERE e.batch_id IS NULL AND b.last_seq IS NOT NULL AND e.merchant_id = b.merchant_id
          AND e.currency = b.currency AND e.seq > b.first_seq AND e.seq <= b.last_seq
          AND e.kind IN ('redemption', 'reversal');  -- (no correction: refused above)
    DROP INDEX settlement_batches_range_idx; DROP INDEX settlement_batches_moving_idx;
    DROP INDEX settlement_exceptions_batch_idx;
    DELETE FROM settlement_exceptions WHERE kind IN ('payout_blocked', 'unknown_account');
    ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_kind_check,
        ADD CONSTRAINT settlement_exceptions_kind_check CHECK (kind IN ('payout_account_unconfirmed',
            'reconciliation_mismatch', 'reversal_after_close', 'payout_failed', 'duplicate'));
    DROP TABLE devpay_behaviour; DROP TABLE devpay_transfers; DROP TABLE payouts; DROP TABLE settlement_schedules;
    DROP TABLE batch_lines; DROP TABLE batch_transitions;
    ALTER TABLE settlement_batches DROP CONSTRAINT settlement_batches_status_check;
    UPDATE settlement_batches SET status = CASE WHEN status IN ('paid', 'payout_pending') THEN status
        ELSE 'exception' END;
    ALTER TABLE settlement_batches ADD CONSTRAINT settlement_batches_status_check
            CHECK (status IN ('payout_pending', 'exception', 'paid')),
        DROP COLUMN frequency, DROP COLUMN time_zone, DROP COLUMN funded, DROP COLUMN fees,
        DROP COLUMN payout_amount, DROP COLUMN reconciliation, DROP COLUMN provider_reference, DROP COLUMN paid_at,
        DROP COLUMN first_seq, DROP COLUMN last_seq;
    DROP TABLE parked_entries; DROP TABLE funding_terms;
    DROP TRIGGER postings_never_edited ON postings; DROP TRIGGER journal_entries_never_deleted ON journal_entries;
    DROP TRIGGER journal_entries_never_edited ON journal_entries; DROP FUNCTION ledger_is_append_only();
    CREATE INDEX journal_entries_unbatched_idx ON journal_entries (merchant_id, occurred_at) WHERE batch_id IS NULL;
    DROP INDEX postings_merchant_account_idx;
    ALTER TABLE postings DROP COLUMN merchant_id, DROP COLUMN store_id;
    DROP TABLE ledger_heads;
    DROP INDEX journal_entries_occurred_idx;
    ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_merchant_seq_key,
        DROP CONSTRAINT journal_entries_kind_check,
        ADD CONSTRAINT journal_entries_kind_check CHECK (kind IN ('redemption', 'reversal', 'payout', 'adjustment')),
        DROP COLUMN corrects, DROP COLUMN payable, DROP COLUMN fee, DROP COLUMN funded, DROP COLUMN agreement_id,
        DROP COLUMN counterparty, DROP COLUMN hash, DROP COLUMN prev_hash, DROP COLUMN seq;
    """)
