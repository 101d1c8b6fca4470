"""Merchants, stores, users with roles, refresh tokens, idempotency keys.

Revision ID: 0001
Revises:
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    CREATE TABLE merchants (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        currency char(3) NOT NULL,
        contact_email text,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX merchants_name_idx ON merchants (lower(name));
    CREATE INDEX merchants_created_idx ON merchants (created_at DESC, id DESC);

    CREATE TABLE stores (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL REFERENCES merchants (id),
        name text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('store', 'kiosk', 'outlet', 'online')),
        address text,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX stores_name_idx ON stores (merchant_id, lower(name));
    CREATE INDEX stores_merchant_idx ON stores (merchant_id, created_at DESC, id DESC);

    CREATE TABLE users (
        id uuid PRIMARY KEY,
        merchant_id uuid REFERENCES merchants (id),
        store_id uuid REFERENCES stores (id),
        username text NOT NULL,
        display_name text,
        email text,
        role text NOT NULL CHECK (role IN ('owner', 'store_user', 'support_agent', 'finance', 'admin')),
        password_hash text NOT NULL,
        active boolean NOT NULL DEFAULT true,
        failed_logins integer NOT NULL DEFAULT 0,
        locked_until timestamptz,
        last_login_at timestamptz,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        -- platform admins belong to no merchant; everyone else to exactly one
        CHECK ((role = 'admin') = (merchant_id IS NULL)),
        -- a store user is bound to one store (branch); nobody else is
        CHECK ((role = 'store_user') = (store_id IS NOT NULL))
    );
    CREATE UNIQUE INDEX users_username_idx ON users (lower(username));
    CREATE INDEX users_merchant_idx ON users (merchant_id, created_at DESC, id DESC);

    CREATE TABLE refresh_tokens (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id),
        token_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz
    );
    CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

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


def downgrade():
    op.execute("""
    DROP TABLE idempotency_keys; DROP TABLE refresh_tokens; DROP TABLE users; DROP TABLE stores;
    DROP TABLE merchants;
    """)
