"""Vouchers, their status history, redemptions, and the messaging tables.

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
    CREATE TABLE vouchers (
        id uuid PRIMARY KEY,
        code text NOT NULL UNIQUE,
        merchant_id uuid NOT NULL,
        store_ids uuid[],
        campaign_id uuid,
        batch_id uuid,
        funding text NOT NULL DEFAULT 'merchant',
        customer_id uuid,
        kind text NOT NULL CHECK (kind IN ('discount_fixed', 'discount_percent', 'stored_value')),
        currency char(3) NOT NULL,
        face_value bigint CHECK (face_value > 0),
        balance bigint CHECK (balance >= 0),
        percent_bp integer CHECK (percent_bp BETWEEN 1 AND 10000),
        cap bigint CHECK (cap > 0),
        min_purchase bigint CHECK (min_purchase >= 0),
        hybrid boolean NOT NULL DEFAULT false,
        point_value bigint NOT NULL DEFAULT 1 CHECK (point_value > 0),
        uses_allowed integer NOT NULL DEFAULT 1 CHECK (uses_allowed > 0),
        uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
        per_customer_limit integer CHECK (per_customer_limit > 0),
        valid_from timestamptz NOT NULL,
        valid_until timestamptz,
        status text NOT NULL CHECK (status IN
            ('active', 'partially_redeemed', 'redeemed', 'expired', 'cancelled')),
        pin_hash text,
        locked_until timestamptz,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        -- the database itself refuses to let money move twice
        CHECK (balance IS NULL OR balance <= face_value),
        CHECK (kind = 'stored_value' OR uses <= uses_allowed),
        CHECK ((kind = 'stored_value') = (balance IS NOT NULL))
    );
    CREATE INDEX vouchers_merchant_idx ON vouchers (merchant_id, created_at DESC, id DESC);
    CREATE INDEX vouchers_campaign_idx ON vouchers (campaign_id) WHERE campaign_id IS NOT NULL;
    CREATE INDEX vouchers_batch_idx ON vouchers (batch_id) WHERE batch_id IS NOT NULL;
    CREATE INDEX vouchers_expiring_idx ON vouchers (valid_until)
        WHERE status IN ('active', 'partially_redeemed') AND valid_until IS NOT NULL;

    CREATE TABLE voucher_history (
        id bigserial PRIMARY KEY,
        voucher_id uuid NOT NULL REFERENCES vouchers (id),
        from_status text,
        to_status text NOT NULL,
        actor jsonb NOT NULL,
        reason text,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX voucher_history_voucher_idx ON voucher_history (voucher_id, id);

    CREATE TABLE redemptions (
        id uuid PRIMARY KEY,
        reference text NOT NULL UNIQUE,
        voucher_id uuid NOT NULL REFERENCES vouchers (id),
        merchant_id uuid NOT NULL,
        store_id uuid NOT NULL,
        user_id text NOT NULL,
        processed_by jsonb NOT NULL,
        channel text NOT NULL CHECK (channel IN ('pos', 'vending_machine', 'in_app', 'web', 'kiosk')),
        method text NOT NULL,
        customer_id uuid,
        amount bigint NOT NULL CHECK (amount >= 0),
        points bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
        points_value bigint NOT NULL DEFAULT 0 CHECK (points_value >= 0),
        purchase_amount bigint CHECK (purchase_amount >= 0),
        currency char(3) NOT NULL,
        receipt_remarks text,
        points_reservation_id uuid,
        status text NOT NULL DEFAULT 'completed' CHECK (status IN ('completed', 'reversed')),
        idempotency_key text,
        request_hash text,
        created_at timestamptz NOT NULL DEFAULT now(),
        reversed_at timestamptz,
        reversed_by jsonb,
        reversal_reason text,
        UNIQUE (merchant_id, idempotency_key)
    );
    CREATE INDEX redemptions_merchant_idx ON redemptions (merchant_id, created_at DESC, id DESC);
    CREATE INDEX redemptions_store_idx ON redemptions (merchant_id, store_id, created_at DESC);
    CREATE INDEX redemptions_voucher_idx ON redemptions (voucher_id);
    CREATE INDEX redemptions_customer_idx ON redemptions (customer_id) WHERE customer_id IS NOT NULL;
    """)


def downgrade():
    op.execute("""
    DROP TABLE redemptions; DROP TABLE voucher_history; DROP TABLE vouchers;
    DROP TABLE parked_events; DROP TABLE handled_events; DROP TABLE outbox;
    """)
