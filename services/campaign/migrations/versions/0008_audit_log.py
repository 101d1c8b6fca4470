"""The audit log of funding agreements (created, suspended, ended...): append-only, written by the
database's triggers, sealed into a hash chain per merchant (``plumbing.audit``;
``python -m plumbing.audit verify``).

A history line names its agreement only: the log adds the agreement's merchant and terms.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

from plumbing import audit

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

AGREEMENT_TERMS = ("jsonb_build_object('agreement', jsonb_build_object('merchant_id', a.merchant_id, "
                   "'funder_kind', a.funder_kind, 'funder_name', a.funder_name, 'currency', a.currency, "
                   "'budget', a.budget, 'max_voucher_value', a.max_voucher_value, 'commission_bp', a.commission_bp, "
                   "'valid_from', a.valid_from, 'valid_until', a.valid_until))")


def upgrade():
    op.execute(audit.install_sql("campaign"))
    op.execute(audit.source_sql("campaign", "funding_agreement_history", "a.merchant_id",
                                join="LEFT JOIN campaign.funding_agreements a ON a.id = c.agreement_id",
                                extra=AGREEMENT_TERMS))
    op.execute(audit.guard_inserts_sql("campaign"))


def downgrade():
    op.execute(audit.drop_source_sql("campaign", "funding_agreement_history"))
    op.execute(audit.uninstall_sql("campaign"))
