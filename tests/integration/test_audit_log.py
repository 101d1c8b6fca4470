"""The audit log of money and permission changes, on this run's real PostgreSQL (no system started):
changes written through each service's own storage code, as its own role, land in its schema's
append-only ``audit_log``, are sealed into one hash chain per merchant, and
``python -m plumbing.audit verify`` finds a row edited or deleted behind the triggers' back."""
import json
import types
import uuid
from datetime import datetime, timedelta, timezone

import psycopg2
import psycopg2.extras
import pytest

from gateway import storage as gateway_storage
from plumbing import audit
from plumbing.db import ConnectionPool, Database
from services.campaign import storage as campaign_storage
from services.redemption import storage as redemption_storage
from services.settlement import storage as settlement_storage
from tests.conftest import component_database_url
from tests.integration.conftest import wait_for

# what issue 13 names: vouchers issued and cancelled, redemptions and reversals, payout account
# changes (the history and the account itself), funding agreements, users and roles (a renamed
# table must fail here, loudly)
AUDITED_TABLES = {
    "redemption": ("voucher_history", "redemptions"),
    "settlement": ("payout_account_history", "payout_accounts"),
    "campaign": ("funding_agreement_history",),
    "gateway": ("user_audit",),
}
ACTOR = {"user_id": "u-audit-test", "username": "audit-test", "role": "owner"}
NOW = datetime.now(timezone.utc)


class Schemas:
    """A pool per audited schema, as its own role (what the service connects as)."""

    def __init__(self, database_url):
        self.database_url = database_url
        self.pools = {schema: ConnectionPool(component_database_url(database_url, schema), size=1, schema=schema)
                      for schema in AUDITED_TABLES}

    def run(self, schema, fn):
        return self.pools[schema].run(fn)

    def seal(self, schema):
        return audit.seal(lambda sql, params: self.run(schema, lambda tx: tx.scalar(sql, params)), schema)

    def close(self):
        for pool in self.pools.values():
            pool.close()


def as_superuser(database_url, sql, params=()):
    conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def verify(database_url, *args):
    said = []
    status = audit.main(["verify", "--database-url", database_url] + list(args), out=said.append)
    return status, said


def voucher(merchant_id, code, **fields):
    return dict({
        "id": str(uuid.uuid4()), "code": code, "merchant_id": merchant_id, "store_ids": None, "campaign_id": None,
        "batch_id": None, "funding": "merchant", "funding_agreement_id": None, "customer_id": None,
        "kind": "discount_fixed", "currency": "ZAR", "face_value": 5000, "balance": None, "percent_bp": None,
        "cap": None, "min_purchase": None, "hybrid": False, "point_value": 1, "uses_allowed": 1, "uses": 0,
        "per_customer_limit": None, "valid_from": NOW, "valid_until": None, "status": "active", "pin_hash": None,
        "created_by": ACTOR}, **fields)


def issue_redeem_reverse(tx, merchant_id):
    """One voucher issued, redeemed and the redemption reversed; returns the redemption id."""
    issued = voucher(merchant_id, "AUD" + uuid.uuid4().hex[:10].upper())
    redemption_storage.insert_voucher(tx, issued)
    redemption_storage.record_issue(tx, [issued["id"]], ACTOR, "issued")
    redemption = {
        "id": str(uuid.uuid4()), "reference": "RD-" + uuid.uuid4().hex[:8], "voucher_id": issued["id"],
        "merchant_id": merchant_id, "store_id": str(uuid.uuid4()), "user_id": "u-till", "processed_by": ACTOR,
        "channel": "pos", "method": "code", "customer_id": None, "amount": 5000, "points": 0, "points_value": 0,
        "purchase_amount": 12000, "currency": "ZAR", "receipt_remarks": "till 3", "points_reservation_id": None,
        "created_at": NOW}
    plan = types.SimpleNamespace(balance=None, uses=1, status="redeemed")
    redemption_storage.record_redemption(tx, issued, plan, ACTOR, redemption)
    redemption_storage.mark_reversed(tx, redemption["id"], ACTOR, "wrong voucher")
    return redemption["id"]


