"""SQL for merchants, stores, users, refresh tokens and idempotency keys (schema ``gateway``)."""
import json

from plumbing.pagination import fetch_page

USER_COLUMNS = ("id, merchant_id, store_id, username, display_name, email, role, active, "
                "last_login_at, created_at")


# Inserts of what has a unique name answer False when the name is taken: no exception, so
# the transaction stays usable (an idempotent request still records its answer).
def insert_merchant(tx, merchant):
    return tx.execute("INSERT INTO merchants (id, name, currency, contact_email, created_by) VALUES "
                      "(%(id)s, %(name)s, %(currency)s, %(contact_email)s, %(created_by)s) ON CONFLICT DO NOTHING",
                      dict(merchant, created_by=json.dumps(merchant["created_by"]))) == 1


def merchant_by_id(tx, merchant_id):
    return tx.one("SELECT * FROM merchants WHERE id = %s", (merchant_id,))


def merchant_by_name(tx, name):
    return tx.one("SELECT * FROM merchants WHERE lower(name) = lower(%s)", (name,))


def list_merchants(tx, filters, dump):
    return fetch_page(tx, "SELECT * FROM merchants", [], [], filters, dump)


def insert_store(tx, store):
    return tx.execute("INSERT INTO stores (id, merchant_id, name, kind, address) VALUES "
                      "(%(id)s, %(merchant_id)s, %(name)s, %(kind)s, %(address)s) ON CONFLICT DO NOTHING",
                      store) == 1


def store_by_id(tx, store_id):
    return tx.one("SELECT * FROM stores WHERE id = %s", (store_id,))


def list_stores(tx, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT * FROM stores", ["merchant_id = %s"], [merchant_id], filters, dump)


def insert_user(tx, user):
    return tx.execute("INSERT INTO users (id, merchant_id, store_id, username, display_name, email, role, "
                      "password_hash, created_by) VALUES (%(id)s, %(merchant_id)s, %(store_id)s, %(username)s, "
                      "%(display_name)s, %(email)s, %(role)s, %(password_hash)s, %(created_by)s) "
                      "ON CONFLICT DO NOTHING", dict(user, created_by=json.dumps(user["created_by"]))) == 1


def user_for_login(tx, username):
    return tx.one("SELECT * FROM users WHERE lower(username) = lower(%s)", (username,))


def user_with_secret(tx, user_id):
    return tx.one("SELECT * FROM users WHERE id = %s", (user_id,))


def user_by_id(tx, user_id):
    return tx.one("SELECT " + USER_COLUMNS + " FROM users WHERE id = %s", (user_id,))


def list_users(tx, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT " + USER_COLUMNS + " FROM users", ["merchant_id = %s"], [merchant_id], filters,
                      dump)


def record_login(tx, user_id):
    tx.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (user_id,))


# -- the sign-in throttle (gateway/throttle.py) ------------------------------------------------
def sign_in_failures(tx, keys):
    """The failure counters of these (scope, key) pairs, in one round trip."""
    return tx.all("SELECT * FROM sign_in_failures WHERE (scope, key) IN "
                  "(SELECT * FROM unnest(%s::text[], %s::text[]))", ([s for s, _ in keys], [k for _, k in keys]))


def record_sign_in_failure(tx, keys, now, forget_after_seconds):
    """One more failure on each counter (a counter quiet for ``forget_after_seconds`` starts again)."""
    tx.execute("INSERT INTO sign_in_failures (scope, key, failures, last_failure_at) "
               "SELECT scope, key, 1, %(now)s FROM unnest(%(scopes)s::text[], %(keys)s::text[]) AS t(scope, key) "
               "ON CONFLICT (scope, key) DO UPDATE SET failures = CASE WHEN sign_in_failures.last_failure_at "
               "< %(now)s - %(forget)s * interval '1 second' THEN 1 ELSE sign_in_failures.failures + 1 END, "
               "last_failure_at = %(now)s",
               {"now": now, "scopes": [s for s, _ in keys], "keys": [k for _, k in keys],
                "forget": forget_after_seconds})


def clear_sign_in_failures(tx, keys):
    if keys:
        tx.execute("DELETE FROM sign_in_failures WHERE (scope, key) IN "
                   "(SELECT * FROM unnest(%s::text[], %s::text[]))", ([s for s, _ in keys], [k for _, k in keys]))


def forget_sign_in_failures(tx, older_than_seconds):
    return tx.execute("DELETE FROM sign_in_failures WHERE last_failure_at < now() - %s * interval '1 second'",
                      (older_than_seconds,))


def insert_refresh_token(tx, token):
    tx.execute("INSERT INTO refresh_tokens (id, user_id, token_hash, expires_at) VALUES "
               "(%(id)s, %(user_id)s, %(token_hash)s, %(expires_at)s)", token)


def refresh_token(tx, token_hash):
    return tx.one("SELECT * FROM refresh_tokens WHERE token_hash = %s FOR UPDATE", (token_hash,))


def revoke_refresh_token(tx, token_id):
    tx.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
               (token_id,))


def revoke_all_refresh_tokens(tx, user_id):
    tx.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
               (user_id,))


def claim_idempotency_key(tx, user_id, key, method, path, request_hash):
    return tx.execute("INSERT INTO idempotency_keys (user_id, key, method, path, request_hash) "
                      "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                      (user_id, key, method, path, request_hash)) == 1


def idempotency_record(tx, user_id, key):
    return tx.one("SELECT * FROM idempotency_keys WHERE user_id = %s AND key = %s", (user_id, key))


def complete_idempotency_key(tx, user_id, key, status, body):
    tx.execute("UPDATE idempotency_keys SET status_code = %s, response = %s, completed_at = now() "
               "WHERE user_id = %s AND key = %s", (status, json.dumps(body), user_id, key))


def release_idempotency_key(tx, user_id, key):
    tx.execute("DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND completed_at IS NULL",
               (user_id, key))
