"""API clients: a merchant's machines (a POS terminal bound to one store, a buyer app, a logistics
partner) that exchange a client id and secret for a short-lived access token (OAuth2
``client_credentials``), carrying the client's kind as its role.

Secrets are 32 random bytes (256 bits) shown once and stored as SHA-256, not argon2: a slow hash
protects secrets people choose, which can be guessed; nobody guesses 256 random bits, and a POS
fleet asking for tokens would otherwise spend ~50 ms of CPU per request on hashing. A rotated secret
keeps working for ``API_CLIENT_GRACE_SECONDS`` (default a day) so terminals can be updated one by
one. Tokens carry the client id as subject and as session (``ses``): revoking the client revokes
that session through ``plumbing.revocation``, so every process refuses its tokens at once.
"""
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta, timezone

from plumbing.auth import POS
from plumbing.errors import Unauthenticated
from plumbing.pagination import fetch_page

SECRET_PREFIX = "vrs_"
DEFAULT_GRACE_SECONDS = 86400
CLIENT_COLUMNS = ("id, merchant_id, store_id, kind, name, created_by, created_at, last_used_at, revoked_at, "
                  "revoked_by")


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret):
    return hashlib.sha256((secret or "").encode()).hexdigest()


# -- SQL (schema ``gateway``) -------------------------------------------------------------------
def insert_client(tx, client):
    tx.execute("INSERT INTO api_clients (id, merchant_id, store_id, kind, name, created_by) VALUES "
               "(%(id)s, %(merchant_id)s, %(store_id)s, %(kind)s, %(name)s, %(created_by)s)",
               dict(client, created_by=json.dumps(client["created_by"])))


def insert_secret(tx, secret_id, client_id, secret):
    tx.execute("INSERT INTO api_client_secrets (id, client_id, secret_hash) VALUES (%s, %s, %s)",
               (secret_id, client_id, secret_hash(secret)))


def client_by_id(tx, client_id, lock=False):
    return tx.one("SELECT " + CLIENT_COLUMNS + " FROM api_clients WHERE id = %s" + (" FOR UPDATE" if lock else ""),
                  (client_id,))


def list_clients(tx, merchant_id, filters, dump):
    return fetch_page(tx, "SELECT " + CLIENT_COLUMNS + " FROM api_clients", ["merchant_id = %s"], [merchant_id],
                      filters, dump)


def expire_secrets(tx, client_id, at):
    """Every live secret of the client stops working at ``at`` (a rotation's grace, or now)."""
    tx.execute("UPDATE api_client_secrets SET expires_at = %s WHERE client_id = %s "
               "AND (expires_at IS NULL OR expires_at > %s)", (at, client_id, at))


def revoke(tx, client_id, actor, at):
    return tx.execute("UPDATE api_clients SET revoked_at = %s, revoked_by = %s WHERE id = %s AND revoked_at IS NULL",
                      (at, json.dumps(actor), client_id)) == 1


def client_for_secret(tx, client_id, secret):
    """The live client whose live secret this is, or None (the same None for every reason)."""
    row = tx.one("SELECT c.id, c.merchant_id, c.store_id, c.kind, c.name, s.secret_hash FROM api_clients c "
                 "JOIN api_client_secrets s ON s.client_id = c.id WHERE c.id = %s AND c.revoked_at IS NULL "
                 "AND s.secret_hash = %s AND (s.expires_at IS NULL OR s.expires_at > now())",
                 (client_id, secret_hash(secret)))
    if row is None or not hmac.compare_digest(row["secret_hash"], secret_hash(secret)):
        return None
    tx.execute("UPDATE api_clients SET last_used_at = now() WHERE id = %s", (client_id,))
    return row


def recently_revoked(tx, since):
    return tx.all("SELECT id, revoked_at FROM api_clients WHERE revoked_at >= %s", (since,))


# -- tokens -------------------------------------------------------------------------------------
def issue_token(tx, signer, client_id, secret):
    """``{"access_token", "token_type", "expires_in", "scope"}`` for a live client's live secret."""
    client = client_for_secret(tx, client_id, secret) if client_id else None
    if client is None:
        raise Unauthenticated("Unknown client, wrong secret, or a revoked client", code="invalid_client")
    token, claims = signer.sign(str(client["id"]), client["name"], client["kind"],
                                merchant_id=client["merchant_id"],
                                store_id=client["store_id"] if client["kind"] == POS else None,
                                session_id=str(client["id"]))
    return {"access_token": token, "token_type": "Bearer", "expires_in": claims["exp"] - claims["iat"],
            "scope": client["kind"]}


def grace_until(config, now=None):
    now = now or datetime.now(timezone.utc)
    return now + timedelta(seconds=float(config.get("API_CLIENT_GRACE_SECONDS") or DEFAULT_GRACE_SECONDS))
