"""The support desk: requesters and buyer-issue fields, the logistics cascade, escalation, the SLA clock
(policies, calendars, pauses, the overdue flag), agents, canned responses, attachments, chat, and an
audit log that can only grow.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    ALTER TABLE tickets
        ADD COLUMN requester jsonb NOT NULL DEFAULT '{"kind": "system", "id": null}',
        ADD COLUMN customer_id uuid,
        ADD COLUMN sub_category text,
        ADD COLUMN delivery_type text CHECK (delivery_type IN ('off_network', 'on_network')),
        ADD COLUMN order_id text,
        ADD COLUMN issue_items jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN currency text,
        ADD COLUMN eta timestamptz,
        ADD COLUMN assignee_id uuid,
        ADD COLUMN escalation_level text,
        ADD COLUMN partner_client_id uuid,
        ADD COLUMN lsp_status text CHECK (lsp_status IN ('pending', 'processing', 'resolved')),
        ADD COLUMN lsp_eta timestamptz,
        ADD COLUMN waiting_on text CHECK (waiting_on IN ('requester', 'partner')),
        ADD COLUMN pauses jsonb NOT NULL DEFAULT '[]',
        ADD COLUMN first_response_at timestamptz,
        ADD COLUMN next_response_due_at timestamptz,
        ADD COLUMN resolution_due_at timestamptz,
        ADD COLUMN overdue boolean NOT NULL DEFAULT false,
        ADD COLUMN overdue_reason text,
        ADD COLUMN overdue_at timestamptz,
        ADD COLUMN closed_at timestamptz,
        ADD COLUMN rating smallint CHECK (rating BETWEEN 1 AND 5),
        ADD COLUMN rating_comment text,
        ADD COLUMN duplicate_of text,
        ADD COLUMN merged_into text,
        ADD COLUMN reopened_count integer NOT NULL DEFAULT 0;
    UPDATE tickets SET requester = jsonb_build_object('kind', 'user', 'id', raised_by->>'user_id')
        WHERE raised_by->>'role' <> 'system';
    CREATE INDEX tickets_assignee_idx ON tickets (assignee_id) WHERE status IN ('open', 'processing');
    CREATE INDEX tickets_clock_idx ON tickets (ack_due_at)
        WHERE NOT overdue AND status IN ('open', 'processing');
    CREATE INDEX tickets_escalated_idx ON tickets (escalation_level, created_at DESC, id DESC)
        WHERE escalation_level IN ('platform_support', 'it_support');
    CREATE INDEX tickets_customer_idx ON tickets (merchant_id, customer_id, created_at DESC);
    CREATE INDEX tickets_partner_idx ON tickets (partner_client_id, created_at DESC);
    CREATE INDEX tickets_dashboard_idx ON tickets (merchant_id, store_id, category, status);

    ALTER TABLE ticket_messages ADD COLUMN attachment_ids jsonb NOT NULL DEFAULT '[]';

    -- the audit log only grows: nobody (the service included) rewrites what happened
    CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

    -- per merchant: the calendar, SLA policies, automatic assignment; its row is the lock
    -- automatic assignment takes, so a burst of tickets is handed out one at a time
    CREATE TABLE desk_settings (
        merchant_id uuid PRIMARY KEY,
        settings jsonb NOT NULL DEFAULT '{}',
        assignment_mode text NOT NULL DEFAULT 'off'
            CHECK (assignment_mode IN ('off', 'round_robin', 'least_loaded')),
        updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE agents (
        merchant_id uuid NOT NULL,
        user_id uuid NOT NULL,
        username text,
        capacity integer NOT NULL DEFAULT 20 CHECK (capacity >= 0),
        available boolean NOT NULL DEFAULT true,
        last_assigned_at timestamptz,
        PRIMARY KEY (merchant_id, user_id)
    );

    CREATE TABLE canned_responses (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        title text NOT NULL,
        body text NOT NULL,
        created_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (merchant_id, title)
    );

    CREATE TABLE attachments (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        ticket_id uuid REFERENCES tickets (id),
        conversation_id uuid,
        filename text NOT NULL,
        content_type text NOT NULL,
        size integer NOT NULL,
        sha256 text NOT NULL,
        storage_key text NOT NULL,
        uploaded_by jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX attachments_ticket_idx ON attachments (ticket_id);

    CREATE TABLE conversations (
        id uuid PRIMARY KEY,
        merchant_id uuid NOT NULL,
        customer_id uuid NOT NULL,
        store_id uuid,
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        ticket_reference text,
        started_by jsonb NOT NULL,
        customer_seen_at timestamptz,
        last_message_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX conversations_merchant_idx ON conversations (merchant_id, created_at DESC, id DESC);

    CREATE TABLE conversation_messages (
        id uuid PRIMARY KEY,
        conversation_id uuid NOT NULL REFERENCES conversations (id),
        author_kind text NOT NULL CHECK (author_kind IN ('customer', 'staff', 'system')),
        author jsonb NOT NULL,
        body text NOT NULL,
        source_mail_id uuid UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX conversation_messages_idx ON conversation_messages (conversation_id, created_at);

    ALTER TABLE ticket_messages ADD COLUMN source_mail_id uuid UNIQUE;
    """)


def downgrade():
    op.execute("""
    DROP TABLE conversation_messages; DROP TABLE conversations; DROP TABLE attachments;
    DROP TABLE canned_responses; DROP TABLE agents; DROP TABLE desk_settings;
    DROP TRIGGER audit_log_append_only ON audit_log; DROP FUNCTION audit_log_is_append_only();
    ALTER TABLE ticket_messages DROP COLUMN attachment_ids, DROP COLUMN source_mail_id;
    ALTER TABLE tickets DROP COLUMN requester, DROP COLUMN customer_id, DROP COLUMN sub_category,
        DROP COLUMN delivery_type, DROP COLUMN order_id, DROP COLUMN issue_items, DROP COLUMN currency,
        DROP COLUMN eta, DROP COLUMN assignee_id, DROP COLUMN escalation_level, DROP COLUMN partner_client_id,
        DROP COLUMN lsp_status, DROP COLUMN lsp_eta, DROP COLUMN waiting_on, DROP COLUMN pauses,
        DROP COLUMN first_response_at, DROP COLUMN next_response_due_at, DROP COLUMN resolution_due_at,
        DROP COLUMN overdue, DROP COLUMN overdue_reason, DROP COLUMN overdue_at, DROP COLUMN closed_at,
        DROP COLUMN rating, DROP COLUMN rating_comment, DROP COLUMN duplicate_of, DROP COLUMN merged_into,
        DROP COLUMN reopened_count;
    """)