def issue_batch_and_cancel(tx, merchant_id, count):
    """A batch of ``count`` vouchers (one statement each for the vouchers and their history, as the
    batch job writes them), the first cancelled."""
    batch = [voucher(merchant_id, "AUB" + uuid.uuid4().hex[:12].upper()) for _ in range(count)]
    redemption_storage.insert_vouchers(tx, batch)
    redemption_storage.record_issue(tx, [v["id"] for v in batch], ACTOR, "batch")
    redemption_storage.set_voucher_status(tx, batch[0]["id"], "cancelled")
    redemption_storage.record_status_change(tx, batch[0]["id"], "active", "cancelled", ACTOR, "lost")


def money_and_permission_changes(schemas, merchant_id):
    """Each audited change once, through the services' own storage functions."""
    schemas.run("redemption", lambda tx: issue_redeem_reverse(tx, merchant_id))

    def payout_account(tx):
        settlement_storage.upsert_payout_account(tx, merchant_id, "vow-wallet-" + merchant_id[:8], ACTOR, NOW, NOW)
        settlement_storage.record_payout_history(tx, merchant_id, "set", "vow-wallet-" + merchant_id[:8], ACTOR, {},
                                                 NOW)
    schemas.run("settlement", payout_account)

    def agreement(tx):
        agreement_id = str(uuid.uuid4())
        campaign_storage.insert_agreement(tx, {
            "id": agreement_id, "merchant_id": merchant_id, "funder_kind": "platform", "funder_name": None,
            "currency": "ZAR", "budget": 100000, "max_voucher_value": 10000, "commission_bp": 500,
            "valid_from": NOW, "valid_until": None, "status": "active", "note": None, "created_by": ACTOR})
        campaign_storage.record_agreement_change(tx, agreement_id, "created", None, "active", ACTOR)
    schemas.run("campaign", agreement)

    def user_and_role(tx):
        gateway_storage.insert_merchant(tx, {"id": merchant_id, "name": "Audit " + merchant_id, "currency": "ZAR",
                                             "contact_email": None, "created_by": ACTOR})
        user_id = str(uuid.uuid4())
        gateway_storage.insert_user(tx, {
            "id": user_id, "merchant_id": merchant_id, "store_id": None, "username": "audit-" + user_id[:8],
            "display_name": None, "email": None, "role": "finance", "password_hash": "x", "created_by": ACTOR})
        gateway_storage.insert_audit(tx, {"id": str(uuid.uuid4()), "merchant_id": merchant_id, "user_id": user_id,
                                          "action": "role_changed", "changes": {"role": ["support_agent", "finance"]},
                                          "actor": ACTOR})
    schemas.run("gateway", user_and_role)


@pytest.fixture(scope="module")
def schemas(database_url):
    schemas = Schemas(database_url)
    yield schemas
    schemas.close()


@pytest.fixture(scope="module")
def merchants(schemas):
    """Two merchants, each with every kind of change, sealed by each service's own role."""
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for merchant_id in (first, second):
        money_and_permission_changes(schemas, merchant_id)
    schemas.run("redemption", lambda tx: issue_batch_and_cancel(tx, second, 300))
    for schema in AUDITED_TABLES:
        assert schemas.seal(schema) >= 1
    return first, second


def chain(database_url, schema, merchant_id):
    return as_superuser(database_url, "SELECT id, seq, source, action, payload, prev_hash, hash FROM %s.audit_log "
                                      "WHERE merchant_id = %%s ORDER BY seq" % schema, (merchant_id,))


def test_every_table_the_issue_names_is_audited_by_database_triggers(database_url):
    assert audit.AUDITED == AUDITED_TABLES
    rows = as_superuser(database_url, """
        SELECT n.nspname AS schema, c.relname AS table_name, t.tgname, t.tgenabled, p.proname,
               (t.tgtype & 1) = 0 AS per_statement, (t.tgtype & 2) = 0 AS after
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgname LIKE '%%\\_audit\\_%%' AND NOT t.tgisinternal""")
    found = {(r["schema"], r["table_name"], r["tgname"]): r for r in rows}
    for schema, tables in AUDITED_TABLES.items():
        for table in tables:
            for operation in ("insert", "update", "delete"):
                trigger = found.get((schema, table, "%s_audit_%s" % (table, operation)))
                assert trigger is not None, "%s.%s has no audit trigger on %s" % (schema, table, operation)
                assert trigger["per_statement"] and trigger["after"] and trigger["tgenabled"] == "O"
                assert trigger["proname"] == "audit_" + table


