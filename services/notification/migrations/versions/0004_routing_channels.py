"""The routing table's records: one delivery per (event, recipient, channel), inboxes per user and
per customer, preferences, customers' presence, webhook endpoints and their secrets, merchants'
mail settings and the mail received at their support addresses.

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
    ALTER TABLE inbox_messages ADD COLUMN customer_id uuid, ADD COLUMN event_id text;
    ALTER TABLE inbox_messages DROP CONSTRAINT IF EXISTS inbox_messages_check;
    ALTER TABLE inbox_messages ADD CONSTRAINT inbox_messages_recipient_check
        CHECK (audience_role IS NOT NULL OR user_id IS NOT NULL OR customer_id IS NOT NULL);
    CREATE INDEX inbox_messages_customer_idx ON inbox_messages (customer_id, created_at DESC, id DESC)
        WHERE customer_id IS NOT NULL;

    -- nothing is sent twice for the same event, recipient and channel, however often it is redelivered
    CREATE TABLE deliveries (
        id uuid PRIMARY KEY,
        event_id text NOT NULL,
        event_type text NOT NULL,
        merchant_id uuid,
        recipient_kind text NOT NULL,
        recipient_id text NOT NULL,
        channel text NOT NULL CHECK (channel IN ('inbox', 'email', 'webhook')),
        address text,
        kind text NOT NULL,
        payload jsonb NOT NULL DEFAULT '{}',
        status text NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'unknown')),
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        next_attempt_at timestamptz,
        event_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        UNIQUE (event_id, recipient_kind, recipient_id, channel)
    );
    CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_sending_idx ON deliveries (updated_at) WHERE status = 'sending';
    CREATE INDEX deliveries_log_idx ON deliveries (merchant_id, channel, created_at DESC, id DESC);
    CREATE INDEX deliveries_endpoint_idx ON deliveries (recipient_id, created_at DESC, id DESC)
        WHERE channel = 'webhook';

    CREATE TABLE preferences (
        merchant_id uuid NOT NULL,
        recipient_kind text NOT NULL,
        recipient_id text NOT NULL,
        kind text NOT NULL,
        channel text NOT NULL,
        enabled boolean NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (recipient_kind, recipient_id, kind, channel)
    );

    -- a customer is online while a buyer app streams or reads their inbox
    CREATE TABLE presence (
        customer_id uuid PRIMARY KEY,
        last_seen_at timestamptz NOT NULL
    );

    CREATE TABLE webhook_endpoints (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        url text NOT NULL,
        events text[] NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
        consecutive_failures integer NOT NULL DEFAULT 0,
        disabled_reason text,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_endpoints_merchant_idx ON webhook_endpoints (merchant_id, created_at DESC, id DESC);

    -- kept as written: a signature needs the secret itself
    CREATE TABLE webhook_secrets (
        id uuid PRIMARY KEY,
        endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
        secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz
    );
    CREATE INDEX webhook_secrets_endpoint_idx ON webhook_secrets (endpoint_id);

    CREATE TABLE merchant_mail (
        merchant_id uuid PRIMARY KEY,
        display_name text,
        reply_to text,
        support_local text UNIQUE,
        updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE inbound_mails (
        id uuid PRIMARY KEY,
        merchant_id uuid,
        to_address text NOT NULL,
        from_address text NOT NULL,
        from_name text,
        subject text NOT NULL,
        body text NOT NULL,
        message_id text,
        ticket_reference text,
        conversation_id uuid,
        received_at timestamptz NOT NULL DEFAULT now(),
        outcome text NOT NULL
    );
    """)


def downgrade():
    op.execute("""
    DROP TABLE inbound_mails; DROP TABLE merchant_mail; DROP TABLE webhook_secrets; DROP TABLE webhook_endpoints;
    DROP TABLE presence; DROP TABLE preferences; DROP TABLE deliveries;
    DROP INDEX inbox_messages_customer_idx;
    ALTER TABLE inbox_messages DROP CONSTRAINT inbox_messages_recipient_check;
    ALTER TABLE inbox_messages DROP COLUMN customer_id, DROP COLUMN event_id;
    """)
