"""Configuration from the environment (12-factor), with local defaults.

One function builds the nameko config dict for a service; everything a
process needs to know comes from here.
"""
import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DIR = Path(os.environ.get("VOWREWARDS_LOCAL_DIR", REPO_ROOT / ".local"))

SERVICES = ("support", "redemption", "campaign", "settlement", "notification")
ALL_COMPONENTS = ("gateway",) + SERVICES

# Liveness/readiness/metrics port per component (overridable: <NAME>_HEALTH_PORT).
HEALTH_PORTS = {
    "gateway": 9100,
    "support": 9101,
    "redemption": 9102,
    "campaign": 9103,
    "settlement": 9104,
    "notification": 9105,
}

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/vowrewards"


class ConfigError(RuntimeError):
    """A setting that is missing or contradicts another; the message says which."""


def env(name, default=None, environ=None):
    value = (os.environ if environ is None else environ).get(name)
    return default if value in (None, "") else value


def env_int(name, default):
    return int(env(name, default))


def env_float(name, default):
    return float(env(name, default))


def env_list_of_floats(name, default):
    raw = env(name)
    if raw is None:
        return list(default)
    return [float(part) for part in raw.split(",") if part.strip()]


def role_per_service():
    """Each service connects as its own role (``vow_<service>``) unless turned off."""
    return env("DB_ROLE_PER_SERVICE", "1") not in ("0", "false", "no")


def admin_database_url():
    return env("DATABASE_URL", DEFAULT_DATABASE_URL)


def service_role(service_name):
    return "vow_" + service_name


def service_database_url(service_name):
    """The URL a service connects with: its own role on the shared database."""
    explicit = env(service_name.upper() + "_DATABASE_URL")
    if explicit:
        return explicit
    admin = admin_database_url()
    if not role_per_service():
        return admin
    return with_user(admin, service_role(service_name))


# -- the broker: one user per component ---------------------------------------------------
def broker_user_per_service(environ=None):
    """Each component connects to RabbitMQ as its own user unless turned off (``0``: all share
    ``AMQP_URI`` and nobody checks who published an event)."""
    return env("BROKER_USER_PER_SERVICE", "1", environ) not in ("0", "false", "no")


def broker_user(component, environ=None):
    """``<COMPONENT>_BROKER_USER``, else ``BROKER_USER_PREFIX`` (``vow_``) + the component."""
    return env(component.upper() + "_BROKER_USER", None, environ) or \
        env("BROKER_USER_PREFIX", "vow_", environ) + component


def broker_users(environ=None):
    """component -> broker user (``BROKER_USERS``): who alone may publish that component's
    events; empty where every component shares one user (then nothing is checked)."""
    if not broker_user_per_service(environ):
        return {}
    return {component: broker_user(component, environ) for component in ALL_COMPONENTS}


def broker_password_file(user):
    return LOCAL_DIR / "keys" / ("amqp-%s.password" % user)


def admin_amqp_uri(environ=None):
    return env("AMQP_URI", DEFAULT_AMQP_URI, environ)


def service_amqp_uri(component, environ=None):
    """The URI a component connects to RabbitMQ with (mirrors ``service_database_url``):
    ``<COMPONENT>_AMQP_URI``; else ``AMQP_URI`` as the component's own broker user, its password
    from ``<COMPONENT>_AMQP_PASSWORD`` or the file ``make run`` wrote under ``.local/keys``;
    else, with ``BROKER_USER_PER_SERVICE=0``, ``AMQP_URI`` itself."""
    explicit = env(component.upper() + "_AMQP_URI", None, environ)
    if explicit:
        return explicit
    admin = admin_amqp_uri(environ)
    if not broker_user_per_service(environ):
        return admin
    user = broker_user(component, environ)
    password = env(component.upper() + "_AMQP_PASSWORD", None, environ)
    if password is None and broker_password_file(user).exists():
        password = broker_password_file(user).read_text().strip()
    if not password:
        raise ConfigError(
            "no broker credentials for %s: set %s_AMQP_URI (or %s_AMQP_PASSWORD for user %s), "
            "run `make run` once to create the users, or set BROKER_USER_PER_SERVICE=0 to share AMQP_URI"
            % (component, component.upper(), component.upper(), user))
    return with_user(admin, quote(user, safe=""), quote(password, safe=""))


def with_user(url, user, password=None):
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[" + host + "]"
    netloc = user + (":" + password if password else "") + "@" + host
    if parts.port:
        netloc += ":%d" % parts.port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url, database):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def with_vhost(amqp_uri, vhost):
    parts = urlsplit(amqp_uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + vhost, parts.query, parts.fragment))


