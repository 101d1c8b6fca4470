"""Prometheus metrics for one service container.

Each container keeps its own ``CollectorRegistry`` (never the global one), so
two containers of one service in a test process do not collide. ``Metrics``
times every entrypoint by method and outcome and lets the service define its
own business counters; ``plumbing.health`` serves the registry on the
service's health port. ``GcCollector`` adds how long Python's garbage collector stopped the
process (every worker of it, so every till waiting on one) and how much of the heap was frozen
out of its sight at start (``plumbing.runner``).
"""
import bisect
import gc
import time
import weakref

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.rpc import Rpc
from nameko.timer import Timer
from nameko.web.handlers import HttpRequestHandler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from plumbing.errors import AppError
from plumbing.health import HealthServer

LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900)
PAUSE_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25)


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


class GcPauses:
    """The collector's pauses by generation. The collector is the process's, so there is one record
    (``GC_PAUSES``) however many containers the process runs; each registry reads it."""

    def __init__(self):
        self.started = 0.0
        self.counts = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in range(3)]  # per bucket, not cumulative
        self.sums = [0.0, 0.0, 0.0]
        self.installed = False

    def install(self):
        if not self.installed:
            gc.callbacks.append(self.observe)
            self.installed = True

    def observe(self, phase, info):
        # called by the collector itself: plain arithmetic, no locks (a metric's lock could be held)
        if phase == "start":
            self.started = time.perf_counter()
            return
        seconds = time.perf_counter() - self.started
        generation = info["generation"]
        self.sums[generation] += seconds
        self.counts[generation][bisect.bisect_left(PAUSE_BUCKETS, seconds)] += 1


GC_PAUSES = GcPauses()


class GcCollector:
    """A registry's view of ``GC_PAUSES`` and of the objects frozen at start."""

    def __init__(self, service, pauses=GC_PAUSES):
        self.service = service
        self.pauses = pauses
        pauses.install()

    def collect(self):
        histogram = HistogramMetricFamily(
            "vowrewards_gc_pause_seconds", "Time Python's garbage collector stopped the process, by generation",
            labels=["service", "generation"])
        for generation in range(3):
            counts, running = self.pauses.counts[generation], 0
            buckets = []
            for bound, count in zip(PAUSE_BUCKETS + (float("inf"),), counts):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            histogram.add_metric([self.service, str(generation)], buckets, self.pauses.sums[generation])
        yield histogram
        frozen = GaugeMetricFamily("vowrewards_gc_frozen_objects",
                                   "Objects kept out of the collector's full passes since start (gc.freeze)",
                                   labels=["service"])
        frozen.add_metric([self.service], gc.get_freeze_count())
        yield frozen


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
        self.registry.register(GcCollector(self.service))

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
