"""Sign-in throttle: back-off instead of a lock an outsider controls.

Failed sign-ins (and failed refreshes) are counted per client address, per
account (the username as typed, lower-cased, whether or not it exists) and per
(address, account). Each scope allows some failures free; past them, each
further try must wait 2^n seconds after the last failure (n = failures past the
free ones), up to a cap. A scope's count is forgotten an hour after its last
failure. A try that must wait is answered 429 with ``Retry-After`` before any
password hash is computed, with the same words for every username.

Why these numbers:

* pair (5 free, up to 15 min): one client guessing one account slows to four
  guesses an hour;
* address (30 free, up to 15 min): one client spraying many accounts slows
  just as much;
* account (50 free, at most 1 min): a guess spread over many addresses is
  slowed too, but an outsider can never make the real user wait more than a
  minute, and the real user's own address has its own, untouched, pair count.

Hashes are costly (argon2: ~50 ms of CPU and 64 MB each), so at most
``GATEWAY_SIGN_IN_HASHES`` run at once per process; a try that finds no free
slot within a few seconds is a 503 with ``Retry-After``. The throttle is checked
after the slot is taken, so a burst of tries queued for slots is still counted.
"""
import hashlib
import ipaddress
import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from plumbing.errors import ServiceUnavailable, TooManyRequests
from plumbing.fields import utcnow
from gateway import storage


@dataclass(frozen=True)
class Policy:
    free: int          # failures allowed without waiting
    cap_seconds: int   # the longest wait between tries


POLICIES = {
    "pair": Policy(free=5, cap_seconds=900),
    "address": Policy(free=30, cap_seconds=900),
    "account": Policy(free=50, cap_seconds=60),
}
FORGET_AFTER = timedelta(hours=1)
DEFAULT_HASH_SLOTS = 4
DEFAULT_SLOT_WAIT_SECONDS = 5.0
THROTTLED_MESSAGE = "Too many failed sign-in attempts: wait a little (see Retry-After) and try again"


def address_key(address):
    """IPv6 clients are counted per /64 (what one subscriber is given); IPv4 per address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return str(address)[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network("%s/64" % ip, strict=False))
    return str(ip)


def account_key(username):
    # a hash: what people type as a username is sometimes their password
    return hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()[:40]


def scopes_for(address, username=None):
    """The (scope, key) counters one try is checked against and counted in."""
    keys = [("address", address_key(address))]
    if username is not None:
        account = account_key(username)
        keys += [("account", account), ("pair", "%s %s" % (keys[0][1], account))]
    return keys


def wait_seconds(row, now):
    """Seconds this counter makes the next try wait (0: go ahead)."""
    if row is None or now - row["last_failure_at"] >= FORGET_AFTER:
        return 0
    policy = POLICIES[row["scope"]]
    over = row["failures"] - policy.free
    if over < 0:
        return 0
    wait = min(2 ** min(over, 20), policy.cap_seconds)
    remaining = (row["last_failure_at"] + timedelta(seconds=wait) - now).total_seconds()
    return max(0, math.ceil(remaining))


def check(rows, now):
    """Refuse a try that must still wait, saying for how long (the longest wait wins)."""
    wait = max([wait_seconds(row, now) for row in rows] or [0])
    if wait > 0:
        raise TooManyRequests(THROTTLED_MESSAGE, code="sign_in_throttled", fields={"retry_after": [str(wait)]})


class SignInGuard:
    """One sign-in (or refresh) try from one address, for one username (or none)."""

    def __init__(self, slots, slot_wait, address, username=None):
        self._slots = slots
        self._slot_wait = slot_wait
        self.keys = scopes_for(address, username)

    @contextmanager
    def hashing_slot(self):
        if not self._slots.acquire(timeout=self._slot_wait):
            raise ServiceUnavailable("Too many sign-ins at once: try again in a moment", code="sign_in_busy",
                                     fields={"retry_after": ["1"]})
        try:
            yield
        finally:
            self._slots.release()

    def check(self, tx, now=None):
        check(storage.sign_in_failures(tx, self.keys), now or utcnow())

    def failed(self, tx, now=None):
        storage.record_sign_in_failure(tx, self.keys, now or utcnow(), FORGET_AFTER.total_seconds())

    def succeeded(self, tx):
        # this client knows this account's password: its own count for it starts again;
        # the address and account counts do not (a valid account must not launder guesses)
        storage.clear_sign_in_failures(tx, [key for key in self.keys if key[0] == "pair"])


class Guards:
    def __init__(self, slots, slot_wait):
        self._slots = slots
        self._slot_wait = slot_wait

    def guard(self, address, username=None):
        return SignInGuard(self._slots, self._slot_wait, address, username)


class SignInThrottle(DependencyProvider):
    """``self.throttle.guard(address, username)`` in a gateway worker."""

    def setup(self):
        config = self.container.config
        self.slots = Semaphore(int(config.get("GATEWAY_SIGN_IN_HASHES") or DEFAULT_HASH_SLOTS))
        self.slot_wait = float(config.get("GATEWAY_SIGN_IN_WAIT") or DEFAULT_SLOT_WAIT_SECONDS)

    def get_dependency(self, worker_ctx):
        return Guards(self.slots, self.slot_wait)
