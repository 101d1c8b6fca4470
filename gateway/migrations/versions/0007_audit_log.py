"""The audit log of users and roles (created, role or store changed, deactivated...): append-only,
written by the database's triggers, sealed into a hash chain per merchant, the platform users' in
the chain of the nil UUID (``plumbing.audit``; ``python -m plumbing.audit verify``).

Revision ID: 0007
Revises: 0006
"""
from alembic import op

from plumbing import audit

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(audit.install_sql("gateway"))
    op.execute(audit.source_sql("gateway", "user_audit", "c.merchant_id", order="c.at, c.id"))
    op.execute(audit.guard_inserts_sql("gateway"))


def downgrade():
    op.execute(audit.drop_source_sql("gateway", "user_audit"))
    op.execute(audit.uninstall_sql("gateway"))
