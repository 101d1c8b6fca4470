"""Double-entry ledger, settlement batches, payout accounts, exceptions, messaging tables.

Revision ID: 0001
Revises:
"""
from alembic import op

from plumbing.migrations import MESSAGING_TABLES_SQL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute(MESSAGING_TABLES_SQL)
    op.execute("""
    CREATE TABLE payout_accounts (
        merchant_id uuid PRIMARY KEY,
        wallet_address text NOT NULL,
        status text NOT NULL CHECK (status IN ('unconfirmed', 'confirmed')),
        set_by jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        confirmed_by jsonb,
        confirmed_at timestamptz
    );

    CREATE TABLE batch_sequences (
        period text PRIMARY KEY,
        last_number integer NOT NULL
    );

    CREATE TABLE settlement_batches (
        id uuid PRIMARY KEY,
        reference text NOT NULL UNIQUE,
        merchant_id uuid NOT NULL,
        period text NOT NULL,
        period_start timestamptz NOT NULL,
        period_end timestamptz NOT NULL,
        currency char(3) NOT NULL,
        total bigint NOT NULL,
        entry_count integer NOT NULL,
        status text NOT NULL CHECK (status IN ('payout_pending', 'exception', 'paid')),
        closed_by jsonb NOT NULL,
        closed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX settlement_batches_merchant_idx ON settlement_batches (merchant_id, closed_at DESC, id DESC);

    CREATE TABLE journal_entries (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        store_id uuid,
        kind text NOT NULL CHECK (kind IN ('redemption', 'reversal', 'payout', 'adjustment')),
        source_id uuid NOT NULL,
        source_reference text,
        source_event_id uuid,
        amount bigint NOT NULL,
        currency char(3) NOT NULL,
        funding text,
        campaign_id uuid,
        batch_id uuid REFERENCES settlement_batches (id),
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        description text NOT NULL,
        UNIQUE (kind, source_id)
    );
    CREATE INDEX journal_entries_merchant_idx ON journal_entries (merchant_id, recorded_at DESC, id DESC);
    CREATE INDEX journal_entries_unbatched_idx ON journal_entries (merchant_id, occurred_at)
        WHERE batch_id IS NULL;

    CREATE TABLE postings (
        id bigserial PRIMARY KEY,
        entry_id uuid NOT NULL REFERENCES journal_entries (id),
        account text NOT NULL,
        amount bigint NOT NULL CHECK (amount <> 0),
        currency char(3) NOT NULL
    );
    CREATE INDEX postings_entry_idx ON postings (entry_id);
    CREATE INDEX postings_account_idx ON postings (account);

    -- double entry: every journal entry's postings sum to zero, checked at commit
    CREATE FUNCTION postings_balance() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE unbalanced bigint;
    BEGIN
        SELECT sum(amount) INTO unbalanced FROM postings WHERE entry_id = NEW.entry_id;
        IF unbalanced <> 0 THEN
            RAISE EXCEPTION 'journal entry % does not balance (off by %)', NEW.entry_id, unbalanced;
        END IF;
        RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER postings_balance AFTER INSERT OR UPDATE ON postings
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION postings_balance();

    CREATE TABLE settlement_exceptions (
        id uuid PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('payout_account_unconfirmed', 'reconciliation_mismatch',
                                           'reversal_after_close', 'payout_failed', 'duplicate')),
        merchant_id uuid NOT NULL,
        store_id uuid,
        batch_id uuid REFERENCES settlement_batches (id),
        batch_reference text,
        amount bigint,
        currency char(3),
        message text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
        raised_at timestamptz NOT NULL DEFAULT now(),
        ticket_reference text,
        resolved_at timestamptz,
        resolution jsonb
    );
    CREATE INDEX settlement_exceptions_merchant_idx
        ON settlement_exceptions (merchant_id, raised_at DESC, id DESC);
    """)


def downgrade():
    op.execute("""
    DROP TABLE settlement_exceptions; DROP TABLE postings; DROP FUNCTION postings_balance();
    DROP TABLE journal_entries; DROP TABLE settlement_batches; DROP TABLE batch_sequences;
    DROP TABLE payout_accounts;
    DROP TABLE parked_events; DROP TABLE handled_events; DROP TABLE outbox;
    """)
