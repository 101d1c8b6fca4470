"""Analytics per store (and merchant-wide) across campaigns over any date range: who has redeemed a
voucher of the merchant's campaigns, and the purchases per store and day with each purchase's
customer's previous two purchase days there (which is what lets a range count its buyers and
repeat buyers by summing rows: see ``services.campaign.analytics``). Backfilled from the purchases.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    -- a customer who redeemed a voucher of any of the merchant's campaigns (from voucher_redeemed)
    CREATE TABLE merchant_redeemers (
        merchant_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        first_redeemed_at timestamptz NOT NULL,
        PRIMARY KEY (merchant_id, customer_id)
    );
    INSERT INTO merchant_redeemers (merchant_id, customer_id, first_redeemed_at)
        SELECT c.merchant_id, r.customer_id, min(r.first_redeemed_at) FROM campaign_redeemers r
        JOIN campaigns c ON c.id = r.campaign_id GROUP BY 1, 2;

    -- purchases per merchant, store (the nil uuid: all its stores), currency, day and buyer (a redeemer,
    -- another customer, or anonymous), by the day of the customer's previous purchase and the one
    -- before it in that store and currency ('-infinity': none)
    CREATE TABLE store_sales (
        merchant_id uuid NOT NULL,
        store_id uuid NOT NULL,
        currency char(3) NOT NULL,
        day date NOT NULL,
        buyer text NOT NULL CHECK (buyer IN ('redeemer', 'other', 'anonymous')),
        prev_day date NOT NULL,
        prev2_day date NOT NULL,
        purchases integer NOT NULL DEFAULT 0,
        revenue bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (merchant_id, store_id, currency, day, buyer, prev_day, prev2_day)
    );
    WITH p AS (
        SELECT p.merchant_id, p.store_id, p.currency, p.amount, (p.created_at AT TIME ZONE 'UTC')::date AS day,
               CASE WHEN p.customer_id IS NULL THEN 'anonymous' WHEN r.customer_id IS NULL THEN 'other'
                    ELSE 'redeemer' END AS buyer,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 1) OVER at_store AS s1,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 2) OVER at_store AS s2,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 1) OVER anywhere AS m1,
               lag((p.created_at AT TIME ZONE 'UTC')::date, 2) OVER anywhere AS m2
        FROM purchases p LEFT JOIN merchant_redeemers r ON r.merchant_id = p.merchant_id
             AND r.customer_id = p.customer_id
        WINDOW at_store AS (PARTITION BY p.customer_id, p.store_id, p.currency ORDER BY p.created_at, p.id),
               anywhere AS (PARTITION BY p.customer_id, p.currency ORDER BY p.created_at, p.id))
    INSERT INTO store_sales (merchant_id, store_id, currency, day, buyer, prev_day, prev2_day, purchases, revenue)
    SELECT merchant_id, store_id, currency, day, buyer, prev_day, prev2_day, count(*), sum(amount) FROM (
        SELECT merchant_id, store_id, currency, amount, day, buyer,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(s1, '-infinity') END AS prev_day,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(s2, '-infinity') END AS prev2_day FROM p
        UNION ALL
        SELECT merchant_id, '00000000-0000-0000-0000-000000000000', currency, amount, day, buyer,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(m1, '-infinity') END,
               CASE WHEN buyer = 'anonymous' THEN '-infinity' ELSE coalesce(m2, '-infinity') END FROM p) x
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    """)


def downgrade():
    op.execute("DROP TABLE store_sales; DROP TABLE merchant_redeemers;")