def read_key(name):
    """A PEM key from ``<NAME>`` (the PEM itself) or ``<NAME>_FILE`` (a path)."""
    inline = env(name)
    if inline:
        return inline
    path = env(name + "_FILE")
    default_path = LOCAL_DIR / "keys" / (name.lower().replace("_", "-") + ".pem")
    path = Path(path) if path else default_path
    if path.exists():
        return path.read_text()
    return None


def health_port(component):
    """``HEALTH_PORT`` (one per pod, as on Kubernetes), else ``<NAME>_HEALTH_PORT``, else the default."""
    return env_int("HEALTH_PORT", env_int(component.upper() + "_HEALTH_PORT", HEALTH_PORTS[component]))


QUEUE_TYPES = ("classic", "quorum")


def queue_type(environ=None):
    """``AMQP_QUEUE_TYPE``: the type of every durable queue the services declare (``quorum`` in
    production, replicated across the RabbitMQ cluster). A queue's type is fixed when it is first
    declared, so an installation chooses it once, before its first start."""
    kind = env("AMQP_QUEUE_TYPE", "classic", environ)
    if kind not in QUEUE_TYPES:
        raise ValueError("AMQP_QUEUE_TYPE must be one of %s, not %r" % (", ".join(QUEUE_TYPES), kind))
    return kind


def durable_queue_arguments(config):
    """The arguments every declarer of a durable queue passes (the operator's bootstrap and each
    process alike): RabbitMQ refuses a redeclaration whose ``x-queue-type`` differs from the
    queue's. Classic queues pass none, as they were first declared."""
    kind = (config or {}).get("AMQP_QUEUE_TYPE", "classic")
    if kind not in QUEUE_TYPES:
        raise ValueError("AMQP_QUEUE_TYPE must be one of %s, not %r" % (", ".join(QUEUE_TYPES), kind))
    return {} if kind == "classic" else {"x-queue-type": kind}


def service_config(component, **overrides):
    """The nameko config dict for one component (a service or the gateway)."""
    config = {
        "DATABASE_URL": service_database_url(component),
        "DB_SCHEMA": component,
        "DB_POOL_SIZE": env_int("DB_POOL_SIZE", 12),
        "DB_PREPARE_THRESHOLD": env_int("DB_PREPARE_THRESHOLD", 5),
        "DB_STATEMENT_TIMEOUT_MS": env_int("DB_STATEMENT_TIMEOUT_MS", 30000),
        "max_workers": env_int("MAX_WORKERS", 10),
        "RPC_TIMEOUT": env_float("RPC_TIMEOUT", 5.0),
        # seconds of silence after which RabbitMQ and the process each drop their connection
        "HEARTBEAT": env_int("AMQP_HEARTBEAT", 60),
        "CIRCUIT_FAILURES": env_int("CIRCUIT_FAILURES", 5),
        "CIRCUIT_OPEN_SECONDS": env_float("CIRCUIT_OPEN_SECONDS", 5.0),
        # loopback unless told otherwise (Kubernetes sets 0.0.0.0; its NetworkPolicy admits Prometheus only)
        "HEALTH_ADDRESS": env("HEALTH_ADDRESS", "127.0.0.1"),
        "HEALTH_PORT": health_port(component),
        "JWT_PUBLIC_KEY": read_key("JWT_PUBLIC_KEY"),
        "EVENT_RETRY_DELAYS": env_list_of_floats("EVENT_RETRY_DELAYS", (1, 10, 60, 600)),
        "AMQP_QUEUE_TYPE": queue_type(),
        "OUTBOX_SWEEP_INTERVAL": env_float("OUTBOX_SWEEP_INTERVAL", 2.0),
        "OUTBOX_SWEEP_MIN_AGE": env_float("OUTBOX_SWEEP_MIN_AGE", 5.0),
        "OUTBOX_RETENTION_HOURS": env_float("OUTBOX_RETENTION_HOURS", 24.0),
        # seconds between sealings of the schema's audit log into its hash chains (plumbing.audit)
        "AUDIT_SEAL_INTERVAL": env_float("AUDIT_SEAL_INTERVAL", 1.0),
        "LOG_WORKERS": env("LOG_WORKERS", "0"),
    }
    config.update(overrides)
    if "AMQP_URI" not in config:
        config["AMQP_URI"] = service_amqp_uri(component)
    if "BROKER_USERS" not in config:
        config["BROKER_USERS"] = broker_users()
    return config
