"""Liveness, readiness and metrics on the service's own port.

The server runs in its own green thread, not as nameko workers, so a service
whose workers are all busy still answers its probes. ``/healthz`` answers while
the process and its event loop are alive; ``/readyz`` checks that the database
answers a query and the broker accepts a connection; ``/metrics`` is the
Prometheus exposition of the container's registry.
"""
import json
import logging
import time

import eventlet
from eventlet import wsgi
from kombu import Connection
from nameko.extensions import SharedExtension
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from plumbing.db import Database, find_dependency

log = logging.getLogger(__name__)

READY_CACHE_SECONDS = 1.0


class _NoLog:
    def write(self, *_):
        pass


def check_broker(amqp_uri, timeout=2.0):
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


class HealthServer(SharedExtension):
    def __init__(self):
        super().__init__()
        self.scrape_hooks = []  # filled by other extensions' setup, which may run first
        self.metrics = None  # the container's MetricsRegistry, handed over by plumbing.metrics.Metrics

    def setup(self):
        config = self.container.config
        port = config.get("HEALTH_PORT")
        # loopback by default; Kubernetes sets HEALTH_ADDRESS=0.0.0.0 behind a NetworkPolicy
        self.address = None if port is None else (config.get("HEALTH_ADDRESS", "127.0.0.1"), int(port))
        self.port = None
        self._sock = None
        self._gt = None
        self._ready_cache = (0.0, None)

    def start(self):
        if self.address is None:
            return  # a container configured without a health port (some tests) gets none
        self._sock = eventlet.listen(self.address)
        self.port = self._sock.getsockname()[1]
        self._gt = self.container.spawn_managed_thread(self._serve, identifier="health-server")

    def _serve(self):
        wsgi.server(self._sock, self.app, log=_NoLog(), log_output=False, debug=False)

    def stop(self):
        if self._gt is not None:
            self._gt.kill()
            self._gt = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    kill = stop

    # -- checks ----------------------------------------------------------------
    def readiness(self):
        """A dict of check name -> error (None when fine), cached for a second."""
        checked_at, result = self._ready_cache
        if result is not None and time.monotonic() - checked_at < READY_CACHE_SECONDS:
            return result
        checks = {}
        database = find_dependency(self.container, Database)
        if database is not None:
            checks["database"] = self._run_check(database.check)
        checks["broker"] = self._run_check(lambda: check_broker(self.container.config["AMQP_URI"]))
        self._ready_cache = (time.monotonic(), checks)
        return checks

    @staticmethod
    def _run_check(fn):
        try:
            fn()
            return None
        except Exception as exc:  # a probe reports, it never raises
            return "%s: %s" % (type(exc).__name__, str(exc).strip() or "failed")

    # -- wsgi ------------------------------------------------------------------
    def app(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return self._json(start_response, 200, {"status": "alive",
                                                    "service": self.container.service_name})
        if path == "/readyz":
            checks = self.readiness()
            ok = all(error is None for error in checks.values())
            body = {"status": "ready" if ok else "not_ready", "service": self.container.service_name,
                    "checks": {name: error or "ok" for name, error in checks.items()}}
            return self._json(start_response, 200 if ok else 503, body)
        if path == "/metrics":
            for hook in self.scrape_hooks:
                try:
                    hook()
                except Exception:
                    log.warning("metrics scrape hook failed", exc_info=True)
            payload = generate_latest(self.metrics.registry) if self.metrics is not None else b""
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [payload]
        return self._json(start_response, 404, {"error": {"code": "not_found", "message": path,
                                                          "fields": {}}})

    @staticmethod
    def _json(start_response, status, body):
        reasons = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
        start_response("%d %s" % (status, reasons[status]), [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]
