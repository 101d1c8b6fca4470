"""Who is calling: signed tokens, identities, roles and merchant scope.

The gateway signs short-lived access tokens with an Ed25519 private key that
only it holds. It passes the token itself in the RPC context (``auth_token``),
and every service verifies it with the public key, so a message on the bus
cannot claim an identity it was never given. Work a service starts on its own
(event handlers, timers) runs as that service (``Identity.system``).

Each sign-in is a session (the ``ses`` claim); a token whose session the gateway
has revoked is refused by every process within moments (``plumbing.revocation``).
"""
import time
import uuid
from dataclasses import dataclass, field, replace

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

from plumbing.errors import Forbidden, ServiceUnavailable, Unauthenticated
from plumbing.framework import BROKER_USER_KEY
from plumbing.revocation import DEFAULT_SYNC_WAIT, RevocationFeed
from plumbing.validation import require_id

ISSUER = "vowrewards-gateway"
AUDIENCE = "vowrewards"
ALGORITHM = "EdDSA"
TOKEN_CONTEXT_KEY = "auth_token"

OWNER = "owner"
STORE_USER = "store_user"
SUPPORT_AGENT = "support_agent"
FINANCE = "finance"
ADMIN = "admin"
PLATFORM_FINANCE = "platform_finance"
PLATFORM_SUPPORT = "platform_support"
IT_SUPPORT = "it_support"
MERCHANT_ROLES = (OWNER, STORE_USER, SUPPORT_AGENT, FINANCE)
# the platform's own people: they belong to no merchant and name the one they act on
PLATFORM_ROLES = (ADMIN, PLATFORM_FINANCE, PLATFORM_SUPPORT, IT_SUPPORT)
# machines a merchant registers (API clients): a till terminal bound to one store, a buyer app
# acting for a customer of the merchant it names, a logistics partner seeing only what is cascaded to it
POS = "pos"
BUYER_APP = "buyer_app"
LOGISTICS_PARTNER = "logistics_partner"
CLIENT_ROLES = (POS, BUYER_APP, LOGISTICS_PARTNER)
ROLES = MERCHANT_ROLES + PLATFORM_ROLES + CLIENT_ROLES
SYSTEM = "system"
# the customer a buyer app acts for on this request, vouched for by the gateway (context data)
ACTING_CUSTOMER_KEY = "acting_customer_id"

# Who may do what, each set named once by what it means (services and the gateway require these)
MERCHANT_STAFF = MERCHANT_ROLES + (ADMIN,)            # a merchant's people, and a platform admin naming it
BACK_OFFICE = (OWNER, SUPPORT_AGENT, FINANCE, ADMIN)  # the same but the tills (store users)
TILLS = (STORE_USER, OWNER, POS)                      # who redeems vouchers at a store (a POS client: its own)
STORE_BOUND = (STORE_USER, POS)                       # bound to one store: never act for another
OWNERS = (OWNER, ADMIN)                               # the merchant's owner, or a platform admin naming it
PLATFORM_MONEY = (PLATFORM_FINANCE, ADMIN)            # platform money, and where a merchant is paid
MONEY_READERS = (OWNER, FINANCE) + PLATFORM_MONEY     # a merchant's ledger, batches and payout account


