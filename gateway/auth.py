"""Signing in: argon2 password hashes, short-lived access tokens, rotating refresh tokens.

Passwords are hashed in eventlet's OS thread pool (``plumbing.hashing``), so a
hash never stalls other requests. An unknown username costs the same hash check
as a wrong password, so timing does not tell which usernames exist. Failed
sign-ins slow down further tries from that address, for that account and for
both (``gateway/throttle.py``); nothing an outsider does locks an account.

Each sign-in is a session: its access tokens carry its id (``ses``) and its refresh
tokens belong to it. Ending a session, or every session of a user, is written
with a ``session_revoked`` event in the same transaction; this process refuses
the session's tokens as soon as that commits, every other process once the
event reaches it (``plumbing.revocation``).
"""
import hashlib
import secrets
import time
from datetime import datetime, timedelta, timezone

from nameko.extensions import DependencyProvider

from plumbing.auth import TokenSigner
from plumbing.db import find_dependency
from plumbing.errors import Unauthenticated
from plumbing.fields import new_id
from plumbing.hashing import PASSWORDS
from plumbing.outbox import Outbox
from plumbing.revocation import LEEWAY_SECONDS, RevocationFeed, SessionRevoked, revocation
from gateway import clients, storage

REFRESH_TOKEN_DAYS = 14
ROTATED = "rotated"  # a refresh token traded for a new one: seeing it again means it leaked
REUSED = "refresh_token_reused"

_DUMMY_HASH = PASSWORDS.hash("not-a-real-password")


def _token_hash(refresh_token):
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def _utc(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc)


