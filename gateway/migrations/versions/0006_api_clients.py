"""API clients: machines a merchant registers (a POS terminal bound to one store, a buyer app, a
logistics partner), each with secrets stored hashed; a rotated secret keeps working until its
grace period ends; a revoked client is refused at once.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    CREATE TABLE api_clients (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL REFERENCES merchants (id),
        store_id uuid REFERENCES stores (id),
        kind text NOT NULL CHECK (kind IN ('pos', 'buyer_app', 'logistics_partner')),
        name text NOT NULL,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz,
        revoked_by jsonb,
        CHECK ((kind = 'pos') = (store_id IS NOT NULL))
    );
    CREATE INDEX api_clients_merchant_idx ON api_clients (merchant_id, created_at DESC);
    CREATE INDEX api_clients_revoked_idx ON api_clients (revoked_at) WHERE revoked_at IS NOT NULL;

    -- SHA-256 of a 256-bit random secret (see gateway/clients.py for why not argon2)
    CREATE TABLE api_client_secrets (
        id uuid PRIMARY KEY,
        client_id uuid NOT NULL REFERENCES api_clients (id),
        secret_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz
    );
    CREATE INDEX api_client_secrets_client_idx ON api_client_secrets (client_id);
    """)


def downgrade():
    op.execute("DROP TABLE api_client_secrets; DROP TABLE api_clients;")
