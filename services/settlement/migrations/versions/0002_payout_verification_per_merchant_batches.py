"""Payout addresses confirmed only by the platform after an out-of-band check, held for a
cooling-off period, with their history; batch references numbered per merchant and period.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    -- SET-2026-12-005 told every merchant how many batches the platform closed: number per merchant
    DROP TABLE batch_sequences;
    CREATE TABLE batch_sequences (
        merchant_id uuid NOT NULL,
        period text NOT NULL,
        last_number integer NOT NULL,
        PRIMARY KEY (merchant_id, period)
    );
    -- go on after the highest number each merchant already has, so no reference repeats
    INSERT INTO batch_sequences (merchant_id, period, last_number)
        SELECT merchant_id, period, max(substring(reference FROM '([0-9]+)$')::integer)
        FROM settlement_batches GROUP BY merchant_id, period;
    ALTER TABLE settlement_batches DROP CONSTRAINT settlement_batches_reference_key,
        ADD CONSTRAINT settlement_batches_merchant_reference_key UNIQUE (merchant_id, reference),
        ADD COLUMN released_by jsonb,
        ADD COLUMN released_at timestamptz;

    ALTER TABLE payout_accounts
        ADD COLUMN cooling_off_until timestamptz,
        ADD COLUMN confirmation jsonb;
    UPDATE payout_accounts SET cooling_off_until = updated_at;
    ALTER TABLE payout_accounts ALTER COLUMN cooling_off_until SET NOT NULL;

    -- who set the address, who checked it with the merchant and how, who confirmed it, when
    CREATE TABLE payout_account_history (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        action text NOT NULL CHECK (action IN ('set', 'reopened', 'verification_requested',
                                                'verification_failed', 'confirmed')),
        wallet_address text NOT NULL,
        actor jsonb NOT NULL,
        details jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payout_account_history_merchant_idx ON payout_account_history (merchant_id, at DESC, id DESC);
    INSERT INTO payout_account_history (id, merchant_id, action, wallet_address, actor, at)
        SELECT gen_random_uuid(), merchant_id, 'set', wallet_address, set_by, updated_at FROM payout_accounts;
    INSERT INTO payout_account_history (id, merchant_id, action, wallet_address, actor, at)
        SELECT gen_random_uuid(), merchant_id, 'confirmed', wallet_address, confirmed_by, confirmed_at
        FROM payout_accounts WHERE status = 'confirmed';

    -- a confirmation by the merchant's own users proves nothing (the owner can create them):
    -- such addresses wait for the platform again
    INSERT INTO payout_account_history (id, merchant_id, action, wallet_address, actor, details)
        SELECT gen_random_uuid(), merchant_id, 'reopened', wallet_address,
               '{"user_id": "migration:settlement-0002", "username": "settlement", "role": "system"}',
               '{"reason": "Confirmed by a user of the merchant itself; the platform must confirm it"}'
        FROM payout_accounts
        WHERE status = 'confirmed'
          AND coalesce(confirmed_by ->> 'role', '') NOT IN ('admin', 'platform_finance');
    UPDATE payout_accounts SET status = 'unconfirmed', confirmed_by = NULL, confirmed_at = NULL
        WHERE status = 'confirmed'
          AND coalesce(confirmed_by ->> 'role', '') NOT IN ('admin', 'platform_finance');

    -- a code emailed to the merchant's registered contact, kept only as a hash
    CREATE TABLE payout_verifications (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        wallet_address text NOT NULL,
        code_hash text NOT NULL,
        sent_to text NOT NULL,
        requested_by jsonb NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL CHECK (max_attempts > 0),
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'used', 'exhausted', 'expired', 'superseded')),
        finished_at timestamptz,
        CHECK (attempts <= max_attempts)
    );
    CREATE UNIQUE INDEX payout_verifications_one_pending ON payout_verifications (merchant_id)
        WHERE status = 'pending';
    """)


def downgrade():
    op.execute("""
    DROP TABLE payout_verifications;
    DROP TABLE payout_account_history;
    ALTER TABLE payout_accounts DROP COLUMN confirmation, DROP COLUMN cooling_off_until;
    -- fails, as it should, once two merchants hold the same reference
    ALTER TABLE settlement_batches DROP COLUMN released_at, DROP COLUMN released_by,
        DROP CONSTRAINT settlement_batches_merchant_reference_key,
        ADD CONSTRAINT settlement_batches_reference_key UNIQUE (reference);
    DROP TABLE batch_sequences;
    CREATE TABLE batch_sequences (period text PRIMARY KEY, last_number integer NOT NULL);
    INSERT INTO batch_sequences (period, last_number)
        SELECT period, max(substring(reference FROM '([0-9]+)$')::integer) FROM settlement_batches GROUP BY period;
    """)
