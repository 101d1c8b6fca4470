"""Idempotency-Keys stored with the effect (plumbing.idempotency): what an entrypoint created
under a key, scoped by caller and method, with the answer a retry gets.

Redemptions kept their key in their own row until now; the mechanism is now the same for
every entrypoint. A key used in the last day is carried over, so a retry across this upgrade
never redeems twice (it is refused as a different request: the old rows hold no answer).

Revision ID: 0004
Revises: 0003
"""
from alembic import op

from plumbing.migrations import IDEMPOTENCY_KEYS_SQL

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(IDEMPOTENCY_KEYS_SQL)
    op.execute("""
    INSERT INTO idempotency_keys (caller, method, key, request_hash, created_at)
        SELECT user_id::text, 'redeem', idempotency_key, 'before-0004:' || coalesce(request_hash, ''), created_at
        FROM redemptions WHERE idempotency_key IS NOT NULL AND created_at > now() - interval '1 day'
    ON CONFLICT DO NOTHING;
    """)


def downgrade():
    op.execute("DROP TABLE idempotency_keys")
