"""Sign-in throttle: failed sign-ins counted per client address, per account and per both.

Replaces the hard account lock (which anyone who knew a username controlled) with a
back-off; the users' failed_logins and locked_until columns are no longer used.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    CREATE TABLE sign_in_failures (
        scope text NOT NULL CHECK (scope IN ('address', 'account', 'pair')),
        key text NOT NULL,          -- the address, a hash of the username as typed, or both
        failures integer NOT NULL,
        last_failure_at timestamptz NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX sign_in_failures_age_idx ON sign_in_failures (last_failure_at);
    """)


def downgrade():
    op.execute("DROP TABLE sign_in_failures")
