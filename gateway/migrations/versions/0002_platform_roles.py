"""Platform roles beside the admin: platform finance, platform support, IT support.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PLATFORM = "('admin', 'platform_finance', 'platform_support', 'it_support')"


def upgrade():
    op.execute("""
    ALTER TABLE users DROP CONSTRAINT users_role_check;
    ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN
        ('owner', 'store_user', 'support_agent', 'finance') OR role IN %(platform)s);
    ALTER TABLE users DROP CONSTRAINT users_check;
    -- platform users belong to no merchant; everyone else to exactly one
    ALTER TABLE users ADD CONSTRAINT users_platform_check CHECK ((role IN %(platform)s) = (merchant_id IS NULL));
    """ % {"platform": PLATFORM})


def downgrade():
    op.execute("""
    ALTER TABLE users DROP CONSTRAINT users_platform_check;
    ALTER TABLE users ADD CONSTRAINT users_check CHECK ((role = 'admin') = (merchant_id IS NULL));
    ALTER TABLE users DROP CONSTRAINT users_role_check;
    ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN
        ('owner', 'store_user', 'support_agent', 'finance', 'admin'));
    """)
