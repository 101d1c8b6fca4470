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
    # (the ledger's balance trigger names its tables without a schema, as the service's search_path has it)
    conn = psycopg2.connect(url, cursor_factory=psycopg2.extras.RealDictCursor, options="-c search_path=settlement")
    try:
        with conn, conn.cursor() as cur:
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


def legacy_entry(url, merchant, funding, amount, payable_account=True):
    """A redemption as revision 0003 booked it: every voucher's amount owed to the merchant."""
    entry, store = str(uuid.uuid4()), str(uuid.uuid4())
    query(url, "INSERT INTO settlement.journal_entries (id, merchant_id, store_id, kind, source_id, source_reference, "
               "amount, currency, funding, occurred_at, description) VALUES (%s, %s, %s, 'redemption', %s, 'RD-OLD', "
               "%s, 'ZAR', %s, now() - interval '40 days', 'Redemption RD-OLD')",
          (entry, merchant, store, str(uuid.uuid4()), amount, funding))
    query(url, "INSERT INTO settlement.postings (entry_id, account, amount, currency) VALUES (%s, %s, %s, 'ZAR'), "
               "(%s, %s, %s, 'ZAR')", (entry, "%s_funding" % (funding or "merchant"), amount,
                                       entry, "merchant_payable:%s:%s" % (merchant, store), -amount))
    return entry


def revision(url):
    return query(url, "SELECT version_num FROM settlement.alembic_version")[0]["version_num"]


def test_settlement_0004_goes_down_and_up_again_keeping_the_ledger(fresh_database):
    url, merchant = fresh_database, str(uuid.uuid4())
    migrate(url, "settlement", "0003")
    entry = legacy_entry(url, merchant, "platform", 2500)
    migrate(url, "settlement", "head")
    [chained] = query(url, "SELECT seq, counterparty, payable FROM settlement.journal_entries")
    assert (chained["seq"], chained["counterparty"], chained["payable"]) == (1, "platform", 2500)

    migrate(url, "settlement", "0003", down=True)
    assert revision(url) == "0003"
    assert [r["id"] for r in query(url, "SELECT id::text FROM settlement.journal_entries")] == [entry]
    assert query(url, "SELECT sum(amount)::int AS s, count(*)::int AS n FROM settlement.postings")[0] == {"s": 0, "n": 2}
    migrate(url, "settlement", "head")
    assert query(url, "SELECT seq FROM settlement.journal_entries")[0]["seq"] == 1


def test_settlement_0004_refuses_to_go_down_over_correction_entries_and_changes_nothing(fresh_database):
    url, merchant = fresh_database, str(uuid.uuid4())
    migrate(url, "settlement", "0003")
    legacy_entry(url, merchant, None, 1800)  # the merchant's own voucher, once owed to it: corrected by 0004
    migrate(url, "settlement", "head")
    head = revision(url)
    kinds = sorted(r["kind"] for r in query(url, "SELECT kind FROM settlement.journal_entries"))
    assert kinds == ["correction", "redemption"]

    with pytest.raises(RuntimeError) as refused:
        migrate(url, "settlement", "0003", down=True)
    message = str(refused.value)
    assert "1 correction entries" in message and "Nothing was changed" in message and "backup" in message
    assert revision(url) == head
    assert sorted(r["kind"] for r in query(url, "SELECT kind FROM settlement.journal_entries")) == kinds
    owed = query(url, "SELECT sum(amount)::int AS owed FROM settlement.postings WHERE account LIKE 'merchant_payable:%%'")
    assert owed == [{"owed": 0}]  # the correction still takes back what the old booking owed


def test_the_operator_reseals_every_webhook_secret_under_the_new_key(fresh_database):
    from cryptography.fernet import Fernet, InvalidToken
    from services.notification.cli import reseal_webhook_secrets
    url = fresh_database
    migrate(url, "notification", "head")
    old, new = WEBHOOK_TEST_KEY, Fernet.generate_key().decode()
    endpoint = str(uuid.uuid4())
    query(url, "INSERT INTO notification.webhook_endpoints (id, merchant_id, url, events, status, created_by) "
               "VALUES (%s, %s, 'https://example.com/hook', '{support.ticket_created}', 'active', '{}')",
          (endpoint, str(uuid.uuid4())))
    query(url, "INSERT INTO notification.webhook_secrets (id, endpoint_id, secret) VALUES (%s, %s, %s)",
          (str(uuid.uuid4()), endpoint, webhooks.SecretKeys(old).seal("whsec_kept")))
    said = []
    assert reseal_webhook_secrets([], database_url=url, keys=webhooks.SecretKeys([new, old]), out=said.append) == 0
    assert said == ["ok: 1 webhook secret(s) encrypted under the first key; the others may be dropped"]
    [row] = query(url, "SELECT secret FROM notification.webhook_secrets")
    assert webhooks.SecretKeys(new).open(row["secret"]) == "whsec_kept"  # the old key may go now
    with pytest.raises(InvalidToken):
        webhooks.SecretKeys(old).open(row["secret"])


AUDIT_REVISIONS = {"redemption": "0006", "settlement": "0006", "campaign": "0008", "gateway": "0007"}


def test_the_audit_log_migrations_copy_what_is_there_and_go_down_and_up_again(fresh_database):
    url, merchant = fresh_database, str(uuid.uuid4())
    migrate(url, "settlement", "0005")
    query(url, "INSERT INTO settlement.payout_account_history (id, merchant_id, action, wallet_address, actor) "
               "VALUES (gen_random_uuid(), %s, 'set', 'vow-wallet-before', '{}')", (merchant,))
    for component in AUDIT_REVISIONS:
        migrate(url, component, "head")
    [copied] = query(url, "SELECT merchant_id::text, action, payload->>'wallet_address' AS wallet, seq "
                          "FROM settlement.audit_log")
    assert copied == {"merchant_id": merchant, "action": "existing", "wallet": "vow-wallet-before", "seq": None}

    for component, audited in AUDIT_REVISIONS.items():
        migrate(url, component, "%04d" % (int(audited) - 1), down=True)
        assert query(url, "SELECT to_regclass(%s) AS t", (component + ".audit_log",)) == [{"t": None}]
        migrate(url, component, "head")
    assert query(url, "SELECT count(*)::int AS n FROM settlement.audit_log") == [{"n": 1}]
