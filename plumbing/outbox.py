"""Transactional outbox: events are rows written with the state change, then published.

``self.events.emit(VoucherRedeemed.of(...))`` inserts the payload's JSON form
(``plumbing.contracts``) as a row in the service's ``outbox`` table inside the
worker's transaction; a service emits only its own events. Once that
transaction commits, and after the caller has its answer, the rows are
published to the service's topic exchange (``<service>.events``) with
publisher confirms, stamped with the service's broker user (``user_id``); a background green thread marks what was published in
batches (one UPDATE for many rows, not a transaction per event). If the process dies in between, the
sweep (a green thread of the same service) publishes rows that have waited
longer than ``OUTBOX_SWEEP_MIN_AGE`` seconds; claims use ``FOR UPDATE SKIP
LOCKED`` so several replicas can sweep at once. Consumers are idempotent
(``plumbing.events``), so the rare double publish is harmless.
"""
import json
import logging
import time
import uuid
from datetime import datetime, timezone

import eventlet
from nameko.extensions import DependencyProvider

from plumbing.contracts import InvalidEvent, event_of, routing_key_for
from plumbing.db import Database, find_dependency
from plumbing.events import event_exchange, replay_parked
from plumbing.framework import HEADER_PREFIX
from plumbing.health import HealthServer
from plumbing.logs import CORRELATION_KEY, current_correlation_id
from plumbing.metrics import MetricsRegistry
from plumbing.publishers import EventPublisher

log = logging.getLogger(__name__)

SWEEP_BATCH = 200
PRUNE_EVERY_SECONDS = 300
MARK_EVERY_SECONDS = 0.05  # far below OUTBOX_SWEEP_MIN_AGE: the sweep never sees these rows

# message headers (nameko-prefixed so they arrive in the handler's context data)
EVENT_ID = "event_id"
OCCURRED_AT = "occurred_at"
EVENT_SOURCE = "event_source"


def event_headers(row, source):
    headers = {
        HEADER_PREFIX + EVENT_ID: str(row["event_id"]),
        HEADER_PREFIX + OCCURRED_AT: _iso(row["occurred_at"]),
        HEADER_PREFIX + EVENT_SOURCE: source,
    }
    if row.get("correlation_id"):
        headers[HEADER_PREFIX + CORRELATION_KEY] = row["correlation_id"]
    return headers


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


class EventWriter:
    """What a worker sees as ``self.events``."""

    def __init__(self, outbox, worker_ctx):
        self._outbox = outbox
        self._worker_ctx = worker_ctx

    def emit(self, payload):
        """Record an event (a payload its contract built: ``VoucherRedeemed.of(...)``) in this
        worker's transaction; returns its event id."""
        event = event_of(payload)
        if event.event_source != self._outbox.service:
            raise InvalidEvent("%s may not publish %s: only %s does"
                               % (self._outbox.service, event.key(), event.event_source))
        payload = event.to_wire(payload)
        event_type = event.event_type
        tx = self._outbox.database.transaction_for(self._worker_ctx)
        row = {
            "event_id": uuid.uuid4(),
            "event_type": event_type,
            "payload": payload,
            "correlation_id": self._worker_ctx.data.get(CORRELATION_KEY) or current_correlation_id(),
            "occurred_at": datetime.now(timezone.utc),
        }
        # sent with the COMMIT, in the same round trip
        tx.defer("INSERT INTO outbox (event_id, event_type, payload, correlation_id, occurred_at) "
                 "VALUES (%s, %s, %s, %s, %s)",
                 (str(row["event_id"]), event_type, json.dumps(payload), row["correlation_id"],
                  row["occurred_at"]))
        # one callback per row: the transaction keeps those of what it committed, drops the rest
        tx.after_commit(lambda: self._outbox.publish_rows([row]))
        return str(row["event_id"])

    def replay_parked(self, parked_id):
        """Send a parked message of this service back to its handler's queue."""
        tx = self._outbox.database.transaction_for(self._worker_ctx)
        return replay_parked(tx, self._outbox.service, self._outbox.amqp_uri, parked_id)


