"""The demo merchant of the portal document, seeded idempotently.

Creates (or brings back to this state) the merchant, its four stores and the
demo users, all with the one demo password, plus the platform admin. Run as
the gateway, which owns these tables. The payout wallet is set afterwards
through the API (settlement owns it): see ``devtools/run.py``.
"""
import json
import uuid

import psycopg2
import psycopg2.extras

from plumbing.auth import PLATFORM_ROLES
from plumbing.hashing import PASSWORDS

DEMO_MERCHANT = "VowRewards Demo Merchant"
DEMO_CURRENCY = "ZAR"
DEMO_STORES = (("Main Street Store", "store"), ("Canal Walk Kiosk", "kiosk"),
               ("Somerset Outlet", "outlet"), ("Online Store", "online"))
DEMO_WALLET_ADDRESS = "vow-demo-wallet-7Q2M9X4KHB"
# username, role, store (for store users), display name
DEMO_USERS = (
    ("demo-admin", "admin", None, "Platform Admin"),
    ("demo-owner", "owner", None, "Demo Owner"),
    ("demo-store", "store_user", "Main Street Store", "Main Street Till"),
    ("demo-agent", "support_agent", None, "Demo Support Agent"),
    ("demo-finance", "finance", None, "Demo Finance"),
    ("demo-platform-finance", "platform_finance", None, "Platform Finance"),
)
SEEDER = json.dumps({"user_id": "seed", "username": "seed", "role": "system"})


def seed(database_url, password):
    """Returns the demo merchant's id and its stores by name."""
    password_hash = PASSWORDS.hash(password)
    conn = psycopg2.connect(database_url, options="-c search_path=gateway",
                            cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('vowrewards-seed'))")
            merchant_id = _upsert_merchant(cur)
            stores = {name: _upsert_store(cur, merchant_id, name, kind) for name, kind in DEMO_STORES}
            for username, role, store, display_name in DEMO_USERS:
                _upsert_user(cur, username, role, None if role in PLATFORM_ROLES else merchant_id,
                             stores.get(store), display_name, password_hash)
        return merchant_id, stores
    finally:
        conn.close()


def _upsert_merchant(cur):
    cur.execute("SELECT id FROM merchants WHERE lower(name) = lower(%s)", (DEMO_MERCHANT,))
    row = cur.fetchone()
    if row:
        return str(row["id"])
    merchant_id = str(uuid.uuid4())
    cur.execute("INSERT INTO merchants (id, name, currency, contact_email, created_by) VALUES "
                "(%s, %s, %s, %s, %s)", (merchant_id, DEMO_MERCHANT, DEMO_CURRENCY,
                                         "owner@demo.vowrewards.example", SEEDER))
    return merchant_id


def _upsert_store(cur, merchant_id, name, kind):
    cur.execute("SELECT id FROM stores WHERE merchant_id = %s AND lower(name) = lower(%s)",
                (merchant_id, name))
    row = cur.fetchone()
    if row:
        return str(row["id"])
    store_id = str(uuid.uuid4())
    cur.execute("INSERT INTO stores (id, merchant_id, name, kind) VALUES (%s, %s, %s, %s)",
                (store_id, merchant_id, name, kind))
    return store_id


def _upsert_user(cur, username, role, merchant_id, store_id, display_name, password_hash):
    cur.execute("INSERT INTO users (id, merchant_id, store_id, username, display_name, role, password_hash, "
                "created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (lower(username)) DO UPDATE "
                "SET merchant_id = EXCLUDED.merchant_id, store_id = EXCLUDED.store_id, role = EXCLUDED.role, "
                "password_hash = EXCLUDED.password_hash, active = true, failed_logins = 0, locked_until = NULL",
                (str(uuid.uuid4()), merchant_id, store_id, username, display_name, role, password_hash, SEEDER))
