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
  statement, statements ``lead``-ing (an idempotency key's claim) with it too,
  and statements ``defer``-ed (the outbox rows, the stored answer) with ``COMMIT``.
* A statement used ``DB_PREPARE_THRESHOLD`` times is prepared on each pooled connection
  (``PreparedStatements``): PostgreSQL parses and plans it once per connection, not per call.
* The transaction has one owner, this module: service code never commits or
  rolls it back. What must be written even though the request fails (a failed
  attempt counted) is handed to ``despite_failure``; what the request did
  elsewhere and must undo if it fails (points reserved) to ``after_rollback``;
  a statement that may fail without failing the request runs in ``savepoint()``;
  work done in steps that are each durable on their own (a batch job's chunks)
  runs in ``separately()``.
"""
import datetime
import hashlib
import logging
import re
import sys
import weakref
from collections import deque
from contextlib import contextmanager

import eventlet
import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider, Extension

from plumbing import framework  # noqa: F401 - makes psycopg2 cooperative (its wait callback yields)
from plumbing import audit
from plumbing.errors import ServiceUnavailable

log = logging.getLogger(__name__)

IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


class PooledConnection(psycopg2.extensions.connection):
    """A pool's connection: it knows which of the pool's statements it has prepared."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared = set()
        self.prepared_version = 0


PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")
PREPARABLE = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
# what a value of each Python type may be passed as, unchanged in meaning: the EXECUTE coerces each
# argument to its parameter's type, which must not narrow or reinterpret it (a timestamp to a date)
INT4 = {"integer": 2 ** 31, "smallint": 2 ** 15}
ACCEPTS = {
    str: None,  # a quoted literal is untyped: it takes its parameter's type, as it would in the statement
    type(None): None,
    bool: {"boolean"},
    int: {"bigint", "numeric", "integer", "smallint"},
    datetime.datetime: {"timestamp with time zone"},
    datetime.date: {"date"},
}
ARRAYS = {"uuid[]", "text[]", "bigint[]"}  # a list goes with an explicit cast, as its statement casts it


class Statement:
    """A frequent statement in the form the server prepares: ``$n`` for its placeholders."""

    def __init__(self, sql):
        self.name = "vow_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
        self.keys = []  # the parameter behind each $n: a name (dict parameters) or an index
        position = 0

        def number(match):
            nonlocal position
            if match.group(0) == "%%":
                return "%"
            if match.group(1) is not None:
                if match.group(1) not in self.keys:
                    self.keys.append(match.group(1))
                return "$%d" % (self.keys.index(match.group(1)) + 1)
            self.keys.append(position)
            position += 1
            return "$%d" % position
        self.text = PLACEHOLDER.sub(number, sql)
        self.named = bool(self.keys) and isinstance(self.keys[0], str)  # psycopg2 allows no mix
        self.types = None  # the server's types of its parameters, once prepared
        self.execute = None  # the EXECUTE text, once its types are known
        self.usable = True

    def prepared_as(self, types):
        """The server's parameter types, and the EXECUTE that passes arguments to them."""
        self.types = types
        self.execute = "EXECUTE %s (%s)" % (self.name, ", ".join(
            "%s::" + kind if kind in ARRAYS else "%s" for kind in types)) if types else "EXECUTE " + self.name

    def arguments(self, params):
        """The arguments in $n order, or None where a value could change meaning on the way."""
        if params is None:
            params = ()
        if self.keys and isinstance(params, dict) != self.named:
            return None
        try:
            values = [params[key] for key in self.keys]
        except (KeyError, IndexError, TypeError):
            return None
        for value, kind in zip(values, self.types):
            if isinstance(value, list):
                if kind not in ARRAYS or not all(isinstance(item, (str, int)) for item in value):
                    return None
                continue
            accepted = ACCEPTS.get(type(value), ())
            if accepted is None:
                continue
            if kind not in accepted or (kind in INT4 and not -INT4[kind] <= value < INT4[kind]):
                return None
        return values


class PreparedStatements:
    """Server-side prepared statements for a pool's frequent statements: PostgreSQL then parses
    and plans each once per connection, not on every call (most of a short statement's cost).

    A statement becomes frequent after ``threshold`` uses; each connection prepares the frequent
    ones when it is next taken from the pool, outside any transaction, so a statement the server
    cannot prepare (a parameter of no deducible type) costs nothing but its staying unprepared.
    A call whose values could change meaning on their way in (a float, a timestamp for a date
    parameter) runs as plain text. The server replans a statement itself after DDL on its tables;
    one whose result changed shape fails once and its connection is dropped (``Transaction``)."""

    MAX_COUNTED = 10000  # distinct texts counted before the counts start again
    MAX_FREQUENT = 300  # statements prepared per connection, at most

    def __init__(self, threshold=5):
        self.threshold = threshold
        self.uses = {}
        self.frequent = {}  # sql -> Statement
        self.version = 0

    def form(self, conn, sql, params):
        """(sql, params) to send: EXECUTE of the prepared statement where this connection has it."""
        if self.threshold <= 0 or not isinstance(sql, str) or (params is None and "%" in sql):
            return sql, params  # without parameters psycopg2 sends "%%" as it is
        statement = self.frequent.get(sql)
        if statement is None:
            uses = self.uses.get(sql, 0) + 1
            if len(self.uses) >= self.MAX_COUNTED:
                self.uses.clear()
            self.uses[sql] = uses
            if uses >= self.threshold and len(self.frequent) < self.MAX_FREQUENT and PREPARABLE.match(sql):
                self.frequent[sql] = Statement(sql)
                self.version += 1
            return sql, params
        if not statement.usable or statement.name not in getattr(conn, "prepared", ()):
            return sql, params
        values = statement.arguments(params)
        if values is None:
            return sql, params
        return statement.execute, values

    def prepare(self, conn):
        """Prepare on ``conn`` (idle, autocommit) the frequent statements it has not."""
        if getattr(conn, "prepared_version", self.version) == self.version:
            return
        conn.prepared_version = self.version
        for statement in list(self.frequent.values()):
            if not statement.usable or statement.name in conn.prepared:
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute("PREPARE %s AS %s" % (statement.name, statement.text))
                    if statement.types is None:
                        cur.execute("SELECT parameter_types::text[] AS types FROM pg_prepared_statements "
                                    "WHERE name = %s", (statement.name,))
                        statement.prepared_as(cur.fetchone()["types"])
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                raise
            except psycopg2.Error as exc:
                statement.usable = False
                log.debug("not preparing %s: %s", statement.text[:200], exc)
                continue
            conn.prepared.add(statement.name)


class ConnectionPool:
    """A bounded pool of psycopg2 connections that waits (cooperatively) when empty."""

    def __init__(self, dsn, size=10, schema=None, application_name="vowrewards",
                 statement_timeout_ms=30000, acquire_timeout=10.0, prepare_threshold=0):
        self.dsn = dsn
        self.statements = PreparedStatements(prepare_threshold)
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
            connection_factory=PooledConnection,
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
                if not conn.closed and self._prepared(conn):
                    return conn
            conn = self._connect()
            if not self._prepared(conn):
                raise psycopg2.OperationalError("the new connection was dropped at once")
            return conn
        except psycopg2.OperationalError as exc:
            self._slots.release()
            raise ServiceUnavailable("The database is unreachable: %s" % str(exc).strip(),
                                     code="database_unavailable")
        except BaseException:
            self._slots.release()
            raise

    def _prepared(self, conn):
        """Prepare what ``conn`` lacks; False (and closed) if it was found dropped meanwhile."""
        try:
            self.statements.prepare(conn)
            return True
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            conn.close()
            return False

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

    def discard_idle(self):
        """Close every idle connection: one was found dropped by the server (a restart, a failover),
        so the others, idle as long, most likely were too."""
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

    handler = None  # the event handler whose claims this transaction records (``claim_events``)

    def __init__(self, pool, event_key=None):
        self.pool = pool
        self.event_key = event_key
        self.conn = None
        self.sent = False  # something went over self.conn in this transaction
        self.open = False  # BEGIN has been sent
        self.broken = False
        self.finished = False
        self._leading = []
        self._deferred = []
        self._after_commit = []
        self._after_rollback = []
        self._kept = []
        self._savepoints = 0
        self._committed_callbacks = []
        self._undo_callbacks = []

    # -- queries ---------------------------------------------------------------
    def _cursor(self):
        if self.conn is None:
            self.conn = self.pool.acquire()
            self.sent = False
        return self.conn.cursor()

    def _round_trip(self, send):
        """``send()`` the next round trip. If it is the transaction's first and finds its connection
        dropped by the server while it idled in the pool (PostgreSQL restarted, a failover,
        ``pg_terminate_backend``), nothing of it took effect: it is sent once more on a new one."""
        first = not self.sent and not self.open
        leading = list(self._leading)
        try:
            result = send()
        except (psycopg2.errors.FeatureNotSupported, psycopg2.errors.InvalidSqlStatementName):
            # a prepared statement whose result changed shape (a migration), or gone: this
            # connection's prepared statements are not to be trusted any more
            self.broken = True
            raise
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            if not (first and self.conn is not None and self.conn.closed):
                self.broken = True
                raise
            log.warning("a pooled database connection had been dropped by the server; reconnecting")
            self.pool.release(self.conn, broken=True)
            self.pool.discard_idle()
            self.conn, self.open, self._leading = None, False, leading
            try:
                result = send()
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                self.broken = True
                raise
        self.sent = True
        return result

    def _run(self, sql, params):
        return self._round_trip(lambda: self._send_statement(sql, params))

    def _send_statement(self, sql, params):
        cur = self._cursor()
        sql, params = self.pool.statements.form(self.conn, sql, params)
        if self._leading:
            # BEGIN, what leads and the statement: one round trip
            text = b"; ".join(self._take_leading(cur) + [cur.mogrify(sql, params)])
            cur.execute(text)
        elif not self.open:
            self.open = True  # before it is sent: should the statement fail, ROLLBACK is owed
            cur.execute("BEGIN; " + sql, params)  # one round trip, not two
        else:
            cur.execute(sql, params)
        return cur

    def _take_leading(self, cur):
        """BEGIN (unless sent) and the leading statements, as text; the transaction is then open."""
        leading, self._leading = self._leading, []
        statements = [] if self.open else [b"BEGIN"]
        statements += [self._mogrify(cur, sql, params) for sql, params in leading]
        self.open = True
        return statements

    def _mogrify(self, cur, sql, params):
        """A statement as text for a batch: EXECUTE of it where this connection has it prepared."""
        return cur.mogrify(*self.pool.statements.form(self.conn, sql, params))

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
        if not self.open or self._leading:  # execute_values sends its own statements: open the transaction first
            self.flush(force=True)
        cur = self._cursor()
        try:
            return psycopg2.extras.execute_values(cur, sql, rows, template=template,
                                                  page_size=page_size, fetch=fetch)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self.broken = True
            raise

    def lead(self, sql, params=None):
        """Send a statement ahead of the next one, in the same round trip (nothing reads its result;
        should it fail, that next statement raises its error)."""
        self._leading.append((sql, params))

    def flush(self, force=False):
        """Send what leads now (with BEGIN), if anything does (or ``force``: BEGIN alone)."""
        if self._leading or (force and not self.open):
            self._round_trip(lambda: self._send_statements(lambda cur: self._take_leading(cur)))

    def _send_statements(self, build):
        cur = self._cursor()
        cur.execute(b"; ".join(build(cur)))

    def defer(self, sql, params=None):
        """Run a statement with the COMMIT, in the same round trip (nothing reads its result)."""
        self._deferred.append((sql, params))

    @contextmanager
    def savepoint(self):
        """Undo what the block did, and only that, if it raises (a unique name already taken);
        the exception goes on, and the transaction stays usable for what follows."""
        self._savepoints += 1
        name = "vow_%d" % self._savepoints
        self.execute("SAVEPOINT " + name)
        try:
            yield
        except BaseException:
            if not self.broken:
                try:
                    self.execute("ROLLBACK TO SAVEPOINT " + name)
                except psycopg2.Error:
                    self.broken = True
                    log.exception("could not roll back to a savepoint")
            raise

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

    def claim_events(self, event_ids):
        """``claim_event`` for a batched handler's worker (``plumbing.events``): the ids of
        ``event_ids`` it records now, in one statement; those handled before are left out."""
        return {str(row["event_id"]) for row in self.all(
            "INSERT INTO handled_events (event_id, handler) SELECT DISTINCT id, %s FROM unnest(%s::uuid[]) AS id "
            "ON CONFLICT DO NOTHING RETURNING event_id", (self.handler, list(event_ids)))}

    # -- what outlives the request ------------------------------------------------
    def after_commit(self, fn):
        """Run ``fn()`` once the work is durable (after the reply is sent)."""
        self._after_commit.append(fn)

    def after_rollback(self, fn):
        """Run ``fn()`` if the work is rolled back, once it is (before the reply): to undo what the
        request did elsewhere, such as points reserved in another service."""
        self._after_rollback.append(fn)

    def despite_failure(self, fn):
        """Have ``fn(tx)`` write what must be kept whether or not this request succeeds (a failed
        attempt counted). It runs once, as the request ends: with its work, before the commit, if
        it succeeds; else after the rollback, in a transaction of its own, which is committed
        before the caller hears of the failure."""
        self._kept.append(fn)

    @contextmanager
    def separately(self):
        """Run the block in a transaction of its own (its own connection), committed when the block
        ends and rolled back if it raises: a step that is durable whatever happens after it (a
        chunk of a batch job). Events emitted inside go with it; the worker's own transaction
        (left as it was) resumes after the block."""
        saved = self._park()
        try:
            yield self
            self.commit()
        except BaseException:
            self.rollback()
            raise
        finally:
            self.release()
            self._unpark(saved)
            self.run_after_commit()

    _STATE = ("conn", "sent", "open", "broken", "_leading", "_deferred", "_after_commit", "_after_rollback", "_kept",
              "_savepoints")

    def _park(self):
        saved = {name: getattr(self, name) for name in self._STATE}
        self.conn, self.sent, self.open, self.broken, self._savepoints = None, False, False, False, 0
        self._leading, self._deferred, self._after_commit, self._after_rollback, self._kept = [], [], [], [], []
        return saved

    def _unpark(self, saved):
        for name, value in saved.items():
            setattr(self, name, value)

    # -- the end -------------------------------------------------------------------
    # commit and rollback belong to this module and to plumbing (``finish``, ``separately``,
    # ``plumbing.idempotency``); tests/unit/test_transaction_owner.py keeps services away from them
    def commit(self):
        """Commit what is done so far (with the deferred statements); the worker may go on in a new transaction."""
        deferred, self._deferred = self._deferred, []
        if self.open or deferred or self._leading:
            def statements(cur):
                sent = self._take_leading(cur) if (self._leading or not self.open) else []
                return sent + [self._mogrify(cur, sql, params) for sql, params in deferred] + [b"COMMIT"]
            self._round_trip(lambda: self._send_statements(statements))
            self.open = False
        self._committed_callbacks.extend(self._after_commit)
        self._after_commit = []
        self._after_rollback = []

    def rollback(self):
        self._after_commit = []
        self._deferred = []
        self._leading = []
        self._undo_callbacks.extend(self._after_rollback)
        self._after_rollback = []
        if self.open and self.conn is not None and not self.conn.closed:
            try:
                with self.conn.cursor() as cur:
                    cur.execute("ROLLBACK")
            except psycopg2.Error:
                self.broken = True
        self.open = False

    def finish(self, exc_info):
        """Commit on success, roll back on error; returns the (possibly new) exc_info.

        What ``despite_failure`` was given is written either way, and what ``after_rollback``
        was given runs once the work is rolled back: all before the caller hears the outcome.
        """
        if self.finished:
            return exc_info
        self.finished = True
        kept, self._kept = self._kept, []
        if exc_info is None:
            try:
                for fn in kept:
                    fn(self)
                self.commit()
                kept = []
            except Exception:
                self.rollback()
                log.exception("commit failed")
                exc_info = sys.exc_info()
        else:
            self.rollback()
        if kept:
            self._keep(kept)
        self._run_undo()
        return exc_info

    def _keep(self, kept):
        """After a failure: what must be kept, in a transaction of its own."""
        try:
            for fn in kept:
                fn(self)
            self.commit()
        except Exception:
            self.rollback()
            log.exception("could not write what a failed request must keep")

    def _run_undo(self):
        callbacks, self._undo_callbacks = self._undo_callbacks, []
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("undoing after a rollback failed")

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


class AuditSealer(Extension):
    """Seals its schema's audit log (``plumbing.audit``) every ``AUDIT_SEAL_INTERVAL`` seconds (0:
    never), off the request path, as the service itself (its own pool and role). A sub-extension
    of ``Database``, so every process whose schema is audited does it and the others do nothing;
    the replicas of one service take turns (an advisory lock in ``audit_seal``)."""

    def setup(self):
        config = self.container.config
        self.schema = config.get("DB_SCHEMA", self.container.service_name)
        self.interval = float(config.get("AUDIT_SEAL_INTERVAL", 1.0))
        self._gt = None

    def start(self):
        if self.schema in audit.AUDITED and self.interval > 0:
            self._gt = self.container.spawn_managed_thread(self._seal_forever, identifier="audit-sealer")

    def stop(self):
        if self._gt is not None:
            self._gt.kill()
            self._gt = None

    kill = stop

    def seal_now(self):
        """Seal what is unsealed now; the rows sealed (None: another replica is sealing)."""
        pool = find_dependency(self.container, Database).pool
        if pool._closed:  # the container is stopping (its Database stops before this)
            return None
        return audit.seal(lambda sql, params: pool.run(lambda tx: tx.scalar(sql, params)), self.schema,
                          batch=audit.SERVICE_SEAL_BATCH, pause=lambda: eventlet.sleep(0.02))

    def _seal_forever(self):
        while True:
            eventlet.sleep(self.interval)
            try:
                sealed = self.seal_now()
                if sealed:
                    log.debug("audit log: %d row(s) of %s sealed", sealed, self.schema)
            except Exception:
                log.warning("sealing the %s audit log failed; will try again", self.schema, exc_info=True)


class Database(DependencyProvider):
    """Injects a per-worker ``Transaction`` on the service's own schema."""
    audit_sealer = AuditSealer()

    def setup(self):
        config = self.container.config
        self.pool = ConnectionPool(
            config["DATABASE_URL"],
            size=config.get("DB_POOL_SIZE", 10),
            schema=config.get("DB_SCHEMA", self.container.service_name),
            application_name=self.container.service_name,
            statement_timeout_ms=config.get("DB_STATEMENT_TIMEOUT_MS", 30000),
            acquire_timeout=config.get("DB_ACQUIRE_TIMEOUT", 10.0),
            prepare_threshold=int(config.get("DB_PREPARE_THRESHOLD", 5)),
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
        tx.handler = handler
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
