"""PostgreSQL for nameko services: a green, bounded pool and one transaction per worker.

* psycopg2 is made cooperative with eventlet (its wait callback yields to the
  hub), so one slow query or lock wait never freezes the other workers.
* The pool is bounded; a worker that cannot get a connection within
  ``DB_ACQUIRE_TIMEOUT`` fails with a clear ``ServiceUnavailable``.
* Each worker gets a ``Transaction`` bound to the service's own schema. It is
  committed when the entrypoint finishes without error and rolled back
  otherwise. Nameko sends an RPC reply (and acks an event) in the entrypoint's
  ``handle_result``, *before* dependencies see ``worker_result``, so our
  entrypoints (``plumbing.entrypoints``) finish the transaction there: nobody
  is told "done" about work that is not yet durable. ``worker_result`` finishes
  it for entrypoints that have no result handler (timers, test hooks).
* Work that must happen only once the commit is durable (publishing the
  outbox) is queued with ``after_commit`` and runs after the reply is sent.
* Round trips are what a till waits for, so the transaction is driven by hand
  (the connection is in autocommit mode): ``BEGIN`` travels with the first
  statement, and statements ``defer``-ed (the outbox rows) with ``COMMIT``.
"""
import logging
import sys
import weakref
from collections import deque

import eventlet
import psycopg2
import psycopg2.extensions
import psycopg2.extras
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider

from plumbing import framework  # noqa: F401 - makes psycopg2 cooperative (its wait callback yields)
from plumbing.errors import ServiceUnavailable

log = logging.getLogger(__name__)

IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


class ConnectionPool:
    """A bounded pool of psycopg2 connections that waits (cooperatively) when empty."""

    def __init__(self, dsn, size=10, schema=None, application_name="vowrewards",
                 statement_timeout_ms=30000, acquire_timeout=10.0):
        self.dsn = dsn
        self.size = size
        self.schema = schema
        self.application_name = application_name
        self.statement_timeout_ms = statement_timeout_ms
        self.acquire_timeout = acquire_timeout
        self._free = deque()
        self._slots = Semaphore(size)
        self._closed = False

    def _connect(self):
        options = "-c statement_timeout=%d" % self.statement_timeout_ms
        if self.schema:
            options += " -c search_path=%s" % self.schema
        conn = psycopg2.connect(
            self.dsn,
            options=options,
            application_name=self.application_name,
            connect_timeout=5,
            cursor_factory=psycopg2.extras.RealDictCursor,
        )
        conn.autocommit = True  # Transaction sends BEGIN and COMMIT itself (see the module doc)
        return conn

    def acquire(self):
        if self._closed:
            raise ServiceUnavailable("The database pool is closed", code="database_unavailable")
        if not self._slots.acquire(timeout=self.acquire_timeout):
            raise ServiceUnavailable("No database connection became free in time",
                                     code="database_busy")
        try:
            while self._free:
                conn = self._free.pop()
                if not conn.closed:
                    return conn
            return self._connect()
        except psycopg2.OperationalError as exc:
            self._slots.release()
            raise ServiceUnavailable("The database is unreachable: %s" % str(exc).strip(),
                                     code="database_unavailable")
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn, broken=False):
        try:
            if broken or self._closed or conn.closed:
                conn.close()
            elif conn.info.transaction_status != IDLE:
                with conn.cursor() as cur:
                    cur.execute("ROLLBACK")
                self._free.append(conn)
            else:
                self._free.append(conn)
        except psycopg2.Error:
            conn.close()
        finally:
            self._slots.release()

    def close(self):
        self._closed = True
        while self._free:
            self._free.pop().close()

    def run(self, fn):
        """Run ``fn(Transaction)`` in a transaction of its own, outside any worker."""
        tx = Transaction(self)
        try:
            result = fn(tx)
            tx.commit()
            return result
        except BaseException:
            tx.rollback()
            raise
        finally:
            tx.release()


