"""Batch issue jobs, partner (external) codes, failed-attempt counters for lockouts.

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
    CREATE TABLE issue_jobs (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        requested integer NOT NULL CHECK (requested BETWEEN 1 AND 100000),
        issued integer NOT NULL DEFAULT 0 CHECK (issued >= 0),
        template jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
        error text,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        heartbeat_at timestamptz,
        finished_at timestamptz,
        CHECK (issued <= requested)
    );
    CREATE INDEX issue_jobs_pending_idx ON issue_jobs (created_at) WHERE status IN ('queued', 'running');
    CREATE INDEX issue_jobs_merchant_idx ON issue_jobs (merchant_id, created_at DESC, id DESC);

    CREATE TABLE external_codes (
        id uuid PRIMARY KEY,
        voucher_id uuid NOT NULL REFERENCES vouchers (id),
        merchant_id uuid NOT NULL,
        format text NOT NULL,
        value text NOT NULL,
        issuer text NOT NULL,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (merchant_id, value)
    );
    CREATE INDEX external_codes_voucher_idx ON external_codes (voucher_id);

    -- failures (unknown codes, wrong PINs, forged QRs) per user, store and voucher
    CREATE TABLE failed_attempts (
        scope text NOT NULL CHECK (scope IN ('user', 'store', 'voucher')),
        scope_id text NOT NULL,
        merchant_id uuid NOT NULL,
        window_start timestamptz NOT NULL,
        failures integer NOT NULL,
        last_failure_at timestamptz NOT NULL,
        locked_until timestamptz,
        PRIMARY KEY (scope, scope_id)
    );

    CREATE INDEX redemptions_user_idx ON redemptions (merchant_id, user_id, created_at DESC);
    """)


def downgrade():
    op.execute("""
    DROP INDEX redemptions_user_idx;
    DROP TABLE failed_attempts; DROP TABLE external_codes; DROP TABLE issue_jobs;
    """)
