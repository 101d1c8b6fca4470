"""Customers in full (phone, member id, tags, tier, email consent, what they bought), purchases
(receipt unique per store: a replay counts once), points with expiry (lots spent oldest first),
and the per-campaign figures analytics reads, kept as purchases and redemptions happen.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    ALTER TABLE customers
        ADD COLUMN phone text,
        ADD COLUMN member_id text,
        ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
        ADD COLUMN tier text NOT NULL DEFAULT 'member',
        ADD COLUMN email_consent boolean NOT NULL DEFAULT false,
        ADD COLUMN visits integer NOT NULL DEFAULT 0,
        ADD COLUMN total_spend bigint NOT NULL DEFAULT 0,
        ADD COLUMN last_purchase_at timestamptz,
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
    UPDATE customers SET member_id = 'M' || upper(substr(replace(id::text, '-', ''), 1, 10));
    ALTER TABLE customers ALTER COLUMN member_id SET NOT NULL;
    CREATE UNIQUE INDEX customers_member_idx ON customers (merchant_id, member_id);
    CREATE INDEX customers_phone_idx ON customers (merchant_id, phone) WHERE phone IS NOT NULL;
    CREATE INDEX customers_email_idx ON customers (merchant_id, lower(email)) WHERE email IS NOT NULL;
    CREATE INDEX customers_tags_idx ON customers USING gin (tags);

    CREATE TABLE purchases (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        store_id uuid NOT NULL,
        customer_id uuid REFERENCES customers (id),
        receipt_id text NOT NULL,
        amount bigint NOT NULL CHECK (amount > 0),
        currency char(3) NOT NULL,
        items jsonb NOT NULL DEFAULT '[]',
        redemption_reference text,
        points_earned bigint NOT NULL DEFAULT 0,
        request_hash text NOT NULL,
        recorded_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (merchant_id, store_id, receipt_id)
    );
    CREATE INDEX purchases_merchant_idx ON purchases (merchant_id, created_at DESC, id DESC);
    CREATE INDEX purchases_customer_idx ON purchases (customer_id, created_at DESC, id DESC);

    -- points come in lots that expire; a debit spends the oldest first
    CREATE TABLE points_lots (
        id bigserial PRIMARY KEY,
        customer_id uuid NOT NULL REFERENCES customers (id),
        points bigint NOT NULL CHECK (points > 0),
        remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX points_lots_customer_idx ON points_lots (customer_id, expires_at) WHERE remaining > 0;
    CREATE INDEX points_lots_expiry_idx ON points_lots (expires_at) WHERE remaining > 0;
    ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_kind_check,
        ADD CONSTRAINT points_ledger_kind_check CHECK (kind IN ('earn', 'spend', 'refund', 'adjust', 'expire'));
    -- a credit always names what it is for (a purchase, a reversal, an owner's reference): once
    ALTER TABLE points_ledger ADD CONSTRAINT points_ledger_credit_reference
        CHECK (points <= 0 OR reference IS NOT NULL) NOT VALID;
    -- balances from before lots: one lot each, a year to go
    INSERT INTO points_lots (customer_id, points, remaining, expires_at)
        SELECT customer_id, balance, balance, now() + interval '365 days' FROM points_accounts WHERE balance > 0;

    -- who redeemed a campaign's voucher (from voucher_redeemed), for analytics
    CREATE TABLE campaign_redeemers (
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        customer_id uuid NOT NULL,
        first_redeemed_at timestamptz NOT NULL,
        PRIMARY KEY (campaign_id, customer_id)
    );

    -- per campaign, customer and store (the nil uuid: all stores) during the campaign: purchases and revenue
    CREATE TABLE campaign_customer_stats (
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        customer_id uuid NOT NULL,
        store_id uuid NOT NULL,
        purchases integer NOT NULL DEFAULT 0,
        revenue bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, customer_id, store_id)
    );

    -- the same, summed per campaign and store for redeemers and the others: analytics reads one row
    CREATE TABLE campaign_store_summary (
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        store_id uuid NOT NULL,
        redeemer bool NOT NULL,
        buyers integer NOT NULL DEFAULT 0,
        repeat_buyers integer NOT NULL DEFAULT 0,
        purchases integer NOT NULL DEFAULT 0,
        revenue bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, store_id, redeemer)
    );

    -- purchases of customers during a campaign per store and day, for the daily series
    CREATE TABLE campaign_daily_sales (
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        store_id uuid NOT NULL,
        day date NOT NULL,
        purchases integer NOT NULL DEFAULT 0,
        revenue bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign_id, store_id, day)
    );
    """)


def downgrade():
    op.execute("""
    DROP TABLE campaign_daily_sales; DROP TABLE campaign_store_summary; DROP TABLE campaign_customer_stats;
    DROP TABLE campaign_redeemers; DROP TABLE points_lots; DROP TABLE purchases;
    ALTER TABLE points_ledger DROP CONSTRAINT points_ledger_credit_reference,
        DROP CONSTRAINT points_ledger_kind_check,
        ADD CONSTRAINT points_ledger_kind_check CHECK (kind IN ('earn', 'spend', 'refund', 'adjust'));
    DROP INDEX customers_tags_idx; DROP INDEX customers_email_idx; DROP INDEX customers_phone_idx;
    DROP INDEX customers_member_idx;
    ALTER TABLE customers DROP COLUMN phone, DROP COLUMN member_id, DROP COLUMN tags, DROP COLUMN tier,
        DROP COLUMN email_consent, DROP COLUMN visits, DROP COLUMN total_spend, DROP COLUMN last_purchase_at,
        DROP COLUMN updated_at;
    """)