class Transaction:
    """A lazily opened transaction: the connection is taken at the first query."""

    def __init__(self, pool, event_key=None):
        self.pool = pool
        self.event_key = event_key
        self.conn = None
        self.open = False  # BEGIN has been sent
        self.broken = False
        self.finished = False
        self._deferred = []
        self._after_commit = []
        self._committed_callbacks = []

    # -- queries ---------------------------------------------------------------
    def _cursor(self):
        if self.conn is None:
            self.conn = self.pool.acquire()
        return self.conn.cursor()

    def _run(self, sql, params):
        try:
            cur = self._cursor()
            if not self.open:
                sql, self.open = "BEGIN; " + sql, True  # one round trip, not two
            cur.execute(sql, params)
            return cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self.broken = True
            raise

    def execute(self, sql, params=None):
        """Run a statement; returns the number of rows it touched."""
        return self._run(sql, params).rowcount

    def one(self, sql, params=None):
        """The first row as a dict, or None."""
        return self._run(sql, params).fetchone()

    def all(self, sql, params=None):
        return self._run(sql, params).fetchall()

    def scalar(self, sql, params=None):
        row = self._run(sql, params).fetchone()
        return None if row is None else next(iter(row.values()))

    def execute_values(self, sql, rows, template=None, page_size=1000, fetch=False):
        cur = self._cursor()
        if not self.open:  # execute_values sends its own statements: open the transaction first
            cur.execute("BEGIN")
            self.open = True
        return psycopg2.extras.execute_values(cur, sql, rows, template=template,
                                              page_size=page_size, fetch=fetch)

    def defer(self, sql, params=None):
        """Run a statement with the COMMIT, in the same round trip (nothing reads its result)."""
        self._deferred.append((sql, params))

    def claim_event(self):
        """Record that this worker's event is handled; False if it already was.

        Inside the worker's transaction, so the mark commits (or not) with the
        effect. A copy being handled concurrently holds the row lock, so this
        waits for it and then finds the row.
        """
        if self.event_key is None:
            return True
        return self.execute(
            "INSERT INTO handled_events (event_id, handler) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING", self.event_key) == 1

    # -- lifecycle -------------------------------------------------------------
    def after_commit(self, fn):
        """Run ``fn()`` once the work is durable (after the reply is sent)."""
        self._after_commit.append(fn)

    def commit(self):
        """Commit what is done so far; the worker may go on in a new transaction."""
        deferred, self._deferred = self._deferred, []
        if self.open or deferred:
            cur = self._cursor()
            statements = [cur.mogrify(sql, params).decode() for sql, params in deferred]
            if not self.open:
                statements.insert(0, "BEGIN")
            statements.append("COMMIT")
            try:
                cur.execute("; ".join(statements))
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.broken = True
                raise
            self.open = False
        self._committed_callbacks.extend(self._after_commit)
        self._after_commit = []

    def rollback(self):
        self._after_commit = []
        self._deferred = []
        if self.open and self.conn is not None and not self.conn.closed:
            try:
                with self.conn.cursor() as cur:
                    cur.execute("ROLLBACK")
            except psycopg2.Error:
                self.broken = True
        self.open = False

    def finish(self, exc_info):
        """Commit on success, roll back on error; returns the (possibly new) exc_info."""
        if self.finished:
            return exc_info
        self.finished = True
        if exc_info is None:
            try:
                self.commit()
            except Exception:
                self.rollback()
                log.exception("commit failed")
                return sys.exc_info()
        else:
            self.rollback()
        return exc_info

    def run_after_commit(self):
        callbacks, self._committed_callbacks = self._committed_callbacks, []
        for fn in callbacks:
            try:
                fn()
            except Exception:
                # the outbox sweep will publish what this could not
                log.exception("after-commit callback failed")

    def release(self):
        if self.conn is not None:
            self.pool.release(self.conn, broken=self.broken)
            self.conn = None


class Database(DependencyProvider):
    """Injects a per-worker ``Transaction`` on the service's own schema."""

    def setup(self):
        config = self.container.config
        self.pool = ConnectionPool(
            config["DATABASE_URL"],
            size=config.get("DB_POOL_SIZE", 10),
            schema=config.get("DB_SCHEMA", self.container.service_name),
            application_name=self.container.service_name,
            statement_timeout_ms=config.get("DB_STATEMENT_TIMEOUT_MS", 30000),
            acquire_timeout=config.get("DB_ACQUIRE_TIMEOUT", 10.0),
        )
        self.transactions = weakref.WeakKeyDictionary()

    def stop(self):
        self.pool.close()

    def kill(self):
        self.pool.close()

    def get_dependency(self, worker_ctx):
        handler = getattr(worker_ctx.entrypoint, "dedupe_handler_name", None)
        event_id = worker_ctx.data.get("event_id")
        tx = Transaction(self.pool, event_key=(event_id, handler) if handler and event_id else None)
        self.transactions[worker_ctx] = tx
        return tx

    def transaction_for(self, worker_ctx):
        return self.transactions.get(worker_ctx)

    def finish_worker(self, worker_ctx, exc_info):
        tx = self.transactions.get(worker_ctx)
        return exc_info if tx is None else tx.finish(exc_info)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        self.finish_worker(worker_ctx, exc_info)

    def worker_teardown(self, worker_ctx):
        tx = self.transactions.pop(worker_ctx, None)
        if tx is None:
            return
        tx.release()
        tx.run_after_commit()

    def check(self, timeout=2.0):
        """Readiness: can we run a query now?"""
        with eventlet.Timeout(timeout, ServiceUnavailable("database did not answer in time")):
            self.pool.run(lambda tx: tx.scalar("SELECT 1"))


def find_dependency(container, cls):
    for dependency in container.dependencies:
        if isinstance(dependency, cls):
            return dependency
    return None
