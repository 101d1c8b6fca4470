"""Idempotency-Keys stored with the effect (plumbing.idempotency): what an entrypoint created
under a key, scoped by caller and method, with the answer a retry gets.

A points reservation is asked for once per reference (a redemption's id): the
reference is unique per merchant, so a retried redemption finds the reservation it made.

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
    op.execute("CREATE UNIQUE INDEX points_reservations_reference_key ON points_reservations "
               "(merchant_id, reference) WHERE reference IS NOT NULL")


def downgrade():
    op.execute("DROP INDEX points_reservations_reference_key; DROP TABLE idempotency_keys")
