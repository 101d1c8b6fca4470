"""Webhook endpoints' secrets encrypted at rest: each ``webhook_secrets.secret`` becomes a Fernet token
under ``WEBHOOK_SECRET_KEYS`` (the first key), so a copy of the database cannot sign as us. The
downgrade decrypts them again (the previous release reads plain text).

The keys are read as the service reads them (``WEBHOOK_SECRET_KEYS``, ``WEBHOOK_SECRET_KEYS_FILE``, or
``make run``'s under ``.local/keys``); they are needed only where there are secrets to convert. While
old and new pods overlap in a rolling update, a delivery signed by an old pod with a converted secret
fails its receiver's check and is retried (with backoff) by a new one.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
from cryptography.fernet import InvalidToken

from plumbing import config as cfg
from services.notification import webhooks

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _keys():
    return webhooks.SecretKeys(webhooks.secret_keys_text(cfg.env, cfg.LOCAL_DIR))


def _convert(convert):
    bind = op.get_bind()
    rows = bind.exec_driver_sql("SELECT id, secret FROM webhook_secrets FOR UPDATE").mappings().all()
    if not rows:
        return
    keys = _keys()
    for row in rows:
        bind.exec_driver_sql("UPDATE webhook_secrets SET secret = %(secret)s WHERE id = %(id)s",
                             {"id": row["id"], "secret": convert(keys, row["secret"])})


def _seal(keys, secret):
    if not secret.startswith(webhooks.SECRET_PREFIX):
        return secret  # sealed already (every secret we issue starts with the prefix)
    return keys.seal(secret)


def _open(keys, sealed):
    try:
        return keys.open(sealed)
    except InvalidToken:
        raise RuntimeError("a webhook secret (%s...) cannot be decrypted with WEBHOOK_SECRET_KEYS: give the "
                           "key it was encrypted with" % sealed[:10]) from None


def upgrade():
    op.execute("COMMENT ON COLUMN webhook_secrets.secret IS "
               "'Fernet token under WEBHOOK_SECRET_KEYS (services/notification/webhooks.py SecretKeys)'")
    _convert(_seal)


def downgrade():
    _convert(_open)
    op.execute("COMMENT ON COLUMN webhook_secrets.secret IS NULL")
