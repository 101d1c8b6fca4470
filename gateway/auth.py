"""Signing in: argon2 password hashes, short-lived access tokens, rotating refresh tokens.

Hashing is slow on purpose, so it runs in eventlet's OS thread pool (argon2
releases the GIL) and never stalls other requests. An unknown username costs
the same hash check as a wrong password, so timing does not tell which usernames
exist. Failed sign-ins slow down further tries from that address, for that
account and for both (``gateway/throttle.py``); nothing an outsider does locks an
account.
"""
import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool
from nameko.extensions import DependencyProvider

from plumbing.auth import TokenSigner
from plumbing.errors import Unauthenticated
from plumbing.fields import new_id
from gateway import storage

REFRESH_TOKEN_DAYS = 14

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password):
    return tpool.execute(_hasher.hash, password)


def password_matches(password_hash, password):
    try:
        return tpool.execute(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(refresh_token):
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class Sessions:
    """What a gateway worker sees as ``self.sessions``."""

    def __init__(self, signer):
        self.signer = signer

    def login(self, tx, username, password, guard):
        """A new session for ``username``, or the same refusal whether or not it exists.

        ``guard`` (gateway/throttle.py) refuses a try that must wait before any hash
        is computed, and counts each failure against the address and the account.
        """
        with guard.hashing_slot():
            guard.check(tx)
            user = storage.user_for_login(tx, username)
            matches = password_matches(_DUMMY_HASH if user is None else user["password_hash"], password)
            if user is None or not matches or not user["active"]:
                tx.rollback()
                guard.failed(tx)
                tx.commit()  # the failure must count even though this request fails
                raise Unauthenticated("Wrong username or password", code="invalid_credentials")
        guard.succeeded(tx)
        storage.record_login(tx, user["id"])
        return self._issue(tx, user)

    def refresh(self, tx, refresh_token):
        record = storage.refresh_token(tx, _token_hash(refresh_token or ""))
        now = datetime.now(timezone.utc)
        if record is None or record["expires_at"] <= now:
            raise Unauthenticated("Sign in again: this refresh token is not valid",
                                  code="refresh_token_invalid")
        if record["revoked_at"] is not None:
            # a revoked token used again means it leaked: end every session of this user
            storage.revoke_all_refresh_tokens(tx, record["user_id"])
            tx.commit()
            raise Unauthenticated("Sign in again: this refresh token was already used",
                                  code="refresh_token_reused")
        user = storage.user_with_secret(tx, record["user_id"])
        if user is None or not user["active"]:
            raise Unauthenticated("This account is disabled", code="account_disabled")
        storage.revoke_refresh_token(tx, record["id"])
        return self._issue(tx, user)

    def logout(self, tx, refresh_token):
        record = storage.refresh_token(tx, _token_hash(refresh_token or ""))
        if record is not None:
            storage.revoke_refresh_token(tx, record["id"])

    def _issue(self, tx, user):
        access_token, claims = self.signer.sign(
            str(user["id"]), user["username"], user["role"], merchant_id=user["merchant_id"],
            store_id=user["store_id"])
        refresh_token = secrets.token_urlsafe(32)
        storage.insert_refresh_token(tx, {
            "id": new_id(), "user_id": user["id"], "token_hash": _token_hash(refresh_token),
            "expires_at": datetime.now(timezone.utc) + timedelta(days=REFRESH_TOKEN_DAYS)})
        return {
            "access_token": access_token, "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"], "refresh_token": refresh_token,
            "user": {"id": str(user["id"]), "username": user["username"], "role": user["role"],
                     "merchant_id": str(user["merchant_id"]) if user["merchant_id"] else None,
                     "store_id": str(user["store_id"]) if user["store_id"] else None},
        }


class SessionIssuer(DependencyProvider):
    """Holds the private signing key: only the gateway has one."""

    def setup(self):
        private_key = self.container.config.get("JWT_PRIVATE_KEY")
        if not private_key:
            raise RuntimeError("JWT_PRIVATE_KEY is not configured for the gateway")
        self.signer = TokenSigner(private_key, ttl_seconds=int(self.container.config.get(
            "ACCESS_TOKEN_SECONDS", 900)))

    def get_dependency(self, worker_ctx):
        return Sessions(self.signer)
