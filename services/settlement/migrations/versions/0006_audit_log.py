"""The audit log of payout account changes (set, checked, confirmed, rejected: the history, and the
account row itself, so an address changed without its history line is recorded too): append-only,
written by the database's triggers, sealed into a hash chain per merchant (``plumbing.audit``;
``python -m plumbing.audit verify``).

Revision ID: 0006
Revises: 0005
"""
from alembic import op

from plumbing import audit

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(audit.install_sql("settlement"))
    op.execute(audit.source_sql("settlement", "payout_account_history", "c.merchant_id", order="c.at, c.id"))
    op.execute(audit.source_sql("settlement", "payout_accounts", "c.merchant_id", order="c.updated_at, c.merchant_id",
                                key="c.merchant_id"))
    op.execute(audit.guard_inserts_sql("settlement"))


def downgrade():
    op.execute(audit.drop_source_sql("settlement", "payout_accounts"))
    op.execute(audit.drop_source_sql("settlement", "payout_account_history"))
    op.execute(audit.uninstall_sql("settlement"))
