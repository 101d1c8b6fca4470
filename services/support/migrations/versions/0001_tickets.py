"""Tickets with per-merchant numbers, their threads, the audit log, messaging tables.

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
    CREATE TABLE ticket_counters (
        merchant_id uuid PRIMARY KEY,
        last_number integer NOT NULL
    );

    CREATE TABLE tickets (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        number integer NOT NULL,
        reference text NOT NULL,
        subject text NOT NULL,
        description text NOT NULL,
        category text NOT NULL,
        priority text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'critical')),
        status text NOT NULL CHECK (status IN ('open', 'processing', 'resolved', 'closed')),
        source text NOT NULL,
        store_id uuid,
        raised_by jsonb NOT NULL,
        assignee jsonb,
        refs jsonb NOT NULL DEFAULT '{}',
        source_event_id uuid UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        ack_due_at timestamptz NOT NULL,
        acknowledged_at timestamptz,
        resolved_at timestamptz,
        resolution jsonb,
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (merchant_id, number),
        UNIQUE (merchant_id, reference)
    );
    CREATE INDEX tickets_merchant_idx ON tickets (merchant_id, created_at DESC, id DESC);
    CREATE INDEX tickets_open_idx ON tickets (merchant_id, status, priority);

    CREATE TABLE ticket_messages (
        id uuid PRIMARY KEY,
        ticket_id uuid NOT NULL REFERENCES tickets (id),
        thread text NOT NULL CHECK (thread IN ('main', 'internal')),
        author jsonb NOT NULL,
        body text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX ticket_messages_ticket_idx ON ticket_messages (ticket_id, created_at);

    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        ticket_id uuid NOT NULL REFERENCES tickets (id),
        actor jsonb NOT NULL,
        action text NOT NULL,
        details jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX audit_log_ticket_idx ON audit_log (ticket_id, id);
    """)


def downgrade():
    op.execute("""
    DROP TABLE audit_log; DROP TABLE ticket_messages; DROP TABLE tickets; DROP TABLE ticket_counters;
    DROP TABLE parked_events; DROP TABLE handled_events; DROP TABLE outbox;
    """)
