"""Prometheus metrics for one service container.

Each container keeps its own ``CollectorRegistry`` (never the global one), so
two containers of one service in a test process do not collide. ``Metrics``
times every entrypoint by method and outcome and lets the service define its
own business counters; ``plumbing.health`` serves the registry on the
service's health port.
"""
import time
import weakref

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from plumbing.errors import AppError
from plumbing.health import HealthServer

LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900)


def entrypoint_kind(entrypoint):
    for cls, kind in ((HttpRequestHandler, "http"), (Rpc, "rpc"),
                      (EventHandler, "event"), (Timer, "timer")):
        if isinstance(entrypoint, cls):
            return kind
    return type(entrypoint).__name__.lower()


def outcome_of(exc_info):
    if exc_info is None:
        return "ok"
    return "rejected" if isinstance(exc_info[1], AppError) else "error"


class MetricsRegistry(SharedExtension):
    """The container's registry and the metrics the plumbing itself records."""

    def setup(self):
        self.service = self.container.service_name
        self.registry = CollectorRegistry(auto_describe=True)
        self._custom = {}
        self.entrypoint_duration = Histogram(
            "vowrewards_entrypoint_duration_seconds",
            "Time spent in a worker, by entrypoint method, kind and outcome",
            ["service", "method", "kind", "outcome"], buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.event_lag = Histogram(
            "vowrewards_event_lag_seconds",
            "Seconds from an event occurring to a handler starting on it",
            ["service", "source", "event_type"], buckets=LAG_BUCKETS, registry=self.registry)
        self.events_published = Counter(
            "vowrewards_events_published_total", "Events published from the outbox",
            ["service", "event_type"], registry=self.registry)
        self.events_handled = Counter(
            "vowrewards_events_handled_total", "Events handled, by handler and outcome",
            ["service", "handler", "outcome"], registry=self.registry)
        self.outbox_backlog = Gauge(
            "vowrewards_outbox_backlog", "Outbox rows not yet published",
            ["service"], registry=self.registry)
        self.outbox_oldest_age = Gauge(
            "vowrewards_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row",
            ["service"], registry=self.registry)
        self.parked_events = Gauge(
            "vowrewards_parked_events", "Event messages parked for an operator",
            ["service"], registry=self.registry)

    def counter(self, name, documentation, labelnames=()):
        """A business counter of this service, created once."""
        key = ("counter", name)
        if key not in self._custom:
            self._custom[key] = Counter(name, documentation, ["service"] + list(labelnames),
                                        registry=self.registry)
        return self._custom[key]

    def histogram(self, name, documentation, labelnames=(), buckets=LATENCY_BUCKETS):
        key = ("histogram", name)
        if key not in self._custom:
            self._custom[key] = Histogram(name, documentation, ["service"] + list(labelnames),
                                          buckets=buckets, registry=self.registry)
        return self._custom[key]


class ServiceMetrics:
    """What a worker sees as ``self.metrics``."""

    def __init__(self, registry):
        self._registry = registry

    def count(self, name, documentation="", amount=1, **labels):
        counter = self._registry.counter(name, documentation or name, sorted(labels))
        counter.labels(service=self._registry.service, **labels).inc(amount)

    def observe(self, name, value, documentation="", **labels):
        histogram = self._registry.histogram(name, documentation or name, sorted(labels))
        histogram.labels(service=self._registry.service, **labels).observe(value)


class Metrics(DependencyProvider):
    """Times every entrypoint and serves metrics/health on the service's own port."""

    registry = MetricsRegistry()
    server = HealthServer()

    def setup(self):
        self._started = weakref.WeakKeyDictionary()
        self.server.metrics = self.registry  # served on the health port

    def get_dependency(self, worker_ctx):
        return ServiceMetrics(self.registry)

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        if started is None:
            return
        self.registry.entrypoint_duration.labels(
            service=self.registry.service,
            method=worker_ctx.entrypoint.method_name,
            kind=entrypoint_kind(worker_ctx.entrypoint),
            outcome=outcome_of(exc_info),
        ).observe(time.perf_counter() - started)
