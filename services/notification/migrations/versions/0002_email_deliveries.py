"""Email deliveries: one row per (event, kind of email), so no event is ever emailed twice.

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
    CREATE TABLE email_deliveries (
        id uuid PRIMARY KEY,
        event_id uuid NOT NULL,
        kind text NOT NULL,
        merchant_id uuid,
        recipient text NOT NULL,
        subject text NOT NULL,
        -- sending: claimed, the outcome not yet known; unknown: a try stopped after claiming, so
        -- the message may have gone and is not sent again
        status text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'unknown')),
        attempts integer NOT NULL DEFAULT 1,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        UNIQUE (event_id, kind)
    );
    CREATE INDEX email_deliveries_merchant_idx ON email_deliveries (merchant_id, created_at DESC);
    """)


def downgrade():
    op.execute("DROP TABLE email_deliveries;")