def generate_keypair():
    """A new Ed25519 key pair as (private PEM, public PEM) strings."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    role: str
    merchant_id: str = None
    store_id: str = None
    token_id: str = None
    session_id: str = None
    claims: dict = field(default=None, compare=False, repr=False)
    customer_id: str = None  # a buyer app: the customer it acts for on this request

    @property
    def is_client(self):
        """An API client (a machine), not a person."""
        return self.role in CLIENT_ROLES

    @classmethod
    def system(cls, service_name):
        return cls(user_id="service:" + service_name, username=service_name, role=SYSTEM)

    @property
    def is_admin(self):
        return self.role == ADMIN

    @property
    def is_platform(self):
        """A platform role (or the system): acts for a merchant it names, never its own."""
        return self.role in PLATFORM_ROLES or self.role == SYSTEM

    def actor(self):
        """How audit records name this caller."""
        return {"user_id": self.user_id, "username": self.username, "role": self.role}

    def require(self, *roles):
        if self.role not in roles:
            raise Forbidden("This needs one of the roles: %s" % ", ".join(roles),
                            code="role_not_allowed")
        return self

    def merchant_scope(self, requested=None):
        """The merchant this call acts on.

        Merchant users act on their own merchant only; naming another is
        refused. Platform roles and the system must name one.
        """
        if requested:
            # it reaches SQL as a uuid: a malformed one is the caller's mistake, not a 500
            requested = require_id(requested, "merchant_id")
        if self.is_platform:
            if not requested:
                raise Forbidden("Name the merchant to act on (merchant_id)",
                                code="merchant_required")
            return requested
        if requested and requested != self.merchant_id:
            raise Forbidden("That merchant is not yours", code="merchant_forbidden")
        return self.merchant_id

    def can_see_merchant(self, merchant_id):
        return self.is_platform or merchant_id == self.merchant_id


class TokenSigner:
    def __init__(self, private_key_pem, ttl_seconds=900):
        self.key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self.ttl_seconds = ttl_seconds

    def sign(self, user_id, username, role, merchant_id=None, store_id=None, now=None, session_id=None):
        now = int(now if now is not None else time.time())
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": str(user_id), "name": username,
            "role": role, "mid": str(merchant_id) if merchant_id else None,
            "sid": str(store_id) if store_id else None,
            "iat": now, "exp": now + self.ttl_seconds, "jti": uuid.uuid4().hex,
        }
        if session_id:
            claims["ses"] = str(session_id)  # "sid" is the store
        return jwt.encode(claims, self.key, algorithm=ALGORITHM), claims


class TokenVerifier:
    """Verifies access tokens; a token already verified is remembered until it expires.

    A till sends the same token with every request for its whole life, so the
    signature check (and claim parsing) is done once per token and process. Whether
    its session was revoked is asked every time (a dictionary lookup).
    """

    CACHE_SIZE = 10000

    def __init__(self, public_key_pem, leeway=5, revocations=None, sync_wait=DEFAULT_SYNC_WAIT):
        if not public_key_pem:
            raise RuntimeError("JWT_PUBLIC_KEY is not configured")
        self.key = serialization.load_pem_public_key(public_key_pem.encode())
        self.leeway = leeway
        self.revocations = revocations
        self.sync_wait = sync_wait
        self._verified = {}  # token -> Identity

    def verify(self, token):
        identity = self._known(token)
        if identity is None:
            identity = self._verify(token)
            if len(self._verified) >= self.CACHE_SIZE:
                self._verified.clear()  # simple and bounded; tokens are re-verified once after this
            self._verified[token] = identity
        if self.revocations is not None:
            if not self.revocations.wait_synced(self.sync_wait):
                raise ServiceUnavailable("This service has not yet learned which sessions were signed out; "
                                         "try again in a moment", code="revocations_unknown")
            if self.revocations.refuses(identity):
                raise Unauthenticated("This session was signed out: sign in again", code="token_revoked")
        return identity

    def _known(self, token):
        known = self._verified.get(token) if token else None
        if known is not None:
            if known.claims["exp"] + self.leeway > time.time():
                return known
            del self._verified[token]
        return None

    def _verify(self, token):
        if not token:
            raise Unauthenticated("Sign in first: this needs a bearer token", code="token_missing")
        try:
            claims = jwt.decode(token, self.key, algorithms=[ALGORITHM], audience=AUDIENCE,
                                issuer=ISSUER, leeway=self.leeway,
                                options={"require": ["exp", "iat", "sub", "role"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("Your session has expired: sign in again", code="token_expired")
        except jwt.PyJWTError:
            raise Unauthenticated("The bearer token is not valid", code="token_invalid")
        if claims.get("role") not in ROLES:
            raise Unauthenticated("The bearer token names no known role", code="token_invalid")
        return Identity(user_id=claims["sub"], username=claims.get("name"), role=claims["role"],
                        merchant_id=claims.get("mid"), store_id=claims.get("sid"),
                        token_id=claims.get("jti"), session_id=claims.get("ses"), claims=claims)


class CallerContext:
    def __init__(self, verifier, worker_ctx, acts_as_user, services=None):
        self._verifier = verifier
        self._worker_ctx = worker_ctx
        self._acts_as_user = acts_as_user
        self._services = services or {}
        self._identity = None

    @property
    def identity(self):
        if self._identity is None:
            if self._acts_as_user:
                token = self._worker_ctx.data.get(TOKEN_CONTEXT_KEY)
                service = self._services.get(self._worker_ctx.data.get(BROKER_USER_KEY))
                if not token and service:
                    # a service's own work (a timer, a handler) calling this one: it acts as
                    # itself, known by the broker user RabbitMQ validated for the request
                    self._identity = Identity.system(service)
                    return self._identity
                identity = self._verifier.verify(token)
                customer_id = self._worker_ctx.data.get(ACTING_CUSTOMER_KEY)
                if identity.role == BUYER_APP and customer_id:
                    # only a buyer app acts for a customer; its token is its merchant's, so it
                    # can never name a customer outside the merchant it may see
                    identity = replace(identity, customer_id=require_id(customer_id, "customer_id"))
                self._identity = identity
            else:
                self._identity = Identity.system(self._worker_ctx.service_name)
        return self._identity

    def require(self, *roles):
        return self.identity.require(*roles)


class Caller(DependencyProvider):
    """Injects the verified identity of whoever started this worker.

    RPC and HTTP workers act for the user whose token came with the call;
    anything else (events, timers) acts as the service itself, and a token
    smuggled into an event's headers is ignored. An RPC request that carries no
    token but was sent by another service's broker user (RabbitMQ validates the
    message's ``user_id``) comes from that service's own work: it acts as that
    service (``Identity.system``), and only where a method allows the system role. A token of a revoked session is
    refused (``plumbing.revocation``).
    """

    feed = RevocationFeed()

    def setup(self):
        config = self.container.config
        self.verifier = TokenVerifier(
            config.get("JWT_PUBLIC_KEY"), revocations=self.feed.revocations,
            sync_wait=float(config.get("REVOCATION_SYNC_WAIT", DEFAULT_SYNC_WAIT)))
        # broker user -> the service it is; the gateway is no service acting on its own account
        # (a request it passes on without a token stays anonymous)
        self.services = {user: component for component, user in (config.get("BROKER_USERS") or {}).items()
                         if component != "gateway"}

    def get_dependency(self, worker_ctx):
        acts_as_user = isinstance(worker_ctx.entrypoint, (Rpc, HttpRequestHandler))
        services = self.services if isinstance(worker_ctx.entrypoint, Rpc) else None
        return CallerContext(self.verifier, worker_ctx, acts_as_user, services)
