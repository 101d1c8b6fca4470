"""A payout address the platform rejected (who, when, why; never paid to, the merchant submits
another), and the ``missing_agreement`` exception: a platform- or partner-funded entry booked before
funding agreements existed names no agreement, so nobody can say who owes it: it is held, not paid.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KINDS_0004 = ("'payout_account_unconfirmed', 'reconciliation_mismatch', 'reversal_after_close', 'payout_failed', "
              "'duplicate', 'payout_blocked', 'unknown_account'")


def upgrade():
    op.execute("""
    ALTER TABLE payout_accounts DROP CONSTRAINT payout_accounts_status_check,
        ADD CONSTRAINT payout_accounts_status_check CHECK (status IN ('unconfirmed', 'confirmed', 'rejected')),
        ADD COLUMN rejected_by jsonb, ADD COLUMN rejected_at timestamptz, ADD COLUMN rejection_reason text;
    ALTER TABLE payout_account_history DROP CONSTRAINT payout_account_history_action_check,
        ADD CONSTRAINT payout_account_history_action_check CHECK (action IN (
            'set', 'reopened', 'verification_requested', 'verification_failed', 'confirmed', 'rejected'));
    ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_kind_check,
        ADD CONSTRAINT settlement_exceptions_kind_check CHECK (kind IN (%s, 'missing_agreement'));
    """ % KINDS_0004)


def downgrade():
    # A rejected address becomes unconfirmed again (never paid to either way); the history keeps
    # the rejection as a 'reopened' row with its reason, so nobody loses who rejected it and why.
    op.execute("""
    ALTER TABLE payout_account_history DROP CONSTRAINT payout_account_history_action_check;
    UPDATE payout_account_history SET action = 'reopened',
        details = details || '{"downgraded_from": "rejected"}' WHERE action = 'rejected';
    ALTER TABLE payout_account_history ADD CONSTRAINT payout_account_history_action_check CHECK (action IN (
        'set', 'reopened', 'verification_requested', 'verification_failed', 'confirmed'));
    ALTER TABLE payout_accounts DROP CONSTRAINT payout_accounts_status_check;
    UPDATE payout_accounts SET status = 'unconfirmed' WHERE status = 'rejected';
    ALTER TABLE payout_accounts ADD CONSTRAINT payout_accounts_status_check
            CHECK (status IN ('unconfirmed', 'confirmed')),
        DROP COLUMN rejected_by, DROP COLUMN rejected_at, DROP COLUMN rejection_reason;
    -- the previous release knows no such kind: an unknown_account exception says the same (no
    -- account can be trusted for the money) and keeps its ticket, message and resolution
    ALTER TABLE settlement_exceptions DROP CONSTRAINT settlement_exceptions_kind_check;
    UPDATE settlement_exceptions SET kind = 'unknown_account' WHERE kind = 'missing_agreement';
    ALTER TABLE settlement_exceptions ADD CONSTRAINT settlement_exceptions_kind_check CHECK (kind IN (%s));
    """ % KINDS_0004)