def test_each_change_is_in_its_merchants_sealed_chain_and_verify_says_ok(schemas, merchants, database_url):
    first, second = merchants
    redemption = chain(database_url, "redemption", first)
    # (the redemption and its voucher's history line are one statement: their order is the database's)
    assert sorted((r["source"], r["action"]) for r in redemption) == [
        ("redemptions", "insert"), ("redemptions", "update"), ("voucher_history", "insert"),
        ("voucher_history", "insert")]
    history = [r["payload"] for r in redemption if r["source"] == "voucher_history"]
    redeemed, reversal = [r["payload"] for r in redemption if r["source"] == "redemptions"]
    assert [h["to_status"] for h in history] == ["active", "redeemed"]
    assert history[0]["voucher"]["face_value"] == 5000 and history[0]["voucher"]["merchant_id"] == first
    assert (redeemed["amount"], redeemed["status"]) == (5000, "completed")
    assert (reversal["status"], reversal["reversal_reason"]) == ("reversed", "wrong voucher")
    assert [r["seq"] for r in redemption] == [1, 2, 3, 4]
    assert bytes(redemption[0]["prev_hash"]) == audit.GENESIS
    assert all(bytes(r["prev_hash"]) == bytes(p["hash"]) for p, r in zip(redemption, redemption[1:]))

    account, payout = chain(database_url, "settlement", first)
    assert (account["source"], account["payload"]["wallet_address"]) == ("payout_accounts", "vow-wallet-" + first[:8])
    assert payout["payload"]["action"] == "set" and payout["seq"] == 2
    [funding] = chain(database_url, "campaign", first)
    assert funding["payload"]["agreement"]["budget"] == 100000
    [role] = chain(database_url, "gateway", first)
    assert role["payload"]["changes"] == {"role": ["support_agent", "finance"]}

    # one history row per voucher of the batch, each in the second merchant's chain
    batch = chain(database_url, "redemption", second)
    assert len(batch) == 4 + 300 + 1 and [r["seq"] for r in batch] == list(range(1, 306))

    # a row written after the last sealing is sealed by verify itself, then checked; the address
    # changed with no history line is in the log all the same
    schemas.run("settlement", lambda tx: tx.execute(
        "UPDATE payout_accounts SET wallet_address = 'vow-wallet-elsewhere' WHERE merchant_id = %s", (first,)))
    status, said = verify(database_url, "--merchant", first, "--merchant", second)
    assert status == 0, said
    assert "settlement  merchant %s  3 rows  OK" % first in "\n".join(said)
    assert chain(database_url, "settlement", first)[-1]["payload"]["wallet_address"] == "vow-wallet-elsewhere"
    assert "redemption  merchant %s  305 rows  OK" % second in "\n".join(said)
    assert said[-1].startswith("audit verify: OK")


def test_the_services_own_role_cannot_change_or_remove_the_log(schemas, merchants):
    first, _ = merchants
    for statement in ("UPDATE audit_log SET payload = '{}' WHERE merchant_id = %s",
                      "UPDATE audit_log SET seq = seq + 1000 WHERE merchant_id = %s",
                      "DELETE FROM audit_log WHERE merchant_id = %s",
                      "TRUNCATE audit_log",
                      "INSERT INTO audit_log (merchant_id, source, action, row_key, payload) "
                      "VALUES (%s, 'redemptions', 'insert', 'x', '{}')"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="audit_log"):
            schemas.run("redemption", lambda tx: tx.execute(statement, (first,) if "%s" in statement else None))
    assert schemas.run("redemption", lambda tx: tx.scalar(
        "SELECT count(*) FROM audit_log WHERE merchant_id = %s AND seq IS NOT NULL", (first,))) == 4


