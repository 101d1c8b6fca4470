"""In-app inbox messages addressed to a user or to a role of a merchant, and read marks.

Revision ID: 0001
Revises:
"""
from alembic import op

from plumbing.migrations import MESSAGING_TABLES_SQL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute(MESSAGING_TABLES_SQL)
    op.execute("""
    CREATE TABLE inbox_messages (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        audience_role text,
        user_id text,
        kind text NOT NULL,
        title text NOT NULL,
        body text NOT NULL,
        refs jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (audience_role IS NOT NULL OR user_id IS NOT NULL)
    );
    CREATE INDEX inbox_messages_role_idx ON inbox_messages (merchant_id, audience_role, created_at DESC, id DESC);
    CREATE INDEX inbox_messages_user_idx ON inbox_messages (user_id, created_at DESC, id DESC)
        WHERE user_id IS NOT NULL;

    CREATE TABLE inbox_reads (
        message_id uuid NOT NULL REFERENCES inbox_messages (id),
        user_id text NOT NULL,
        read_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (message_id, user_id)
    );
    """)


def downgrade():
    op.execute("""
    DROP TABLE inbox_reads; DROP TABLE inbox_messages;
    DROP TABLE parked_events; DROP TABLE handled_events; DROP TABLE outbox;
    """)
