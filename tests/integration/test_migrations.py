"""Migrations that convert money or secrets, up and down, on a real PostgreSQL database of their own
(no system started: each test migrates one component's schema to where it needs it)."""
import uuid

import psycopg2
import psycopg2.extras
import pytest
from alembic import command

from plumbing import config as cfg
from plumbing.migrations import _sqlalchemy_url, alembic_config, drop_database, ensure_database
from services.notification import webhooks
from tests.conftest import RUN_ID, WEBHOOK_TEST_KEY


@pytest.fixture
def fresh_database():
    """An empty database of this test's own, as the admin."""
    name = "vowtest_%s_mig%s" % (RUN_ID, uuid.uuid4().hex[:6])
    url = cfg.with_database(cfg.admin_database_url(), name)
    ensure_database(url)
    yield url
    drop_database(cfg.admin_database_url(), name)


def migrate(url, component, revision, down=False):
    config = alembic_config(component, _sqlalchemy_url(url))
    (command.downgrade if down else command.upgrade)(config, revision)


def query(url, sql, params=()):
    conn = psycopg2.connect(url, cursor_factory=psycopg2.extras.RealDictCursor)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_webhook_secrets_are_encrypted_by_the_upgrade_and_decrypted_by_the_downgrade(fresh_database, monkeypatch):
    url = fresh_database
    migrate(url, "notification", "0004")
    endpoint = str(uuid.uuid4())
    query(url, "INSERT INTO notification.webhook_endpoints (id, merchant_id, url, events, status, created_by) "
               "VALUES (%s, %s, 'https://example.com/hook', '{support.ticket_created}', 'active', '{}')",
          (endpoint, str(uuid.uuid4())))
    plain = ["whsec_before-one", "whsec_before-two"]
    for secret in plain:
        query(url, "INSERT INTO notification.webhook_secrets (id, endpoint_id, secret) VALUES (%s, %s, %s)",
              (str(uuid.uuid4()), endpoint, secret))

    monkeypatch.delenv("WEBHOOK_SECRET_KEYS", raising=False)
    monkeypatch.setattr(cfg, "LOCAL_DIR", cfg.REPO_ROOT / "no-such-dir")
    with pytest.raises(ValueError, match="WEBHOOK_SECRET_KEYS is not set"):
        migrate(url, "notification", "0005")  # nothing is left half-converted without keys
    assert sorted(r["secret"] for r in query(url, "SELECT secret FROM notification.webhook_secrets")) == plain

    monkeypatch.setenv("WEBHOOK_SECRET_KEYS", WEBHOOK_TEST_KEY)
    migrate(url, "notification", "0005")
    stored = [r["secret"] for r in query(url, "SELECT secret FROM notification.webhook_secrets")]
    assert not set(stored) & set(plain)
    keys = webhooks.SecretKeys(WEBHOOK_TEST_KEY)
    assert sorted(keys.open(s) for s in stored) == plain

    migrate(url, "notification", "0004", down=True)
    assert sorted(r["secret"] for r in query(url, "SELECT secret FROM notification.webhook_secrets")) == plain