def test_a_row_edited_or_deleted_behind_the_triggers_back_is_found(merchants, database_url):
    first, second = merchants
    redeemed = next(r for r in chain(database_url, "redemption", first) if r["action"] == "update")
    as_superuser(database_url, """
        ALTER TABLE redemption.audit_log DISABLE TRIGGER audit_log_update;
        UPDATE redemption.audit_log SET payload = jsonb_set(payload, '{amount}', '50') WHERE id = %s;
        ALTER TABLE redemption.audit_log ENABLE TRIGGER audit_log_update;""", (redeemed["id"],))
    status, said = verify(database_url, "--schema", "redemption", "--merchant", first, "--merchant", second)
    assert status == 1
    text = "\n".join(said)
    assert "merchant %s  BROKEN at seq %d (audit_log id %d: redemptions row" % (
        first, redeemed["seq"], redeemed["id"]) in text
    assert "altered" in text
    assert "redemption  merchant %s  305 rows  OK" % second in text  # chains are independent
    assert said[-1].startswith("audit verify: FAILED")

    gone = chain(database_url, "redemption", second)[10]
    as_superuser(database_url, """
        ALTER TABLE redemption.audit_log DISABLE TRIGGER audit_log_delete;
        DELETE FROM redemption.audit_log WHERE id = %s;
        ALTER TABLE redemption.audit_log ENABLE TRIGGER audit_log_delete;""", (gone["id"],))
    status, said = verify(database_url, "--schema", "redemption", "--merchant", second)
    assert status == 1
    assert "BROKEN at seq 12" in said[0] and "missing" in said[0] and "seq 11 is missing" in said[0]


def test_a_disabled_audit_trigger_is_reported(merchants, database_url):
    first, _ = merchants
    as_superuser(database_url, "ALTER TABLE campaign.funding_agreement_history DISABLE TRIGGER "
                               "funding_agreement_history_audit_insert")
    try:
        status, said = verify(database_url, "--schema", "campaign", "--merchant", first)
    finally:
        as_superuser(database_url, "ALTER TABLE campaign.funding_agreement_history ENABLE TRIGGER "
                                   "funding_agreement_history_audit_insert")
    assert status == 1
    assert "campaign: BROKEN: trigger funding_agreement_history_audit_insert on " \
           "campaign.funding_agreement_history is disabled" in said
    assert verify(database_url, "--schema", "campaign", "--merchant", first)[0] == 0


def test_platform_users_are_in_the_platform_chain(schemas, database_url):
    user_id = str(uuid.uuid4())

    def platform_user(tx):
        gateway_storage.insert_user(tx, {
            "id": user_id, "merchant_id": None, "store_id": None, "username": "audit-admin-" + user_id[:8],
            "display_name": None, "email": None, "role": "admin", "password_hash": "x", "created_by": ACTOR})
        gateway_storage.insert_audit(tx, {"id": str(uuid.uuid4()), "merchant_id": None, "user_id": user_id,
                                          "action": "created", "changes": {"role": [None, "admin"]}, "actor": ACTOR})
    schemas.run("gateway", platform_user)
    # (verified as the gateway's own role, as it would run in the gateway's pod)
    status, said = verify(component_database_url(database_url, "gateway"), "--schema", "gateway",
                          "--merchant", audit.PLATFORM)
    assert status == 0, said
    assert said[0].startswith("gateway  platform  ")
    rows = chain(database_url, "gateway", audit.PLATFORM)
    assert json.dumps(rows[-1]["payload"]["user_id"]) == json.dumps(user_id)


class SettlementsDatabase:
    """Only what a settlement process seals with: its Database (and its AuditSealer)."""
    name = "settlement"
    db = Database()


def test_a_running_service_seals_its_new_rows_as_itself(schemas, database_url):
    from nameko.containers import ServiceContainer
    merchant_id = str(uuid.uuid4())
    schemas.run("settlement", lambda tx: settlement_storage.record_payout_history(
        tx, merchant_id, "set", "vow-wallet-sealed", ACTOR, {}, NOW))
    container = ServiceContainer(SettlementsDatabase, {
        "DATABASE_URL": component_database_url(database_url, "settlement"), "DB_SCHEMA": "settlement",
        "AUDIT_SEAL_INTERVAL": 0.05})
    container.start()
    try:
        wait_for(lambda: chain(database_url, "settlement", merchant_id)[0]["seq"], timeout=5)
    finally:
        container.stop()
