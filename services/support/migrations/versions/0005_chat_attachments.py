"""Files in chat: a conversation message names the attachments it carries (uploaded to the
conversation first, as ticket messages do), and an attachment belongs to a real conversation.
Mailed-in tickets name their requester as kind ``email`` (their id is an address, not a customer).

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
    ALTER TABLE conversation_messages ADD COLUMN attachment_ids jsonb NOT NULL DEFAULT '[]';
    ALTER TABLE attachments ADD CONSTRAINT attachments_conversation_fk
        FOREIGN KEY (conversation_id) REFERENCES conversations (id);
    CREATE INDEX attachments_conversation_idx ON attachments (conversation_id) WHERE conversation_id IS NOT NULL;
    UPDATE tickets SET requester = jsonb_build_object('kind', 'email', 'id', requester->>'id')
        WHERE source = 'email' AND requester->>'kind' = 'customer' AND position('@' in requester->>'id') > 0;
    """)


def downgrade():
    op.execute("""
    DROP INDEX attachments_conversation_idx;
    ALTER TABLE attachments DROP CONSTRAINT attachments_conversation_fk;
    ALTER TABLE conversation_messages DROP COLUMN attachment_ids;
    """)
