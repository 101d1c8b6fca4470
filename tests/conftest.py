"""Test fixtures: a real PostgreSQL database and a real RabbitMQ vhost per test run.

Each run (and each xdist worker) gets its own database ``vowtest_<id>`` with
every component's roles, schemas and migrations, its own vhost ``vowtest-<id>``
with the whole event topology declared by the admin (as ``make run`` does), and
its own broker user per component (``vowtest-<id>-<component>``; users are
global in RabbitMQ, hence the prefix) with the permissions ``make run`` grants;
all are removed at the end. Nothing here mocks the servers.
"""
import warnings

warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")  # it says so on import

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402 - before anything opens a socket (plumbing/framework.py says why)

import base64  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from urllib.parse import quote  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402

from plumbing import config as cfg  # noqa: E402
from plumbing.auth import TokenSigner, generate_keypair  # noqa: E402
from plumbing.contracts import event_of, routing_key_for  # noqa: E402
from plumbing.events import event_exchange  # noqa: E402
from plumbing.publishers import EventPublisher  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

QR_TEST_KEY = "qr-signing-key-for-tests"
WEBHOOK_TEST_KEY = base64.urlsafe_b64encode(b"webhook-secret-keys-for-tests-00").decode()  # a Fernet key
RUN_ID = (os.environ.get("PYTEST_XDIST_WORKER", "main") + uuid.uuid4().hex[:8]).lower()


@pytest.fixture(scope="session")
def run_id():
    return RUN_ID


@pytest.fixture(scope="session")
def bare_database_url():
    """Admin URL of this run's own (empty) database; dropped at the end of the run."""
    from plumbing.migrations import drop_database, ensure_database
    base = cfg.admin_database_url()
    name = "vowtest_" + RUN_ID
    url = cfg.with_database(base, name)
    ensure_database(url)
    yield url
    drop_database(base, name)


@pytest.fixture(scope="session")
def database_url(bare_database_url):
    """The same database with every component's role, schema and migrations."""
    from plumbing.migrations import bootstrap, upgrade
    roles = bootstrap(bare_database_url)
    os.environ["DB_ROLE_PER_SERVICE"] = "1" if roles else "0"
    for component in cfg.ALL_COMPONENTS:
        upgrade(component, component_database_url(bare_database_url, component))
    return bare_database_url


def component_database_url(admin_url, component):
    if cfg.role_per_service():
        return cfg.with_user(admin_url, cfg.service_role(component))
    return admin_url


@pytest.fixture(scope="session")
def amqp_uri():
    """This run's own RabbitMQ vhost, as the admin, with the event topology declared."""
    from devtools.servers import create_vhost, delete_vhost
    from plumbing.topology import declare_topology
    base = cfg.env("AMQP_URI", cfg.DEFAULT_AMQP_URI)
    vhost = "vowtest-" + RUN_ID
    create_vhost(base, vhost)
    uri = cfg.with_vhost(base, vhost)
    try:
        declare_topology(uri)
        yield uri
    finally:
        delete_vhost(base, vhost)


@pytest.fixture(scope="session")
def broker_users(amqp_uri):
    """component -> {"user", "uri"}: this run's broker user per component, with the permissions
    ``make run`` gives, in this run's vhost; ``{}`` (one line says why) where none can be made."""
    from devtools.servers import SetupError, delete_broker_users, provision_broker_users
    credentials = {c: ("vowtest-%s-%s" % (RUN_ID, c), secrets.token_hex(16)) for c in cfg.ALL_COMPONENTS}
    try:
        provision_broker_users(amqp_uri, credentials)
    except SetupError as exc:
        print("\n%s: the tests run with one shared broker user" % exc)
        yield {}
        return
    try:
        yield {c: {"user": user, "uri": cfg.with_user(amqp_uri, quote(user, safe=""), password)}
               for c, (user, password) in credentials.items()}
    finally:
        delete_broker_users(amqp_uri, [user for user, _ in credentials.values()])


@pytest.fixture(scope="session")
def jwt_keys():
    return generate_keypair()


@pytest.fixture(scope="session")
def signer(jwt_keys):
    return TokenSigner(jwt_keys[0], ttl_seconds=3600)


