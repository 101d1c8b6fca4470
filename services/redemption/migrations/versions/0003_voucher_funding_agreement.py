"""Vouchers name the funding agreement that pays for them (platform or partner money).

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    ALTER TABLE vouchers ADD COLUMN funding_agreement_id uuid;
    CREATE INDEX vouchers_agreement_idx ON vouchers (funding_agreement_id) WHERE funding_agreement_id IS NOT NULL;
    """)


def downgrade():
    op.execute("""
    DROP INDEX vouchers_agreement_idx;
    ALTER TABLE vouchers DROP COLUMN funding_agreement_id;
    """)
