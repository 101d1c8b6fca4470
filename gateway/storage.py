"""SQL for merchants, stores, users, sessions, refresh tokens and the user audit (schema ``gateway``)."""
import json

from plumbing.pagination import fetch_page

USER_COLUMNS = ("id, merchant_id, store_id, username, display_name, email, role, active, "
                "last_login_at, created_at")


# Inserts of what has a unique name answer False when the name is taken: no exception, so
# the transaction stays usable.
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


def insert_new_user(tx, user):
    """Insert a user; False (and the transaction still usable) if the username is taken."""
    return insert_user(tx, user)


def user_for_login(tx, username):
    return tx.one("SELECT * FROM users WHERE lower(username) = lower(%s)", (username,))


def user_with_secret(tx, user_id):
    return tx.one("SELECT * FROM users WHERE id = %s", (user_id,))


def user_by_id(tx, user_id):
    return tx.one("SELECT " + USER_COLUMNS + " FROM users WHERE id = %s", (user_id,))


def list_users(tx, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT " + USER_COLUMNS + " FROM users", ["merchant_id = %s"], [merchant_id], filters,
                      dump)


def list_platform_users(tx, filters, dump):
    return fetch_page(tx, "SELECT " + USER_COLUMNS + " FROM users", ["merchant_id IS NULL"], [], filters, dump)


def user_for_update(tx, user_id):
    """The user (with its secret), locked: sign-ins and other changes of it wait."""
    return tx.one("SELECT * FROM users WHERE id = %s FOR UPDATE", (user_id,))


def update_user(tx, user_id, changes):
    columns = sorted(changes)
    tx.execute("UPDATE users SET " + ", ".join("%s = %%s" % column for column in columns)
               + ", updated_at = now() WHERE id = %s", [changes[column] for column in columns] + [user_id])


def lock_user_changes(tx, merchant_id):
    """One change at a time to a merchant's users (or the platform's), so two owners cannot each
    demote the other and leave the merchant with none."""
    tx.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("users:%s" % (merchant_id or "platform"),))


def directory(tx, merchant_id, roles=None, store_id=None, user_ids=None, limit=2000):
    """Active users of one merchant (or, with ``merchant_id`` None, the platform's own), filtered."""
    where, params = ["active", "merchant_id = %s" if merchant_id else "merchant_id IS NULL"], []
    if merchant_id:
        params.append(merchant_id)
    # ids arrive as text (JSON): compare them as text, or PostgreSQL refuses uuid = text
    for column, values in (("role", roles), ("id::text", user_ids)):
        if values:
            where.append("%s = ANY(%%s)" % column)
            params.append(list(values))
    if store_id:
        where.append("(store_id = %s OR store_id IS NULL)")  # the store's own users and the merchant-wide ones
        params.append(store_id)
    return tx.all("SELECT " + USER_COLUMNS + " FROM users WHERE " + " AND ".join(where)
                  + " ORDER BY username LIMIT %s", params + [limit])


def active_users_with_role(tx, role, merchant_id=None):
    """Ids of the active users with ``role``, of one merchant or of the platform."""
    where = "merchant_id = %s" if merchant_id else "merchant_id IS NULL"
    rows = tx.all("SELECT id FROM users WHERE role = %s AND active AND " + where,
                  (role, merchant_id) if merchant_id else (role,))
    return [str(row["id"]) for row in rows]


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


# -- sessions and refresh tokens ------------------------------------------------------------
def insert_session(tx, session_id, user_id):
    tx.execute("INSERT INTO sessions (id, user_id) VALUES (%s, %s)", (session_id, user_id))


def session_for_update(tx, session_id):
    return tx.one("SELECT * FROM sessions WHERE id = %s FOR UPDATE", (session_id,))


def touch_session(tx, session_id):
    tx.execute("UPDATE sessions SET last_issued_at = now() WHERE id = %s", (session_id,))


def revoke_session(tx, session_id, reason, at):
    """End one session and its refresh tokens; True if it was live."""
    ended = tx.execute("UPDATE sessions SET revoked_at = %s, revoked_reason = %s "
                       "WHERE id = %s AND revoked_at IS NULL", (at, reason, session_id))
    tx.execute("UPDATE refresh_tokens SET revoked_at = %s, revoked_reason = %s "
               "WHERE session_id = %s AND revoked_at IS NULL", (at, reason, session_id))
    return ended == 1


def revoke_user_sessions(tx, user_id, reason, at, live_since):
    """End every session and refresh token of a user; returns the ids of the sessions that may
    still have a live access token (issued since ``live_since``)."""
    rows = tx.all("UPDATE sessions SET revoked_at = %s, revoked_reason = %s WHERE user_id = %s "
                  "AND revoked_at IS NULL RETURNING id, last_issued_at", (at, reason, user_id))
    tx.execute("UPDATE refresh_tokens SET revoked_at = %s, revoked_reason = %s "
               "WHERE user_id = %s AND revoked_at IS NULL", (at, reason, user_id))
    tx.execute("UPDATE users SET tokens_not_before = %s WHERE id = %s", (at, user_id))
    return [str(row["id"]) for row in rows if row["last_issued_at"] >= live_since]


def recent_revocations(tx, since):
    """Sessions revoked since ``since`` that issued a token since then, and users whose every
    session was revoked since then."""
    sessions = tx.all("SELECT id, user_id, revoked_at FROM sessions WHERE revoked_at >= %s "
                      "AND last_issued_at >= %s ORDER BY revoked_at", (since, since))
    users = tx.all("SELECT id, tokens_not_before FROM users WHERE tokens_not_before >= %s", (since,))
    return sessions, users


def insert_refresh_token(tx, token):
    tx.execute("INSERT INTO refresh_tokens (id, user_id, session_id, token_hash, expires_at) VALUES "
               "(%(id)s, %(user_id)s, %(session_id)s, %(token_hash)s, %(expires_at)s)", token)


def refresh_token(tx, token_hash):
    return tx.one("SELECT * FROM refresh_tokens WHERE token_hash = %s FOR UPDATE", (token_hash,))


def revoke_refresh_token(tx, token_id, reason):
    tx.execute("UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = %s "
               "WHERE id = %s AND revoked_at IS NULL", (reason, token_id))


# -- the user audit -------------------------------------------------------------------------
AUDIT_SELECT = ("SELECT a.id, a.merchant_id, a.user_id, u.username, a.action, a.changes, a.actor, a.at "
                "FROM user_audit a JOIN users u ON u.id = a.user_id")


def insert_audit(tx, record):
    tx.execute("INSERT INTO user_audit (id, merchant_id, user_id, action, changes, actor) VALUES "
               "(%(id)s, %(merchant_id)s, %(user_id)s, %(action)s, %(changes)s, %(actor)s)",
               dict(record, changes=json.dumps(record["changes"], default=str),
                    actor=json.dumps(record["actor"])))


def list_audit(tx, merchant_id, filters, dump):
    """A merchant's user audit, or the platform users' (``merchant_id`` None), newest first."""
    where, params = (["a.merchant_id = %s"], [merchant_id]) if merchant_id else (["a.merchant_id IS NULL"], [])
    if filters.get("user_id"):
        where.append("a.user_id = %s")
        params.append(filters["user_id"])
    return fetch_page(tx, AUDIT_SELECT, where, params, filters, dump, time_column="a.at", id_column="a.id")