@pytest.fixture(scope="session")
def make_config(database_url, amqp_uri, broker_users, jwt_keys):
    """``make_config("redemption", **overrides)``: a component's config for this run, connecting
    to RabbitMQ as that component's own broker user."""
    def make(component, **overrides):
        own = broker_users.get(component)
        config = cfg.service_config(
            component, AMQP_URI=own["uri"] if own else amqp_uri,
            BROKER_USERS={c: u["user"] for c, u in broker_users.items()})
        config.update({
            "DATABASE_URL": component_database_url(database_url, component),
            "DB_SCHEMA": component,
            "DB_POOL_SIZE": cfg.env_int("DB_POOL_SIZE", 5),  # three shards share 100 connections
            "JWT_PUBLIC_KEY": jwt_keys[1],
            "HEALTH_PORT": None,
            "RPC_TIMEOUT": 5.0,
            "EVENT_RETRY_DELAYS": [0.2, 0.4],
            "OUTBOX_SWEEP_INTERVAL": 0.3,
            "OUTBOX_SWEEP_MIN_AGE": 0.5,
            "QR_SIGNING_KEYS": [QR_TEST_KEY],
            "WEBHOOK_SECRET_KEYS": WEBHOOK_TEST_KEY,
            # a lone container (no gateway to ask) knows no past revocations and does not wait
            # for them; the whole system (tests/integration's ``system``) turns this on
            "REVOCATIONS_CATCH_UP": False,
        })
        config.update(overrides)
        return config
    return make


@pytest.fixture
def token_for(signer):
    """``token_for("owner", merchant_id=..., store_id=...)``: a signed access token."""
    def make(role, merchant_id=None, store_id=None, user_id=None, username=None):
        user_id = user_id or str(uuid.uuid4())
        token, _ = signer.sign(user_id, username or role + "-" + user_id[:6], role,
                               merchant_id=merchant_id, store_id=store_id)
        return token
    return make


@pytest.fixture
def as_user(token_for):
    """Context data for ``entrypoint_hook`` / standalone proxies acting as a user."""
    def make(role, merchant_id=None, store_id=None, **kwargs):
        return {"auth_token": token_for(role, merchant_id=merchant_id, store_id=store_id, **kwargs)}
    return make


def new_id():
    return str(uuid.uuid4())


@pytest.fixture(scope="session")
def publish_as():
    """``publish_as(amqp_uri, source, event_type, payload, event_id=None, headers=None)``: publish
    on ``source``'s events exchange as the outbox relay does, but over a connection of whichever
    user ``amqp_uri`` names (the message's ``user_id`` is that user); returns the event id."""
    publishers = {}

    def publish(amqp_uri, source, event_type, payload, event_id=None, headers=None):
        event_id = event_id or new_id()
        publisher = publishers.setdefault(amqp_uri, EventPublisher(amqp_uri, serializer="json"))
        publisher.publish(
            payload, exchange=event_exchange(source, {}, declare=False),
            routing_key=routing_key_for(source, event_type, payload),
            message_id=event_id,
            headers=dict({"nameko.event_id": event_id, "nameko.event_source": source,
                          "nameko.occurred_at": datetime.now(timezone.utc).isoformat()}, **(headers or {})))
        return event_id
    return publish


@pytest.fixture(scope="session")
def dispatch(publish_as, broker_users, amqp_uri):
    """``dispatch(payload, event_id=None, headers=None)``: publish an event (built by its contract, e.g.
    ``tests.events.example(VoucherRedeemed, ...)``) as the outbox relay of its publisher does,
    as the publisher's own broker user."""
    def publish(payload, event_id=None, headers=None):
        event = event_of(payload)
        own = broker_users.get(event.event_source)
        return publish_as(own["uri"] if own else amqp_uri, event.event_source, event.event_type,
                          event.to_wire(payload), event_id, headers)
    return publish


def service_classes():
    """Every service's class, for tests that start or inspect them all (a process loads only its own)."""
    classes = []
    for name in cfg.SERVICES:
        module = importlib.import_module("services.%s.service" % name)
        [service] = [value for value in vars(module).values()
                     if inspect.isclass(value) and value.__module__ == module.__name__ and
                     getattr(value, "name", None) == name]
        classes.append(service)
    return classes
