"""Campaigns with budgets, customers (members), the points ledger and reservations.

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
    CREATE TABLE campaigns (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        name text NOT NULL,
        funding text NOT NULL CHECK (funding IN ('merchant', 'platform', 'partner')),
        funder_name text,
        currency char(3) NOT NULL,
        budget bigint CHECK (budget > 0),
        spent bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
        valid_from timestamptz NOT NULL,
        valid_until timestamptz,
        status text NOT NULL CHECK (status IN ('active', 'paused', 'ended', 'budget_exhausted')),
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX campaigns_merchant_idx ON campaigns (merchant_id, created_at DESC, id DESC);

    CREATE TABLE customers (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        external_ref text,
        name text NOT NULL,
        email text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (merchant_id, external_ref)
    );
    CREATE INDEX customers_merchant_idx ON customers (merchant_id, created_at DESC, id DESC);

    CREATE TABLE points_accounts (
        customer_id uuid PRIMARY KEY REFERENCES customers (id),
        merchant_id uuid NOT NULL,
        balance bigint NOT NULL DEFAULT 0,
        reserved bigint NOT NULL DEFAULT 0,
        -- points never go below zero and are never promised twice
        CHECK (balance >= 0), CHECK (reserved >= 0), CHECK (reserved <= balance)
    );

    CREATE TABLE points_ledger (
        id bigserial PRIMARY KEY,
        customer_id uuid NOT NULL REFERENCES customers (id),
        kind text NOT NULL CHECK (kind IN ('earn', 'spend', 'refund', 'adjust')),
        points bigint NOT NULL,
        balance_after bigint NOT NULL,
        reference text,
        actor jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX points_ledger_customer_idx ON points_ledger (customer_id, id DESC);
    CREATE UNIQUE INDEX points_ledger_once_idx ON points_ledger (customer_id, kind, reference)
        WHERE reference IS NOT NULL;

    CREATE TABLE points_reservations (
        id uuid PRIMARY KEY,
        customer_id uuid NOT NULL REFERENCES customers (id),
        merchant_id uuid NOT NULL,
        points bigint NOT NULL CHECK (points > 0),
        status text NOT NULL CHECK (status IN ('reserved', 'committed', 'released')),
        reference text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        settled_at timestamptz
    );
    CREATE INDEX points_reservations_expiry_idx ON points_reservations (expires_at) WHERE status = 'reserved';
    """)


def downgrade():
    op.execute("""
    DROP TABLE points_reservations; DROP TABLE points_ledger; DROP TABLE points_accounts;
    DROP TABLE customers; DROP TABLE campaigns;
    DROP TABLE parked_events; DROP TABLE handled_events; DROP TABLE outbox;
    """)
