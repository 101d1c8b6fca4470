"""Secrets people type (passwords, voucher PINs, one-time codes), kept only as argon2id hashes.

Hashing is slow on purpose, so it runs in eventlet's OS thread pool (argon2 releases the GIL)
and never stalls the other green threads of the process.
"""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool


class SecretHasher:
    def __init__(self, **parameters):
        self._hasher = PasswordHasher(**parameters)

    def hash(self, secret):
        return tpool.execute(self._hasher.hash, secret)

    def matches(self, secret_hash, secret):
        """Whether ``secret`` is what was hashed (False without a hash or a secret, or for a malformed hash)."""
        if not secret_hash or secret is None:
            return False
        try:
            return tpool.execute(self._hasher.verify, secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


# argon2's own defaults: what stands between a stolen table and an account
PASSWORDS = SecretHasher()
# lighter: a voucher PIN is checked on the till's hot path and a verification code lives for
# minutes; for secrets this short, the lockout after a few wrong tries is the real protection
SHORT_SECRETS = SecretHasher(time_cost=2, memory_cost=19456, parallelism=1)
