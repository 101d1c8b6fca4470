"""Voucher PINs: stored only as argon2id hashes, checked off the event loop.

Hashing is deliberately slow, so it runs in eventlet's OS thread pool (argon2
releases the GIL) and never stalls the other workers. A 4-8 digit PIN is weak
on its own; the lockout after repeated failures is what really protects it.
"""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool

# lighter than the password defaults: checked on the till's hot path
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_pin(pin):
    return tpool.execute(_hasher.hash, pin)


def pin_matches(pin_hash, pin):
    if not pin_hash or pin is None:
        return False
    try:
        return tpool.execute(_hasher.verify, pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False