class Outbox(DependencyProvider):
    registry = MetricsRegistry()
    health = HealthServer()

    def setup(self):
        config = self.container.config
        self.service = self.container.service_name
        self.database = find_dependency(self.container, Database)
        if self.database is None:
            raise RuntimeError("Outbox needs a Database dependency on %s" % self.service)
        self.amqp_uri = config["AMQP_URI"]
        # declared by the operator's bootstrap where each component has its own broker user
        self.exchange = event_exchange(self.service, config)
        # Not mandatory: the bootstrap declares every subscriber's queue before any process
        # starts (plumbing.topology.declare_topology), so an event nobody routes is one nobody
        # subscribes to, and returns would only cost a channel each. Stamped with user_id.
        self.publisher = EventPublisher(config["AMQP_URI"], declare=[self.exchange], serializer="json")
        self.sweep_interval = float(config.get("OUTBOX_SWEEP_INTERVAL", 2.0))
        self.sweep_min_age = float(config.get("OUTBOX_SWEEP_MIN_AGE", 5.0))
        self.retention_hours = float(config.get("OUTBOX_RETENTION_HOURS", 24.0))
        self._sweeper = None
        self._marker = None
        self._published = []  # event ids published, not yet marked
        self._last_prune = 0.0
        self.health.scrape_hooks.append(self.refresh_gauges)

    def start(self):
        self._marker = self.container.spawn_managed_thread(self._mark_forever, identifier="outbox-marker")
        if self.sweep_interval > 0:
            self._sweeper = self.container.spawn_managed_thread(self._sweep_forever,
                                                                identifier="outbox-sweep")

    def stop(self):
        for thread in (self._sweeper, self._marker):
            if thread is not None:
                thread.kill()
        self._sweeper = self._marker = None
        try:
            self.mark_published()
        except Exception:
            log.warning("could not mark published events at stop; the sweep will republish them",
                        exc_info=True)

    kill = stop

    def get_dependency(self, worker_ctx):
        return EventWriter(self, worker_ctx)

    # -- publishing ------------------------------------------------------------
    def publish_one(self, row):
        self.publisher.publish(
            row["payload"], exchange=self.exchange,
            routing_key=routing_key_for(self.service, row["event_type"], row["payload"]),
            headers=event_headers(row, self.service), message_id=str(row["event_id"]))
        self.registry.events_published.labels(self.service, row["event_type"]).inc()

    def publish_rows(self, rows):
        """Publish freshly committed rows; the marker thread records them as published."""
        for row in rows:
            try:
                self.publish_one(row)
            except Exception:
                log.warning("publishing %s failed; the sweep will retry", row["event_type"],
                            exc_info=True)
                return
            self._published.append(str(row["event_id"]))

    def mark_published(self):
        ids, self._published = self._published, []
        if ids:
            try:
                self.database.pool.run(lambda tx: tx.execute(
                    "UPDATE outbox SET published_at = now() WHERE event_id = ANY(%s::uuid[])", (ids,)))
            except Exception:
                self._published.extend(ids)
                raise

    def _mark_forever(self):
        while True:
            eventlet.sleep(MARK_EVERY_SECONDS)
            try:
                self.mark_published()
            except Exception:
                log.warning("marking published events failed; will try again", exc_info=True)
                eventlet.sleep(1)

    def sweep(self):
        """Publish rows left behind (a crash after commit); returns how many."""
        def claim_and_publish(tx):
            rows = tx.all(
                "SELECT id, event_id, event_type, payload, correlation_id, occurred_at FROM outbox "
                "WHERE published_at IS NULL AND occurred_at < now() - %s * interval '1 second' "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self.sweep_min_age, SWEEP_BATCH))
            done = []
            for row in rows:
                try:
                    self.publish_one(row)
                except Exception as exc:
                    tx.execute("UPDATE outbox SET attempts = attempts + 1, last_error = %s "
                               "WHERE id = %s", (str(exc)[:500], row["id"]))
                    log.warning("sweep could not publish %s", row["event_type"], exc_info=True)
                    break
                done.append(row["id"])
            if done:
                tx.execute("UPDATE outbox SET published_at = now() WHERE id = ANY(%s)", (done,))
            return len(done)
        published = self.database.pool.run(claim_and_publish)
        if published:
            log.info("outbox sweep published %d event(s)", published)
        return published

    def prune(self):
        return self.database.pool.run(lambda tx: tx.execute(
            "DELETE FROM outbox WHERE published_at < now() - %s * interval '1 hour'",
            (self.retention_hours,)))

    def _sweep_forever(self):
        while True:
            eventlet.sleep(self.sweep_interval)
            try:
                self.sweep()
                now = time.monotonic()
                if now - self._last_prune > PRUNE_EVERY_SECONDS:
                    self._last_prune = now
                    self.prune()
            except Exception:
                log.warning("outbox sweep failed", exc_info=True)

    def refresh_gauges(self):
        row = self.database.pool.run(lambda tx: tx.one(
            "SELECT count(*) AS backlog, "
            "coalesce(extract(epoch FROM now() - min(occurred_at)), 0) AS oldest "
            "FROM outbox WHERE published_at IS NULL"))
        self.registry.outbox_backlog.labels(self.service).set(row["backlog"])
        self.registry.outbox_oldest_age.labels(self.service).set(float(row["oldest"]))
        # events parked for an operator and not yet replayed (plumbing.events; every schema has the table)
        self.registry.parked_events.labels(self.service).set(self.database.pool.run(lambda tx: tx.scalar(
            "SELECT count(*) FROM parked_events WHERE replayed_at IS NULL")))
