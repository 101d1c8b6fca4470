"""The gateway no longer keeps a table of keys for every POST: each service stores its own with
the effect (plumbing.idempotency), and so does the gateway for what it creates itself
(merchants, stores, users), in the same table every component has.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

from plumbing.migrations import IDEMPOTENCY_KEYS_SQL

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DROP TABLE idempotency_keys")  # (user_id, key) for any POST, answered by the gateway
    op.execute(IDEMPOTENCY_KEYS_SQL)


def downgrade():
    op.execute("""
    DROP TABLE idempotency_keys;
    CREATE TABLE idempotency_keys (
        user_id uuid NOT NULL,
        key text NOT NULL,
        method text NOT NULL,
        path text NOT NULL,
        request_hash text NOT NULL,
        status_code integer,
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        PRIMARY KEY (user_id, key)
    );
    CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
    """)
