"""Structured (JSON line) logs carrying the correlation id of the work at hand.

The gateway gives every request a correlation id (or keeps the caller's
``X-Request-ID``); it travels in the nameko context data through RPC calls and
in the headers of every event, so one id follows a redemption from the till to
the settlement ledger. Each worker runs in its own green thread, and greenlets
keep their own ``contextvars`` context, so the id set here is the worker's own.
"""
import contextvars
import json
import logging
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from nameko.extensions import DependencyProvider

CORRELATION_KEY = "correlation_id"

_correlation_id = contextvars.ContextVar("correlation_id", default=None)
_call_id = contextvars.ContextVar("call_id", default=None)
_started = contextvars.ContextVar("worker_started", default=None)
_service = {"name": None}
worker_log = logging.getLogger("vowrewards.worker")


def new_correlation_id():
    return uuid.uuid4().hex


def current_correlation_id():
    return _correlation_id.get()


def bind_correlation_id(value):
    """Set the correlation id for the current green thread; returns a reset token."""
    return _correlation_id.set(value)


def reset_correlation_id(token):
    _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": _service["name"],
            "logger": record.name,
            "msg": record.getMessage(),
        }
        correlation_id = _correlation_id.get()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        call_id = _call_id.get()
        if call_id:
            entry["call_id"] = call_id
        extra = getattr(record, "fields", None)
        if extra:
            entry.update(extra)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record):
        base = super().format(record)
        correlation_id = _correlation_id.get()
        return "%s [%s]" % (base, correlation_id) if correlation_id else base


def configure_logging(service_name, level="INFO", fmt="json"):
    _service["name"] = service_name
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "text":
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nameko logs every expected error with a traceback at WARNING; keep it quieter
    logging.getLogger("nameko.containers").setLevel("ERROR")
    logging.getLogger("nameko.web.server").setLevel("WARNING")  # the gateway logs its own access lines
    logging.getLogger("kombu").setLevel("WARNING")
    logging.getLogger("amqp").setLevel("WARNING")


class WorkerCorrelation:
    """What a worker sees as ``self.log_context``: its correlation id, and ``acting_for(id)`` while
    it works on one part of a batch that came from another request."""

    def __init__(self, worker_ctx):
        self._worker_ctx = worker_ctx

    @property
    def correlation_id(self):
        return self._worker_ctx.data.get(CORRELATION_KEY)

    @contextmanager
    def acting_for(self, correlation_id):
        """Within: log lines, emitted events and calls carry ``correlation_id`` (no change for None)."""
        if not correlation_id:
            yield
            return
        data, before = self._worker_ctx.data, self._worker_ctx.data.get(CORRELATION_KEY)
        data[CORRELATION_KEY] = correlation_id
        token = _correlation_id.set(correlation_id)
        try:
            yield
        finally:
            _correlation_id.reset(token)
            data[CORRELATION_KEY] = before


class LogContext(DependencyProvider):
    """Binds the worker's correlation id (and call id) to its log lines and, with
    ``LOG_WORKERS=1``, logs one line per worker: what ran, how it ended, how long.

    A worker that arrives without one (a timer, a first call) gets a new one,
    written back into the context data so that it propagates onwards.
    """

    def setup(self):
        # off by default: a line per worker in every service costs the till real throughput
        self.log_workers = str(self.container.config.get("LOG_WORKERS", "0")) not in ("0", "false", "")

    def get_dependency(self, worker_ctx):
        return WorkerCorrelation(worker_ctx)

    def worker_setup(self, worker_ctx):
        correlation_id = worker_ctx.data.get(CORRELATION_KEY)
        if not correlation_id:
            correlation_id = new_correlation_id()
            worker_ctx.data[CORRELATION_KEY] = correlation_id
        _correlation_id.set(correlation_id)
        _call_id.set(worker_ctx.call_id)
        _started.set(time.perf_counter())

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        if not self.log_workers:
            return
        started = _started.get()
        outcome = "ok" if exc_info is None else getattr(exc_info[1], "code", None) or type(exc_info[1]).__name__
        worker_log.info("%s %s", worker_ctx.entrypoint.method_name, outcome, extra={"fields": {
            "entrypoint": worker_ctx.entrypoint.method_name, "outcome": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None}})

    def worker_teardown(self, worker_ctx):
        _correlation_id.set(None)
        _call_id.set(None)
