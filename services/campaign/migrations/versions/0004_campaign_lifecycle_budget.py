"""Campaigns in full: goal, window (weekdays and hours in a time zone), stores, audience, reward,
per-customer limit and a budget by value and/or count that issuance commits against; the
lifecycle draft -> scheduled -> active -> paused -> ended with who did what; issuance jobs.

The budget holds because every voucher's most it can give is committed against it when the
voucher is issued (``committed``, checked by the table itself), and given back when it is
cancelled or expires unused: what tills spend is at most what was committed.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
    UPDATE campaigns SET status = 'paused' WHERE status = 'budget_exhausted';
    ALTER TABLE campaigns
        ADD COLUMN goal text,
        ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC',
        ADD COLUMN weekdays smallint[],
        ADD COLUMN hours_from time,
        ADD COLUMN hours_until time,
        ADD COLUMN store_ids uuid[],
        ADD COLUMN audience jsonb,
        ADD COLUMN reward jsonb,
        ADD COLUMN per_customer_limit integer CHECK (per_customer_limit > 0),
        ADD COLUMN max_vouchers integer CHECK (max_vouchers > 0),
        ADD COLUMN committed bigint NOT NULL DEFAULT 0,
        ADD COLUMN issued_count integer NOT NULL DEFAULT 0,
        ADD COLUMN redeemed_count integer NOT NULL DEFAULT 0,
        ADD COLUMN pause_reason text,
        ADD COLUMN version integer NOT NULL DEFAULT 1,
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
        ADD CONSTRAINT campaigns_status_check
            CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'ended')),
        -- the database itself refuses to commit more than the budget, or issue more vouchers than allowed
        ADD CONSTRAINT campaigns_committed_check CHECK (committed >= 0 AND (budget IS NULL OR committed <= budget)),
        ADD CONSTRAINT campaigns_issued_check CHECK (issued_count >= 0
            AND (max_vouchers IS NULL OR issued_count <= max_vouchers));

    -- saved audiences: rules over customers (tier, tags, visits, spend, days since last purchase)
    CREATE TABLE segments (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        name text NOT NULL,
        rules jsonb NOT NULL,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX segments_merchant_idx ON segments (merchant_id, created_at DESC, id DESC);

    CREATE TABLE campaign_history (
        id bigserial PRIMARY KEY,
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        action text NOT NULL,
        from_status text,
        to_status text NOT NULL,
        actor jsonb NOT NULL,
        reason text,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX campaign_history_idx ON campaign_history (campaign_id, id);

    -- what each issue (one voucher, or a batch) committed against its campaign's budget
    CREATE TABLE campaign_commitments (
        id text PRIMARY KEY,
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        customer_id uuid,
        voucher_value bigint,
        count integer NOT NULL CHECK (count > 0),
        total bigint NOT NULL DEFAULT 0,
        released bigint NOT NULL DEFAULT 0 CHECK (released >= 0 AND released <= total),
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX campaign_commitments_customer_idx ON campaign_commitments (campaign_id, customer_id)
        WHERE customer_id IS NOT NULL;

    CREATE TABLE campaign_releases (
        voucher_id uuid PRIMARY KEY,
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        amount bigint NOT NULL,
        cause text NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );

    -- per campaign, store (the nil uuid: none) and day: the pre-aggregated figures analytics reads
    CREATE TABLE campaign_daily (
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        store_id uuid NOT NULL,
        day date NOT NULL,
        issued integer NOT NULL DEFAULT 0,
        redeemed integer NOT NULL DEFAULT 0,
        discount bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, store_id, day)
    );

    CREATE TABLE issuance_jobs (
        id uuid PRIMARY KEY,
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        merchant_id uuid NOT NULL,
        target text NOT NULL CHECK (target IN ('customer', 'segment', 'codes')),
        customer_id uuid,
        segment_id uuid,
        requested integer NOT NULL,
        issued integer NOT NULL DEFAULT 0,
        skipped integer NOT NULL DEFAULT 0,
        status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
        redemption_job_id uuid,
        last_error text,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX issuance_jobs_queue_idx ON issuance_jobs (updated_at) WHERE status IN ('queued', 'running');
    CREATE INDEX issuance_jobs_campaign_idx ON issuance_jobs (campaign_id, created_at DESC, id DESC);

    -- one row per customer an issue job reaches, with what became of it
    CREATE TABLE issuance_job_items (
        job_id uuid NOT NULL REFERENCES issuance_jobs (id),
        customer_id uuid NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'issued', 'skipped')),
        voucher_id uuid,
        note text,
        PRIMARY KEY (job_id, customer_id)
    );
    CREATE INDEX issuance_job_items_pending_idx ON issuance_job_items (job_id) WHERE status = 'pending';
    """)


def downgrade():
    op.execute("""
    DROP TABLE issuance_job_items; DROP TABLE issuance_jobs; DROP TABLE campaign_daily;
    DROP TABLE campaign_releases; DROP TABLE campaign_commitments; DROP TABLE campaign_history;
    DROP TABLE segments;
    ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check, DROP CONSTRAINT campaigns_committed_check,
        DROP CONSTRAINT campaigns_issued_check, DROP COLUMN goal, DROP COLUMN time_zone, DROP COLUMN weekdays,
        DROP COLUMN hours_from, DROP COLUMN hours_until, DROP COLUMN store_ids, DROP COLUMN audience,
        DROP COLUMN reward, DROP COLUMN per_customer_limit, DROP COLUMN max_vouchers, DROP COLUMN committed,
        DROP COLUMN issued_count, DROP COLUMN redeemed_count, DROP COLUMN pause_reason, DROP COLUMN version,
        DROP COLUMN updated_at;
    ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
        CHECK (status IN ('active', 'paused', 'ended', 'budget_exhausted'));
    """)