class Sessions:
    """What a gateway worker sees as ``self.sessions``."""

    def __init__(self, signer, events=None, revocations=None):
        self.signer = signer
        self.events = events
        self.revocations = revocations

    def login(self, tx, username, password, guard):
        """A new session for ``username``, or the same refusal whether or not it exists.

        ``guard`` (gateway/throttle.py) refuses a try that must wait before any hash
        is computed, and counts each failure against the address and the account.
        """
        with guard.hashing_slot():
            guard.check(tx)
            user = storage.user_for_login(tx, username)
            matches = PASSWORDS.matches(_DUMMY_HASH if user is None else user["password_hash"], password)
            if user is None or not matches or not user["active"]:
                tx.despite_failure(guard.failed)  # the failure counts even though this request fails
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
            reused = Unauthenticated("Sign in again: this refresh token was already used",
                                     code="refresh_token_reused")
            if record["revoked_reason"] in (None, ROTATED):
                # a rotated token used again means it leaked: end every session of this user (kept
                # although this request fails)
                tx.despite_failure(lambda tx: self.revoke_user(tx, record["user_id"], REUSED))
                raise reused
            if record["revoked_reason"] == REUSED:
                raise reused  # ended already, when the reuse was seen
            # its session was ended (signed out, the user changed): nothing leaked
            raise Unauthenticated("Sign in again: this session has ended", code="session_ended")
        session = storage.session_for_update(tx, record["session_id"]) if record["session_id"] else None
        if session is not None and session["revoked_at"] is not None:
            raise Unauthenticated("Sign in again: this session has ended", code="session_ended")
        user = storage.user_with_secret(tx, record["user_id"])
        if user is None or not user["active"]:
            raise Unauthenticated("This account is disabled", code="account_disabled")
        storage.revoke_refresh_token(tx, record["id"], ROTATED)
        return self._issue(tx, user, session_id=session["id"] if session is not None else None)

    def logout(self, tx, refresh_token):
        """End the session this refresh token belongs to (its access tokens too)."""
        record = storage.refresh_token(tx, _token_hash(refresh_token or ""))
        if record is None:
            return
        if record["session_id"] is None:
            storage.revoke_refresh_token(tx, record["id"], "logout")
            return
        self.revoke_session(tx, record["session_id"], record["user_id"], "logout")

    def _issue(self, tx, user, session_id=None):
        if session_id is None:
            session_id = new_id()  # a sign-in: a new session
            storage.insert_session(tx, session_id, user["id"])
        else:
            storage.touch_session(tx, session_id)
        access_token, claims = self.signer.sign(
            str(user["id"]), user["username"], user["role"], merchant_id=user["merchant_id"],
            store_id=user["store_id"], session_id=session_id)
        refresh_token = secrets.token_urlsafe(32)
        storage.insert_refresh_token(tx, {
            "id": new_id(), "user_id": user["id"], "session_id": session_id,
            "token_hash": _token_hash(refresh_token),
            "expires_at": datetime.now(timezone.utc) + timedelta(days=REFRESH_TOKEN_DAYS)})
        return {
            "access_token": access_token, "token_type": "Bearer",
            "expires_in": claims["exp"] - claims["iat"], "refresh_token": refresh_token,
            "user": {"id": str(user["id"]), "username": user["username"], "role": user["role"],
                     "merchant_id": str(user["merchant_id"]) if user["merchant_id"] else None,
                     "store_id": str(user["store_id"]) if user["store_id"] else None},
        }

    # -- revocation ----------------------------------------------------------------------
    def revoke_session(self, tx, session_id, user_id, reason):
        """End one session: its refresh tokens stop working and its access tokens are refused."""
        now = time.time()
        if storage.revoke_session(tx, session_id, reason, _utc(now)):
            self._announce(tx, revocation(user_id, [session_id], self.signer.ttl_seconds, reason, now=now))

    def revoke_user(self, tx, user_id, reason):
        """End every session of a user (disabled, role or password changed, a leaked refresh token)."""
        now = time.time()
        live = storage.revoke_user_sessions(tx, user_id, reason, _utc(now),
                                            _utc(now - self.signer.ttl_seconds - LEEWAY_SECONDS))
        self._announce(tx, revocation(user_id, live, self.signer.ttl_seconds, reason, all_sessions=True,
                                      now=now))

    def revoke_client(self, tx, client_id, reason):
        """An API client revoked: its tokens (subject and session: the client id) are refused."""
        self._announce(tx, revocation(client_id, [client_id], self.signer.ttl_seconds, reason,
                                      all_sessions=True))

    def _announce(self, tx, payload):
        if self.revocations is not None:
            # this process refuses the tokens as soon as the revocation commits (run before the
            # outbox publishes, so before the worker yields to the next request)
            tx.after_commit(lambda: self.revocations.apply(payload))
        if self.events is not None:
            self.events.emit(payload)

    def recent_revocations(self, tx):
        """Every revocation whose tokens may still be live: what a process starting late needs."""
        ttl = self.signer.ttl_seconds
        since = time.time() - ttl - LEEWAY_SECONDS - 1
        sessions, users = storage.recent_revocations(tx, _utc(since))
        items = [revocation(row["user_id"], [row["id"]], ttl, None, now=row["revoked_at"].timestamp())
                 for row in sessions]
        items += [revocation(row["id"], [], ttl, None, all_sessions=True,
                             now=row["tokens_not_before"].timestamp()) for row in users]
        items += [revocation(row["id"], [row["id"]], ttl, None, all_sessions=True,
                             now=row["revoked_at"].timestamp())
                  for row in clients.recently_revoked(tx, _utc(since))]
        return {"revocations": [SessionRevoked.to_wire(item) for item in items], "as_of": int(time.time())}


class SessionIssuer(DependencyProvider):
    """Holds the private signing key: only the gateway has one."""

    feed = RevocationFeed()  # the same one the Caller reads

    def setup(self):
        self.outbox = find_dependency(self.container, Outbox)
        private_key = self.container.config.get("JWT_PRIVATE_KEY")
        if not private_key:
            raise RuntimeError("JWT_PRIVATE_KEY is not configured for the gateway")
        self.signer = TokenSigner(private_key, ttl_seconds=int(self.container.config.get(
            "ACCESS_TOKEN_SECONDS", 900)))

    def get_dependency(self, worker_ctx):
        events = self.outbox.get_dependency(worker_ctx) if self.outbox is not None else None
        return Sessions(self.signer, events, self.feed.revocations)
