"""What the notification service's workers need beyond the usual: the live feed to the gateways
(a new inbox message, published after its commit, non-durably: a gateway that is not there has no
stream to feed, and a stream that reconnects catches up with ``Last-Event-ID``), the retry backlog
gauge, the connection pool for work that commits step by step (the dispatcher), and the worker's
context data (the event's id and when it occurred)."""
import logging
from datetime import datetime

from nameko.extensions import DependencyProvider
from prometheus_client import Gauge

from plumbing.db import Database, find_dependency
from plumbing.events import event_exchange
from plumbing.framework import MessagePublisher
from plumbing.metrics import Metrics

log = logging.getLogger(__name__)

LIVE_ROUTING_KEY = "inbox_live"  # on notification.events; no handler queue is bound to it


class LiveWorker:
    def __init__(self, feed, worker_ctx):
        self._feed, self.data = feed, worker_ctx.data
        self.pool = feed.database.pool

    def publish(self, key, message):
        self._feed.publish(key, message)

    def set_backlog(self, backlog):
        for channel in ("email", "webhook"):
            self._feed.backlog.labels(service="notification", channel=channel).set(backlog.get(channel, 0))

    @property
    def event_id(self):
        return self.data.get("event_id")

    @property
    def occurred_at(self):
        value = self.data.get("occurred_at")
        try:
            return datetime.fromisoformat(value) if value else None
        except ValueError:
            return None


class LiveFeed(DependencyProvider):
    def setup(self):
        self.database = find_dependency(self.container, Database)
        config = self.container.config
        self.exchange = event_exchange("notification", config)
        self.publisher = MessagePublisher(config["AMQP_URI"])
        self.metrics = find_dependency(self.container, Metrics)
        self._backlog = None

    @property
    def backlog(self):
        if self._backlog is None:  # the registry is set up by then (not necessarily at our setup)
            self._backlog = Gauge("vowrewards_notification_retry_backlog",
                                  "Emails and webhooks waiting for their next try", ["service", "channel"],
                                  registry=self.metrics.registry.registry)
        return self._backlog

    def publish(self, key, message):
        try:
            self.publisher.publish({"key": key, "message": message}, exchange=self.exchange,
                                   routing_key=LIVE_ROUTING_KEY, serializer="json")
        except Exception:  # the inbox has it; a stream that missed it catches up on reconnect
            log.warning("could not publish a live notification", exc_info=True)

    def get_dependency(self, worker_ctx):
        return LiveWorker(self, worker_ctx)
