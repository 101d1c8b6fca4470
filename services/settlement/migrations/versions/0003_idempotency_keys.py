"""Idempotency-Keys stored with the effect (plumbing.idempotency): what an entrypoint created
under a key, scoped by caller and method, with the answer a retry gets.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from plumbing.migrations import IDEMPOTENCY_KEYS_SQL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(IDEMPOTENCY_KEYS_SQL)


def downgrade():
    op.execute("DROP TABLE idempotency_keys")
