"""The redemption service's copy of each campaign's rules a till checks (state, window, stores).

Kept from the campaign service's ``campaign_changed`` events (and from its answer when a voucher
is issued), the newest ``version`` winning, so the till checks a campaign in its own database,
in the same round trip that finds the voucher, and never calls the campaign service there.

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
    CREATE TABLE campaign_rules (
        campaign_id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        version integer NOT NULL,
        status text NOT NULL,
        pause_reason text,
        valid_from timestamptz NOT NULL,
        valid_until timestamptz,
        time_zone text NOT NULL,
        weekdays smallint[],
        hours_from text,
        hours_until text,
        store_ids text[],
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    """)


def downgrade():
    op.execute("DROP TABLE campaign_rules")
