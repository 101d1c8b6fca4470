"""The audit log of vouchers issued and cancelled (their status history) and of redemptions and
reversals: append-only, written by the database's triggers, sealed into a hash chain per merchant
(``plumbing.audit``; ``python -m plumbing.audit verify``).

A history line names its voucher only: the log adds the voucher's merchant and money terms.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

from plumbing import audit

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VOUCHER_TERMS = ("jsonb_build_object('voucher', jsonb_build_object('merchant_id', v.merchant_id, 'kind', v.kind, "
                 "'currency', v.currency, 'face_value', v.face_value, 'percent_bp', v.percent_bp, 'cap', v.cap, "
                 "'funding', v.funding, 'funding_agreement_id', v.funding_agreement_id, 'campaign_id', v.campaign_id, "
                 "'batch_id', v.batch_id))")


def upgrade():
    op.execute(audit.install_sql("redemption"))
    op.execute(audit.source_sql("redemption", "voucher_history", "v.merchant_id",
                                join="LEFT JOIN redemption.vouchers v ON v.id = c.voucher_id", extra=VOUCHER_TERMS))
    op.execute(audit.source_sql("redemption", "redemptions", "c.merchant_id", order="c.created_at, c.id"))
    op.execute(audit.guard_inserts_sql("redemption"))


def downgrade():
    op.execute(audit.drop_source_sql("redemption", "redemptions"))
    op.execute(audit.drop_source_sql("redemption", "voucher_history"))
    op.execute(audit.uninstall_sql("redemption"))
