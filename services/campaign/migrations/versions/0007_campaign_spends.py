"""Which redemptions have spent a campaign's budget, and which of them were reversed: a reversal
handled before its redemption waits (its handler retries) instead of un-spending a budget nothing
has spent yet, and neither is ever applied twice, whatever order or how often the events arrive; a
redemption that arrives after a later reversal still finds the budget as spent as it really was.

Redemptions spent before this revision have no row: a reversal of one of them waits, then is parked
for an operator (list_parked_events / replay), who discards it or books it by hand.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    CREATE TABLE campaign_spends (
        redemption_id uuid PRIMARY KEY,
        campaign_id uuid NOT NULL REFERENCES campaigns (id),
        amount bigint NOT NULL CHECK (amount >= 0),
        spent_at timestamptz NOT NULL,     -- when it was redeemed, and
        reversed_at timestamptz            -- reversed, at the till: the order things really happened in
    );
    CREATE INDEX campaign_spends_reversed_idx ON campaign_spends (campaign_id, reversed_at);
    """)


def downgrade():
    op.execute("DROP TABLE campaign_spends;")
