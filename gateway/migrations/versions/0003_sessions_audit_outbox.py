"""Sessions (revocable sign-ins), the user audit, and the gateway's outbox.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

from plumbing.migrations import MESSAGING_TABLES_SQL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(MESSAGING_TABLES_SQL)
    op.execute("""
    -- one row per sign-in; every access token names its session (the 'ses' claim)
    CREATE TABLE sessions (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        last_issued_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        revoked_reason text
    );
    CREATE INDEX sessions_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;
    CREATE INDEX sessions_revoked_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

    ALTER TABLE refresh_tokens ADD COLUMN session_id uuid REFERENCES sessions (id),
                               ADD COLUMN revoked_reason text;
    CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

    -- tokens of this user issued before this moment are refused (all sessions ended)
    ALTER TABLE users ADD COLUMN tokens_not_before timestamptz,
                      ADD COLUMN updated_at timestamptz;
    CREATE INDEX users_not_before_idx ON users (tokens_not_before) WHERE tokens_not_before IS NOT NULL;

    -- who changed which user, when, as what role, and what changed
    CREATE TABLE user_audit (
        id uuid PRIMARY KEY,
        merchant_id uuid REFERENCES merchants (id),  -- NULL: a platform user
        user_id uuid NOT NULL REFERENCES users (id),
        action text NOT NULL,
        changes jsonb NOT NULL DEFAULT '{}'::jsonb,
        actor jsonb NOT NULL,
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX user_audit_merchant_idx ON user_audit (merchant_id, at DESC, id DESC);
    CREATE INDEX user_audit_platform_idx ON user_audit (at DESC, id DESC) WHERE merchant_id IS NULL;
    """)


def downgrade():
    op.execute("""
    DROP TABLE user_audit;
    DROP INDEX users_not_before_idx;
    ALTER TABLE users DROP COLUMN updated_at, DROP COLUMN tokens_not_before;
    ALTER TABLE refresh_tokens DROP COLUMN revoked_reason, DROP COLUMN session_id;
    DROP TABLE sessions;
    DROP TABLE parked_events; DROP TABLE handled_events; DROP TABLE outbox;
    """)
