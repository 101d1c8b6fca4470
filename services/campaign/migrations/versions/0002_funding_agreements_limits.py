"""Funding agreements the platform grants, per-merchant limits, issuance approvals, manual points.

Platform or partner money reaches a merchant's vouchers only through an agreement the platform
side created, with a budget that issuance commits against. Vouchers above a merchant's ceiling
need an approval the platform gave. Points change by hand only as audited adjustments with a
reference, within a daily limit of credits.

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
    CREATE TABLE funding_agreements (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        funder_kind text NOT NULL CHECK (funder_kind IN ('platform', 'partner')),
        funder_name text,
        currency char(3) NOT NULL,
        budget bigint NOT NULL CHECK (budget > 0),
        committed bigint NOT NULL DEFAULT 0,
        max_voucher_value bigint NOT NULL CHECK (max_voucher_value > 0),
        commission_bp integer CHECK (commission_bp BETWEEN 0 AND 10000),
        valid_from timestamptz NOT NULL,
        valid_until timestamptz,
        status text NOT NULL CHECK (status IN ('active', 'suspended', 'ended')),
        note text,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        -- the database itself refuses to commit more than the budget
        CHECK (committed >= 0 AND committed <= budget),
        CHECK ((funder_kind = 'partner') = (funder_name IS NOT NULL)),
        CHECK (valid_until IS NULL OR valid_until > valid_from)
    );
    CREATE INDEX funding_agreements_merchant_idx ON funding_agreements (merchant_id, created_at DESC, id DESC);
    CREATE INDEX funding_agreements_all_idx ON funding_agreements (created_at DESC, id DESC);

    -- who did what to an agreement, and why
    CREATE TABLE funding_agreement_history (
        id bigserial PRIMARY KEY,
        agreement_id uuid NOT NULL REFERENCES funding_agreements (id),
        action text NOT NULL,
        from_status text,
        to_status text NOT NULL,
        actor jsonb NOT NULL,
        reason text,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX funding_agreement_history_idx ON funding_agreement_history (agreement_id, id);

    ALTER TABLE campaigns ADD COLUMN funding_agreement_id uuid REFERENCES funding_agreements (id);
    -- new campaigns: platform or partner funding only under an agreement (older rows are left
    -- as they were; issuing under them is refused by the service)
    ALTER TABLE campaigns ADD CONSTRAINT campaigns_funding_needs_agreement
        CHECK ((funding = 'merchant') = (funding_agreement_id IS NULL)) NOT VALID;

    CREATE TABLE issuance_approvals (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        currency char(3) NOT NULL,
        value bigint NOT NULL CHECK (value > 0),
        count integer NOT NULL CHECK (count > 0),
        remaining integer NOT NULL CHECK (remaining >= 0),
        reason text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'used')),
        requested_by jsonb NOT NULL,
        decided_by jsonb,
        decided_at timestamptz,
        decision_note text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (remaining <= count)
    );
    CREATE INDEX issuance_approvals_merchant_idx ON issuance_approvals (merchant_id, created_at DESC, id DESC);
    CREATE INDEX issuance_approvals_all_idx ON issuance_approvals (created_at DESC, id DESC);

    -- what each issuance (one voucher, or a batch job) took from an agreement or an approval
    CREATE TABLE issuance_commitments (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        campaign_id uuid,
        agreement_id uuid REFERENCES funding_agreements (id),
        approval_id uuid REFERENCES issuance_approvals (id),
        currency char(3) NOT NULL,
        voucher_value bigint,
        count integer NOT NULL CHECK (count > 0),
        total bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
        released bigint NOT NULL DEFAULT 0 CHECK (released >= 0),
        actor jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        -- an issue gives back at most what it committed, however many events say otherwise
        CHECK (released <= total)
    );
    CREATE INDEX issuance_commitments_agreement_idx ON issuance_commitments (agreement_id, created_at DESC)
        WHERE agreement_id IS NOT NULL;

    -- value a cancelled or expired voucher gave back to its agreement: once per voucher
    CREATE TABLE agreement_releases (
        voucher_id uuid PRIMARY KEY,
        agreement_id uuid NOT NULL REFERENCES funding_agreements (id),
        amount bigint NOT NULL CHECK (amount >= 0),
        cause text NOT NULL,
        released_at timestamptz NOT NULL DEFAULT now()
    );

    -- per-merchant limits the platform sets; NULL means the configured default
    CREATE TABLE merchant_limits (
        merchant_id uuid PRIMARY KEY,
        voucher_value_ceiling bigint CHECK (voucher_value_ceiling >= 0),
        daily_points_credit_limit bigint CHECK (daily_points_credit_limit >= 0),
        updated_by jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE merchant_limit_history (
        id bigserial PRIMARY KEY,
        merchant_id uuid NOT NULL,
        voucher_value_ceiling bigint,
        daily_points_credit_limit bigint,
        reason text NOT NULL,
        actor jsonb NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX merchant_limit_history_idx ON merchant_limit_history (merchant_id, id DESC);

    -- manual points credits per merchant and UTC day, counted atomically against the limit
    CREATE TABLE points_daily_credits (
        merchant_id uuid NOT NULL,
        day date NOT NULL,
        credited bigint NOT NULL CHECK (credited >= 0),
        PRIMARY KEY (merchant_id, day)
    );

    ALTER TABLE points_ledger ADD COLUMN reason text;
    """)


def downgrade():
    op.execute("""
    ALTER TABLE points_ledger DROP COLUMN reason;
    DROP TABLE points_daily_credits; DROP TABLE merchant_limit_history; DROP TABLE merchant_limits;
    DROP TABLE agreement_releases; DROP TABLE issuance_commitments; DROP TABLE issuance_approvals;
    ALTER TABLE campaigns DROP CONSTRAINT campaigns_funding_needs_agreement;
    ALTER TABLE campaigns DROP COLUMN funding_agreement_id;
    DROP TABLE funding_agreement_history; DROP TABLE funding_agreements;
    """)
