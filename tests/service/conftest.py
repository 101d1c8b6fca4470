"""Service tests: one real nameko container per service, on this run's database and vhost.

Events (built by their contracts: ``tests/events.py``) are dispatched as the outbox relay
dispatches them (persistent, confirmed,
with the ``nameko.event_id`` header the idempotent handlers key on, over a
connection of the source service's own broker user, which stamps ``user_id``;
``publish_as`` publishes as anyone else, for forgeries), and what a service
emits is read back from its own outbox table, so no test needs another service
running. Every test makes its own merchants (``new_id()``), so tests never see
each other's rows and never count anything global.
"""
import json
import time
import uuid
from contextlib import contextmanager

import eventlet
import psycopg2
import psycopg2.extras
import pytest
from nameko.containers import ServiceContainer
from nameko.testing.services import entrypoint_hook, entrypoint_waiter



def new_id():
    return str(uuid.uuid4())


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Poll ``predicate()`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.1fs" % timeout)
        eventlet.sleep(interval)


@pytest.fixture(scope="session")
def query(database_url):
    """``query(sql, params)``: rows as dicts, read (or written) outside any service."""
    def run(sql, params=()):
        conn = psycopg2.connect(database_url, cursor_factory=psycopg2.extras.RealDictCursor)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else cur.rowcount
        finally:
            conn.close()
    return run


@pytest.fixture(scope="session")
def emitted(query):
    """``emitted("settlement", "exception_raised", merchant_id=...)``: payloads in its outbox."""
    def find(service, event_type, **match):
        rows = query("SELECT payload FROM %s.outbox WHERE event_type = %%s AND payload @> %%s::jsonb "
                     "ORDER BY id" % service, (event_type, json.dumps(match)))
        return [row["payload"] for row in rows]
    return find


def handled(event_id, succeeded=None):
    """An ``entrypoint_waiter`` callback: this event's worker (and, optionally, its outcome)."""
    def callback(worker_ctx, result, exc_info):
        if worker_ctx.data.get("event_id") != event_id:
            return False  # a stray message from another test
        return succeeded is None or succeeded == (exc_info is None)
    return callback


@contextmanager
def started(service_cls, config):
    """A started container for a whole module (``container_factory`` is per test)."""
    container = ServiceContainer(service_cls, config)
    container.start()
    try:
        yield container
    finally:
        container.stop()


def call(container, method, context_data, *args, **kwargs):
    """Run one RPC entrypoint as the user in ``context_data``; its error is raised here."""
    with entrypoint_hook(container, method, context_data=context_data) as hook:
        return hook(*args, **kwargs)


@contextmanager
def handling(container, method, event_id, succeeded=None, timeout=10):
    """Wait (inside the block's dispatch) until ``method`` has handled ``event_id``."""
    with entrypoint_waiter(container, method, timeout=timeout,
                           callback=handled(event_id, succeeded)) as result:
        yield result
