"""Database bootstrap and per-service migrations (Alembic).

* ``bootstrap`` (run with the admin URL) makes sure the database exists and
  gives each component its own role (``vow_<name>``) owning its own schema, so
  PostgreSQL itself stops one service reading another's tables. Where the
  admin user may not create roles it says so and falls back to one role.
* ``upgrade`` runs one component's Alembic migrations as that component's
  role, inside its schema (the version table lives there too), under an
  advisory lock so replicas starting together do not race.
"""
import logging
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

from plumbing import config as cfg

log = logging.getLogger(__name__)

# Every service schema has these: the outbox, the consumer's memory of handled
# events, and the messages parked after their last retry.
MESSAGING_TABLES_SQL = """
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    correlation_id text,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX outbox_unpublished_idx ON outbox (occurred_at) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE handled_events (
    event_id uuid NOT NULL,
    handler text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, handler)
);

CREATE TABLE parked_events (
    id bigserial PRIMARY KEY,
    event_id uuid,
    handler text NOT NULL,
    queue text NOT NULL,
    source text NOT NULL,
    event_type text NOT NULL,
    payload jsonb NOT NULL,
    headers jsonb NOT NULL,
    error text NOT NULL,
    attempts integer NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
"""

# Every component's schema has this too (each added it in a revision of its own): the
# Idempotency-Keys of what its entrypoints created, with the answer (plumbing.idempotency).
IDEMPOTENCY_KEYS_SQL = """
CREATE TABLE idempotency_keys (
    caller text NOT NULL,
    method text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    answer jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (caller, method, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
"""


def migrations_dir(component):
    base = cfg.REPO_ROOT / ("gateway" if component == "gateway" else "services/" + component)
    return base / "migrations"


def _connect(url, dbname=None):
    kwargs = {"connect_timeout": 5}
    if dbname:
        kwargs["dbname"] = dbname
    conn = psycopg2.connect(url, **kwargs)
    conn.autocommit = True
    return conn


def database_name(url):
    return urlsplit(url).path.lstrip("/")


def ensure_database(admin_url):
    name = database_name(admin_url)
    conn = _connect(admin_url, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    log.info("created database %s", name)
                except psycopg2.errors.DuplicateDatabase:
                    pass
    finally:
        conn.close()


def drop_database(admin_url, name):
    conn = _connect(admin_url, dbname="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    finally:
        conn.close()


def can_manage_roles(cur):
    cur.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


def bootstrap(admin_url, components=cfg.ALL_COMPONENTS, roles=None):
    """Create the database, roles and schemas; returns True when per-service roles are in use."""
    ensure_database(admin_url)
    conn = _connect(admin_url)
    try:
        with conn.cursor() as cur:
            if roles is None:
                roles = cfg.role_per_service()
            if roles and not can_manage_roles(cur):
                print("vowrewards: %s may not create roles; all services will share it "
                      "(set DB_ROLE_PER_SERVICE=0 to silence this)" % urlsplit(admin_url).username)
                roles = False
            for component in components:
                owner = cfg.service_role(component) if roles else None
                if owner:
                    _ensure_role(cur, owner)
                    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                        sql.Identifier(component), sql.Identifier(owner)))
                    cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        sql.Identifier(database_name(admin_url)), sql.Identifier(owner)))
                else:
                    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(component)))
    finally:
        conn.close()
    return roles


def _ensure_role(cur, role):
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is None:
        try:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        except (psycopg2.errors.DuplicateObject, psycopg2.errors.UniqueViolation):
            pass  # another run created it at the same moment


def alembic_config(component, url):
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(component)))
    # alembic's config is an ini file: '%' must be doubled
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["schema"] = component
    return config


def upgrade(component, url=None):
    from alembic import command
    url = url or cfg.service_database_url(component)
    command.upgrade(alembic_config(component, _sqlalchemy_url(url)), "head")


def current_revision(component, url=None):
    url = url or cfg.service_database_url(component)
    conn = _connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT version_num FROM {}.alembic_version").format(
                sql.Identifier(component)))
            row = cur.fetchone()
            return row[0] if row else None
    finally:
        conn.close()


def _sqlalchemy_url(url):
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def run_env():
    """The body of every component's ``migrations/env.py``."""
    from alembic import context
    from sqlalchemy import create_engine, pool, text

    config = context.config
    schema = config.attributes["schema"]
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    lock_key = "vowrewards-migrate-" + schema
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(hashtext(:key))"), {"key": lock_key})
        try:
            exists = connection.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema}
            ).first()
            if not exists:
                connection.execute(text('CREATE SCHEMA "%s"' % schema))
            connection.execute(text('SET search_path TO "%s"' % schema))
            connection.commit()
            connection.dialect.default_schema_name = schema
            context.configure(connection=connection, target_metadata=None,
                              version_table_schema=schema)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), {"key": lock_key})
            connection.commit()
